"""Thread-safe test controls shared by the fakes: scripted outcomes and records.

Tests write (script, fail_randomly) and read (received, attempts) from the test
thread while the server thread consumes and appends, hence the locks.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

_O = TypeVar("_O")
_R = TypeVar("_R")


class ScriptBook(Generic[_O]):
    """Per-key FIFO of outcomes, one consumed per request; empty means default success."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_O]] = {}

    def push(self, key: str, outcomes: Iterable[_O]) -> None:
        with self._lock:
            self._queues.setdefault(key, deque()).extend(outcomes)

    def pop(self, key: str) -> _O | None:
        with self._lock:
            queue = self._queues.get(key)
            if not queue:
                return None
            outcome = queue.popleft()
            if not queue:
                del self._queues[key]
            return outcome

    def pending(self, key: str) -> int:
        with self._lock:
            return len(self._queues.get(key, ()))

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


class RandomFailures(Generic[_O]):
    """Fail a seeded-random fraction of requests with one outcome (soak tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fraction = 0.0
        self._outcome: _O | None = None
        self._rng = random.Random()

    def configure(self, fraction: float, outcome: _O, seed: int | None) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {fraction}")
        with self._lock:
            self._fraction, self._outcome = fraction, outcome
            self._rng = random.Random(seed)

    def draw(self) -> _O | None:
        with self._lock:
            if self._outcome is None or self._rng.random() >= self._fraction:
                return None
            return self._outcome

    def clear(self) -> None:
        with self._lock:
            self._fraction, self._outcome = 0.0, None


class Recorder(Generic[_R]):
    """An append-only list that other threads can snapshot and wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[_R] = []

    def append(self, item: _R) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[_R]:
        with self._cond:
            return list(self._items)

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def wait_for(self, count: int, timeout: float) -> list[_R]:
        """Block until at least `count` items exist; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} records, have {len(self._items)}")
                self._cond.wait(remaining)
            return list(self._items)
