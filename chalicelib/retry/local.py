"""In-process retry queue for `chalice local` / `make serve`, where no SQS handler runs.

One scheduler thread keeps a heap of (due time, sequence, message) and hands due messages to
a small pool of worker threads, which call the retry handler. Messages live in memory only:
a restart loses them (logged on close), which is acceptable for a development server.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable

from .base import RetryMessage
from .policy import MAX_DELAY, MIN_WINDOW

_STOP = object()  # tells a worker to exit


class LocalRetryQueue:
    """A RetryQueue that runs `handler(message)` in this process once the delay has passed.

    `scale` multiplies every delay, so tests can use real time and still finish quickly.
    """

    due_margin = MIN_WINDOW  # its timers are exact and it runs the handler right away

    def __init__(
        self,
        handler: Callable[[RetryMessage], object],
        *,
        workers: int = 4,
        scale: float = 1.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._handler = handler
        self._scale = scale
        self._heap: list[tuple[float, int, RetryMessage]] = []
        self._seq = 0  # ties on due time keep enqueue order; messages are never compared
        self._running = 0  # handed to a worker and not finished yet
        self._closed = False
        self._wakeup = threading.Condition()
        self._ready: queue.SimpleQueue[RetryMessage | object] = queue.SimpleQueue()
        self._scheduler = threading.Thread(
            target=self._schedule, name="retry-scheduler", daemon=True
        )
        self._workers = [
            threading.Thread(target=self._work, name=f"retry-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        self._scheduler.start()
        for worker in self._workers:
            worker.start()

    def enqueue(self, message: RetryMessage, delay: float) -> None:
        """Run the handler on `message` after `delay` seconds (clamped to 0..900 as SQS does)."""
        delay = min(max(delay, 0.0), float(MAX_DELAY))
        with self._wakeup:
            if self._closed:
                raise RuntimeError("the local retry queue is closed")
            due = time.monotonic() + delay * self._scale
            heapq.heappush(self._heap, (due, self._seq, message))
            self._seq += 1
            self._wakeup.notify()  # the new message may be due before the one waited for

    def pending(self) -> int:
        """Messages waiting for their time or being handled right now."""
        with self._wakeup:
            return len(self._heap) + self._running

    def close(self, timeout: float = 5.0) -> None:
        """Stop the scheduler and the workers; messages not yet due are dropped (and logged).
        Waits up to `timeout` seconds for handlers already running."""
        with self._wakeup:
            if self._closed:
                return
            self._closed = True
            dropped = len(self._heap)
            self._heap.clear()
            self._wakeup.notify()
        if dropped:
            from .. import audit  # the logger loads Powertools: only when there is news

            audit.log(
                f"local retry queue closed with {dropped} pending retries dropped",
                logging.WARNING,
                dropped=dropped,
            )
        end = time.monotonic() + timeout
        self._scheduler.join(max(0.0, end - time.monotonic()))
        for _ in self._workers:
            self._ready.put(_STOP)
        for worker in self._workers:
            worker.join(max(0.0, end - time.monotonic()))

    def _schedule(self) -> None:
        with self._wakeup:
            while not self._closed:
                if not self._heap:
                    self._wakeup.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wakeup.wait(wait)
                    continue
                _, _, message = heapq.heappop(self._heap)
                self._running += 1
                self._ready.put(message)

    def _run(self, message: RetryMessage) -> None:
        from .. import audit  # loaded by then in any server; keeps this module's import light

        with audit.correlation(**message.log_fields()):
            try:
                self._handler(message)
            except Exception:
                # One bad retry must not stop the others: log it and carry on
                audit.logger.exception("retry handler failed", extra={"push_id": message.push_id})

    def _work(self) -> None:
        while True:
            item = self._ready.get()
            if item is _STOP:
                return
            assert isinstance(item, RetryMessage)
            try:
                self._run(item)
            finally:
                with self._wakeup:
                    self._running -= 1
