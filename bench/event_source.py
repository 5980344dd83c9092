"""What Lambda's SQS event source mapping does and moto does not: pollers that poll the
queue while pushes arrive, gather a batch (up to the batch size, or what came within the
batching window), invoke the retry function and delete what it did not report as failed.

Each poller stands for one concurrent instance of the function; they share this process,
so they also share its warm connections (a fleet of Lambdas would each hold their own).
The batch size and window are the app's own (app.py), the pollers Lambda's five at start.

Lambda long-polls (WaitTimeSeconds 20). moto's long poll wakes only when a message is sent,
not when a delayed one comes due, so a waiting poller sleeps up to a second while work is
due, and every send wakes all waiting pollers to walk the whole queue. The pollers here
short-poll instead and pause `idle` seconds when the queue had nothing for them: the same
messages, without the emulator's stalls.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError
from chalice.app import SQSEventConfig
from chalice.test import Client

SQS_RECEIVE_MAX = 10  # messages per ReceiveMessage call, the SQS limit
SCALE_UP_INTERVAL = 0.2  # s: Lambda adds up to 300 pollers (function instances) a minute


def retry_mapping(app: Any) -> SQSEventConfig:
    """The retry function's SQS event source as app.py declares it."""
    return next(e for e in app.event_sources if isinstance(e, SQSEventConfig))


class EventSource:
    def __init__(
        self,
        client: Client,
        sqs: Any,
        queue_url: str,
        *,
        mapping: SQSEventConfig,
        pollers: int = 5,  # what Lambda starts with for a standard queue
        max_pollers: int = 5,
        idle: float = 0.2,
    ) -> None:
        self._client, self._sqs, self._queue_url = client, sqs, queue_url
        self._name = mapping.name
        self._batch_size = mapping.batch_size
        self._window = float(mapping.maximum_batching_window_in_seconds or 0)
        self._idle = idle
        self._min, self._max = pollers, max(pollers, max_pollers)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._invoking = 0
        self._last_added = 0.0
        self.most_pollers = 0
        self.handled = 0  # messages handed to the function
        self.failed = 0  # of which reported in batchItemFailures
        self.handled_at: list[float] = []  # when each invocation returned, once per message
        self.poll_errors = 0  # receives the emulator failed
        self.received: set[tuple[str, int]] = set()  # (call-id, attempt) of each message

    def __enter__(self) -> EventSource:
        with self._lock:
            for _ in range(self._min):
                self._start_poller()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(30)

    def idle(self) -> bool:
        """No invocation under way."""
        with self._lock:
            return self._invoking == 0

    def _start_poller(self) -> None:
        """With the lock held."""
        thread = threading.Thread(target=self._poll, name=f"poller-{len(self._threads)}")
        thread.daemon = True
        self._threads.append(thread)
        self._active += 1
        self.most_pollers = max(self.most_pollers, self._active)
        self._last_added = time.monotonic()
        thread.start()

    def _scale_up(self) -> None:
        """Messages still waiting after a batch: one more poller, at most one per
        SCALE_UP_INTERVAL (Lambda adds up to 300 concurrent instances a minute)."""
        with self._lock:
            due = time.monotonic() - self._last_added >= SCALE_UP_INTERVAL
            if due and self._active < self._max and not self._stop.is_set():
                self._start_poller()

    def _scale_down(self) -> bool:
        """A poller that found the queue empty stops, down to the first ones."""
        with self._lock:
            if self._active > self._min:
                self._active -= 1
                return True
            return False

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                messages, more = self._gather()
            except ClientError:
                # moto's SQS is not thread-safe everywhere ("Set changed size during
                # iteration" under concurrent receives): a failed poll, polled again
                with self._lock:
                    self.poll_errors += 1
                messages, more = [], False
            if messages:
                if more:
                    self._scale_up()
                self._invoke(messages)
                continue
            if self._scale_down():  # each empty poll costs moto a walk of the whole queue
                return
            self._stop.wait(self._idle)

    def _gather(self) -> tuple[list[dict[str, Any]], bool]:
        """A batch, and whether the queue still had messages when it was complete."""
        messages: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self._window
        got: list[dict[str, Any]] = []
        while len(messages) < self._batch_size and not self._stop.is_set():
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self._batch_size - len(messages)),
                WaitTimeSeconds=0,
            )
            got = answer.get("Messages", [])
            messages += got
            if not messages or time.monotonic() >= window_ends:
                break
            if not got:  # a batch under way waits for more until the window ends, as Lambda
                self._stop.wait(min(self._idle, max(0.0, window_ends - time.monotonic())))
        return messages, len(got) == SQS_RECEIVE_MAX or len(messages) == self._batch_size

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._invoking += 1
        try:
            self._invoke_function(messages)
        finally:
            with self._lock:
                self._invoking -= 1

    def _invoke_function(self, messages: list[dict[str, Any]]) -> None:
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in messages
        ]
        payload = self._client.lambda_.invoke(self._name, {"Records": records}).payload
        failed = {f["itemIdentifier"] for f in (payload or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(done[start : start + SQS_RECEIVE_MAX])
            ]
            self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        bodies = [json.loads(m["Body"]) for m in messages]
        with self._lock:
            self.received.update((b["request"].get("call-id"), b["attempt"]) for b in bodies)
            self.handled += len(messages)
            self.failed += len(failed)
            self.handled_at += [time.time()] * len(messages)
