"""The retry policy: backoff, Retry-After, the cap and the deadline."""

from __future__ import annotations

import math

import pytest

from app import app
from bench.event_source import retry_mapping
from chalicelib.retry.policy import MAX_DELAY, backoff, next_delay
from chalicelib.retry.sqs import SqsRetryQueue

NOW = 1_700_000_000.0


def test_max_delay_is_the_sqs_timer_limit() -> None:
    assert MAX_DELAY == 900


def test_attempt_1_is_the_inline_attempt_without_a_wait() -> None:
    assert backoff(1) == 0.0


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (10, 256.0), (11, 512.0)]
)
def test_backoff_doubles_from_one_second(attempt: int, seconds: float) -> None:
    assert backoff(attempt) == seconds


@pytest.mark.parametrize("attempt", [12, 13, 50, 10_000])
def test_backoff_is_capped(attempt: int) -> None:
    assert backoff(attempt) == MAX_DELAY


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_start_at_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        backoff(attempt)
    with pytest.raises(ValueError):
        next_delay(attempt, now=NOW, deadline=NOW + 64)


def test_next_delay_is_the_backoff_when_time_is_left() -> None:
    assert next_delay(2, now=NOW, deadline=NOW + 64) == 1.0
    assert next_delay(4, now=NOW, deadline=NOW + 64) == 4.0


def test_next_delay_for_attempt_1_is_immediate() -> None:
    assert next_delay(1, now=NOW, deadline=NOW + 64) == 0.0
    assert next_delay(1, now=NOW, deadline=NOW + 64, retry_after=3) == 3.0


def test_retry_after_longer_than_backoff_wins() -> None:
    assert next_delay(2, now=NOW, deadline=NOW + 64, retry_after=10) == 10.0


def test_backoff_longer_than_retry_after_wins() -> None:
    assert next_delay(6, now=NOW, deadline=NOW + 64, retry_after=3) == 16.0


def test_retry_after_beyond_the_deadline_expires_the_push() -> None:
    assert next_delay(2, now=NOW, deadline=NOW + 64, retry_after=65) is None
    # even when the capped wait would still fit, the PNS asked for later than the deadline
    assert next_delay(2, now=NOW, deadline=NOW + 1000, retry_after=2000) is None


def test_retry_after_above_the_cap_is_capped_when_the_deadline_allows() -> None:
    assert next_delay(2, now=NOW, deadline=NOW + 3600, retry_after=2000) == MAX_DELAY


def test_the_deadline_bounds_the_window_instead_of_expiring_the_push() -> None:
    # attempt 8 waits 64 s; a call push started 60 s ago has 4 s left: one more try in them,
    # due a second before the deadline at the latest
    assert next_delay(8, now=NOW, deadline=NOW + 4) == 3.0
    assert next_delay(8, now=NOW, deadline=NOW + 4, draw=0.5) == 1.5


def test_less_than_a_second_left_expires_the_push() -> None:
    assert next_delay(8, now=NOW, deadline=NOW + 0.9) is None
    assert next_delay(2, now=NOW, deadline=NOW + 0.5) is None


def test_the_last_retry_is_due_a_second_before_the_deadline() -> None:
    assert next_delay(3, now=NOW, deadline=NOW + 2) == 1.0
    assert next_delay(3, now=NOW, deadline=NOW + 3) == 2.0


def test_a_queue_that_needs_more_time_gets_its_margin() -> None:
    assert next_delay(3, now=NOW, deadline=NOW + 5, margin=2.5) == 2.0
    assert next_delay(3, now=NOW, deadline=NOW + 4, margin=2.5) == 1.5
    assert next_delay(3, now=NOW, deadline=NOW + 2.5, margin=2.5) is None


@pytest.mark.parametrize("attempt", [2, 5, 8, 12])
def test_a_retry_through_sqs_is_due_in_time_for_the_event_source_to_handle_it(
    attempt: int,
) -> None:
    # SQS rounds the delay up to whole seconds, then the retry function's event source
    # gathers the batch for up to its window: the retry must still arrive before the deadline
    window = retry_mapping(app).maximum_batching_window_in_seconds or 0
    margin = SqsRetryQueue.due_margin
    for left in (n / 4 for n in range(2, 400)):
        for draw in (0.0, 0.3, 0.7, 0.95, 1.0):
            delay = next_delay(attempt, now=NOW, deadline=NOW + left, draw=draw, margin=margin)
            if delay is not None:
                assert math.ceil(delay) + window < left, (left, draw, delay)


def test_push_already_past_its_deadline_expires() -> None:
    assert next_delay(2, now=NOW, deadline=NOW - 1) is None
    assert next_delay(1, now=NOW, deadline=NOW - 0.001) is None


def test_late_attempts_of_a_long_push_are_capped() -> None:
    assert next_delay(15, now=NOW, deadline=NOW + 3600) == MAX_DELAY
    assert next_delay(15, now=NOW, deadline=NOW + 899) == 898


def test_full_jitter_takes_the_drawn_share_of_the_backoff() -> None:
    assert next_delay(4, now=NOW, deadline=NOW + 64, draw=0.25) == 1.0
    assert next_delay(4, now=NOW, deadline=NOW + 64, draw=0.0) == 0.0
    assert next_delay(20, now=NOW, deadline=NOW + 3600, draw=0.5) == MAX_DELAY / 2


def test_retry_after_is_a_minimum_the_draw_cannot_shorten() -> None:
    assert next_delay(3, now=NOW, deadline=NOW + 64, retry_after=10, draw=0.1) == 10.0
    assert next_delay(6, now=NOW, deadline=NOW + 64, retry_after=3, draw=0.5) == 8.0


def test_a_burst_of_retries_is_spread_over_the_window() -> None:
    draws = [n / 1000 for n in range(1000)]
    delays = [next_delay(5, now=NOW, deadline=NOW + 64, draw=d) for d in draws]
    assert all(d is not None and 0 <= d <= 8 for d in delays)
    per_second = [sum(1 for d in delays if d is not None and s <= d < s + 1) for s in range(8)]
    assert max(per_second) <= 130  # about an eighth each, not all at 8 s


@pytest.mark.parametrize("draw", [-0.1, 1.5])
def test_a_draw_outside_0_1_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match="draw"):
        next_delay(2, now=NOW, deadline=NOW + 64, draw=draw)


def test_negative_or_zero_retry_after_does_not_shorten_the_backoff() -> None:
    assert next_delay(3, now=NOW, deadline=NOW + 64, retry_after=-5) == 2.0
    assert next_delay(3, now=NOW, deadline=NOW + 64, retry_after=0) == 2.0
