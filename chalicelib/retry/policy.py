"""When to try a push again: exponential backoff with full jitter, Retry-After and the push's
deadline.

Pure functions of their arguments (no clock, no randomness: the caller passes the time and
its random draw), so the Lambda consumer and the local scheduler apply the same policy and
tests need no waiting.
"""

from __future__ import annotations

import math

MAX_DELAY = 900  # seconds: the SQS DelaySeconds maximum, and the contract's cap
# A retry is due at least this long before the deadline, by default: handling it takes its
# time, so a retry due closer to it would arrive too late. With less time left the push is
# expired instead of queued. A queue that adds delays of its own asks for more (`margin`).
MIN_WINDOW = 1.0

# 2 ** _CAP_EXPONENT already exceeds MAX_DELAY; stop there instead of building huge powers
_CAP_EXPONENT = math.ceil(math.log2(MAX_DELAY))


def backoff(attempt: int) -> float:
    """Seconds to wait before `attempt`: 0 for the inline attempt 1, then 1, 2, 4, ... for
    attempts 2, 3, 4, ..., capped at MAX_DELAY."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if attempt == 1:
        return 0.0
    exponent = attempt - 2
    if exponent >= _CAP_EXPONENT:
        return float(MAX_DELAY)
    return float(min(2**exponent, MAX_DELAY))


def next_delay(
    attempt: int,
    *,
    now: float,
    deadline: float,
    retry_after: float | None = None,
    draw: float = 1.0,
    margin: float = MIN_WINDOW,
) -> float | None:
    """Seconds to wait before making `attempt` (the number of the next attempt), or None when
    the push cannot be tried again before `deadline` (expired: the caller logs and counts it).

    Full jitter: the wait is `draw` times the window, `draw` being the caller's uniform draw
    in [0, 1] (`random.random()`; 1.0 gives the plain backoff). The window is the backoff,
    bounded by the time left before the deadline (less `margin`, the retry queue's
    RetryQueue.due_margin), so the spread never makes a push late and a push whose backoff
    passes its deadline still gets one attempt within the time it has.
    A PNS recovering from an outage then sees the queued pushes spread over the window
    instead of all in the same second.

    `retry_after` is the PNS's Retry-After in seconds: a minimum, never shortened by the
    draw, and a Retry-After beyond the deadline expires the push. The result is capped at
    MAX_DELAY because neither SQS nor the contract allows a longer single wait: a Retry-After
    above MAX_DELAY that still fits the deadline is tried at MAX_DELAY, and the PNS answers
    again.
    """
    if not 0.0 <= draw <= 1.0:
        raise ValueError(f"draw must be within [0, 1], got {draw}")
    wait = backoff(attempt)
    left = deadline - now
    floor = max(retry_after or 0.0, 0.0)
    if left < 0 or floor > left:
        return None
    if wait == 0:  # the first attempt: now, or when the PNS asked
        return min(floor, float(MAX_DELAY))
    window = min(wait, left - margin)
    if window <= 0 and floor == 0:
        return None
    return min(max(floor, draw * max(window, 0.0)), float(MAX_DELAY))
