"""Small helpers shared by the retry tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.retry.base import RetryMessage


def message(push_id: str = "call-1#incoming_session#sylk#dev-1", attempt: int = 2) -> RetryMessage:
    return RetryMessage(
        push_id=push_id,
        app_id="com.example.sylk",
        platform="apple",
        request={
            "app-id": "com.example.sylk",
            "platform": "apple",
            "token": "abcdef",
            "call-id": "c1",
        },
        deadline=time.time() + 64,
        attempt=attempt,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` with real time until it holds or `timeout` passes."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True
