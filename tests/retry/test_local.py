"""The in-process retry queue: real threads and real (scaled) time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib.retry.base import RetryMessage, RetryQueue
from chalicelib.retry.local import LocalRetryQueue

from .helpers import message, wait_until

SCALE = 0.01  # a delay of 10 "seconds" waits 0.1 s


class Recorder:
    """A retry handler that notes what it got and when."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[RetryMessage, float]] = []

    def __call__(self, message: RetryMessage) -> None:
        with self.lock:
            self.got.append((message, time.monotonic()))

    @property
    def ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m, _ in self.got]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def queue(recorder: Recorder) -> Iterator[LocalRetryQueue]:
    q = LocalRetryQueue(recorder, workers=1, scale=SCALE)
    yield q
    q.close(timeout=2)


def test_is_a_retry_queue(queue: LocalRetryQueue) -> None:
    typed: RetryQueue = queue
    assert typed is queue


def test_delivers_in_due_order_and_not_before(queue: LocalRetryQueue, recorder: Recorder) -> None:
    start = time.monotonic()
    queue.enqueue(message("late"), 30)
    queue.enqueue(message("early"), 10)
    queue.enqueue(message("middle"), 20)
    queue.enqueue(message("now"), 0)
    assert wait_until(lambda: len(recorder.got) == 4)
    assert [m.push_id for m, _ in recorder.got] == ["now", "early", "middle", "late"]
    for (m, at), delay in zip(recorder.got, [0, 10, 20, 30], strict=True):
        assert at - start >= delay * SCALE, m.push_id
    assert queue.pending() == 0


def test_same_due_time_keeps_enqueue_order(queue: LocalRetryQueue, recorder: Recorder) -> None:
    for i in range(5):
        queue.enqueue(message(f"p{i}"), 5)
    assert wait_until(lambda: len(recorder.got) == 5)
    assert [m.push_id for m, _ in recorder.got] == [f"p{i}" for i in range(5)]


def test_pending_counts_waiting_messages(queue: LocalRetryQueue, recorder: Recorder) -> None:
    queue.enqueue(message("a"), 20)
    queue.enqueue(message("b"), 20)
    assert queue.pending() == 2
    assert wait_until(lambda: queue.pending() == 0)
    assert len(recorder.got) == 2


def test_pending_counts_a_running_handler() -> None:
    release = threading.Event()
    q = LocalRetryQueue(lambda m: release.wait(5), workers=1, scale=SCALE)
    try:
        q.enqueue(message(), 0)
        time.sleep(0.05)
        assert q.pending() == 1
        release.set()
        assert wait_until(lambda: q.pending() == 0)
    finally:
        release.set()
        q.close(timeout=2)


def test_concurrent_enqueues_are_all_delivered_once(recorder: Recorder) -> None:
    q = LocalRetryQueue(recorder, workers=4, scale=SCALE)
    start = threading.Barrier(20)

    def producer(n: int) -> None:
        start.wait()
        for i in range(10):
            q.enqueue(message(f"t{n}", attempt=i + 2), (i * 7 + n) % 5)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert wait_until(lambda: len(recorder.got) == 200)
        time.sleep(0.05)  # nothing is delivered twice afterwards either
        ids = recorder.ids
        assert len(ids) == 200
        assert len(set(ids)) == 200
        assert q.pending() == 0
    finally:
        q.close(timeout=2)


def test_handler_exception_is_logged_and_later_messages_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    def handler(m: RetryMessage) -> None:
        if m.push_id == "bad":
            raise RuntimeError("PNS exploded")
        done.append(m.push_id)

    q = LocalRetryQueue(handler, workers=1, scale=SCALE)
    try:
        with caplog.at_level(logging.ERROR, logger="pushserver"):
            q.enqueue(message("bad"), 0)
            q.enqueue(message("good-1"), 5)
            q.enqueue(message("bad"), 6)
            q.enqueue(message("good-2"), 10)
            assert wait_until(lambda: len(done) == 2 and q.pending() == 0)
        assert done == ["good-1", "good-2"]
        failures = [r for r in caplog.records if r.name == "pushserver"]
        assert len(failures) == 2
        assert all(r.exc_info and "PNS exploded" in str(r.exc_info[1]) for r in failures)
    finally:
        q.close(timeout=2)


def test_a_handler_may_enqueue_the_next_attempt(recorder: Recorder) -> None:
    holder: list[LocalRetryQueue] = []

    def handler(m: RetryMessage) -> None:
        recorder(m)
        if m.attempt < 4:
            holder[0].enqueue(message(m.push_id, attempt=m.attempt + 1), 1)

    q = LocalRetryQueue(handler, workers=2, scale=SCALE)
    holder.append(q)
    try:
        q.enqueue(message("chain", attempt=2), 0)
        assert wait_until(lambda: len(recorder.got) == 3)
        assert [m.attempt for m, _ in recorder.got] == [2, 3, 4]
    finally:
        q.close(timeout=2)


def test_close_stops_the_threads_and_drops_what_is_not_due(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    before = set(threading.enumerate())
    q = LocalRetryQueue(recorder, workers=3, scale=SCALE)
    started_threads = set(threading.enumerate()) - before
    assert len(started_threads) == 4  # the scheduler and three workers
    q.enqueue(message("soon"), 0)
    assert wait_until(lambda: len(recorder.got) == 1)
    q.enqueue(message("later"), 20)
    with caplog.at_level(logging.WARNING, logger="pushserver"):
        started = time.monotonic()
        q.close(timeout=2)
    assert time.monotonic() - started < 1
    assert "1 pending retries dropped" in caplog.text
    assert not any(t.is_alive() for t in started_threads)
    time.sleep(0.3)
    assert recorder.ids == [message("soon").message_id]
    with pytest.raises(RuntimeError, match="closed"):
        q.enqueue(message("after"), 0)
    q.close()  # a second close is harmless


def test_close_waits_for_a_running_handler_up_to_the_timeout() -> None:
    release = threading.Event()
    finished = threading.Event()

    def handler(m: RetryMessage) -> None:
        release.wait(5)
        finished.set()

    q = LocalRetryQueue(handler, workers=1, scale=SCALE)
    q.enqueue(message(), 0)
    assert wait_until(lambda: q.pending() == 1)
    time.sleep(0.02)
    started = time.monotonic()
    q.close(timeout=0.2)  # the handler is still blocked: close gives up after 0.2 s
    assert 0.15 < time.monotonic() - started < 1
    assert not finished.is_set()
    release.set()
    assert finished.wait(2)


def test_delays_are_clamped_like_sqs(recorder: Recorder) -> None:
    q = LocalRetryQueue(recorder, workers=1, scale=0.0005)
    try:
        q.enqueue(message("negative"), -5)
        q.enqueue(message("huge"), 10_000)  # clamped to 900 -> 0.45 s at this scale
        assert wait_until(lambda: len(recorder.got) == 1)
        assert recorder.ids == [message("negative").message_id]
        assert wait_until(lambda: len(recorder.got) == 2, timeout=3)
    finally:
        q.close(timeout=2)


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        LocalRetryQueue(lambda m: None, workers=0)
