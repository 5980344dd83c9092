"""What a use case answers the caller, and the status a caller sees for one push."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pns import Outcome, Verdict


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    data: dict[str, Any] | list[Any] = field(default_factory=dict)


def push_status(outcome: Outcome) -> int:
    """The status reported to the caller for one push: the PNS's own 4xx when it refused the
    push, 502 when it refused it otherwise, 503 when it did not answer."""
    if outcome.verdict is Verdict.DELIVERED:
        return 200
    if outcome.verdict is Verdict.DEAD_TOKEN:
        return 410
    if outcome.verdict is Verdict.REJECTED and 400 <= outcome.status < 500:
        return outcome.status
    return 502 if outcome.verdict is Verdict.REJECTED else 503
