"""A push waiting for another attempt, and the queue that holds it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RetryMessage:
    """Everything needed to try a push again in another invocation."""

    push_id: str  # stable id of the push: call-id, event, app and device/token
    app_id: str
    platform: str
    request: dict[str, Any]  # the PushRequest by alias, null-free
    deadline: float  # epoch seconds; past it the push is logged as expired
    attempt: int  # the attempt this message makes (the inline one is 1)
    account: str | None = None
    request_id: str | None = None  # `<event>-<app-id or account>-<call-id>`, for the logs
    last_reason: str | None = None  # why the previous attempt failed: logged if it expires

    def log_fields(self) -> dict[str, Any]:
        """The correlation fields of the push this message retries."""
        return {
            "call_id": self.request.get("call-id"),
            "request_id": self.request_id,
            "account": self.account,
            "app_id": self.app_id,
            "platform": self.platform,
            "attempt": self.attempt,
        }

    @property
    def message_id(self) -> str:
        """Idempotency key: a redelivered copy of this message has the same one."""
        return f"{self.push_id}#{self.attempt}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RetryMessage:
        """ValueError when `text` is not a retry message (a poison message)."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("retry message is nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError("retry message is not a JSON object")
        try:
            message = cls(**data)
        except TypeError as exc:
            raise ValueError(f"not a retry message: {exc}") from None
        if not message.well_formed():
            raise ValueError("retry message has a field of the wrong type")
        return message

    def well_formed(self) -> bool:
        texts = (self.push_id, self.app_id, self.platform)
        return (
            all(isinstance(text, str) for text in texts)
            and isinstance(self.request, dict)
            and isinstance(self.deadline, (int, float))
            and not isinstance(self.deadline, bool)
            and math.isfinite(self.deadline)
            and isinstance(self.attempt, int)
            and not isinstance(self.attempt, bool)
            and self.attempt >= 1
            and (self.account is None or isinstance(self.account, str))
        )


class RetryQueue(Protocol):
    # Seconds before its deadline a retry must be due at the latest, so that this queue still
    # hands it to the handler in time (policy.next_delay's margin)
    due_margin: float

    def enqueue(self, message: RetryMessage, delay: float) -> None:
        """Deliver `message` to the retry handler after `delay` seconds (at most 900)."""
