"""When to try a push again: exponential backoff, Retry-After and the push's deadline.

Pure functions of their arguments (no clock, no randomness), so the Lambda consumer and the
local scheduler apply the same policy and tests need no waiting.
"""

from __future__ import annotations

import math

MAX_DELAY = 900  # seconds: the SQS DelaySeconds maximum, and the contract's cap

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
    jitter: float = 0.0,
) -> float | None:
    """Seconds to wait before making `attempt` (the number of the next attempt), or None when
    the push would be past `deadline` by then (expired: the caller logs and counts it).

    `retry_after` is the PNS's Retry-After in seconds: the push is not due before it, so a
    Retry-After beyond the deadline expires the push. `jitter` is extra seconds the caller drew
    (e.g. `random.uniform(0, 1)`) to spread a burst of retries; it is added to the backoff only.
    The result is capped at MAX_DELAY because neither SQS nor the contract allows a longer
    single wait: a Retry-After above MAX_DELAY that still fits the deadline is tried at
    MAX_DELAY, and the PNS answers again.
    """
    if jitter < 0:
        raise ValueError(f"jitter must not be negative, got {jitter}")
    wanted = min(backoff(attempt) + jitter, float(MAX_DELAY))
    if retry_after is not None:
        wanted = max(wanted, retry_after)
    if now + wanted > deadline:
        return None
    return min(wanted, float(MAX_DELAY))
