"""FCM HTTP v1 conventions shared by app types: string-only data, ttl, size limit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FCM_LIMIT = 4096
_SEPARATORS = (",", ":")


def ttl(deadline: float, now: float) -> str:
    """`android.ttl`: FCM keeps the message only as long as the push is useful."""
    return f"{max(0, int(deadline - now))}s"


def data(values: Mapping[str, Any]) -> dict[str, str]:
    """FCM v1 `data` is a string -> string map: drop None, JSON-encode anything else."""
    return {
        key: value if isinstance(value, str) else _json(value)
        for key, value in values.items()
        if value is not None
    }


def _json(value: Any) -> str:
    return json.dumps(value, separators=_SEPARATORS, ensure_ascii=False)
