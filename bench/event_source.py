"""What Lambda's SQS event source mapping does and moto does not: pollers that long-poll the
queue while pushes arrive, gather a batch (up to the batch size, or what came within the
batching window), invoke the retry function and delete what it did not report as failed.

Each poller stands for one concurrent instance of the function; they share this process,
so they also share its warm connections (a fleet of Lambdas would each hold their own).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chalice.app import SQSEventConfig
from chalice.test import Client

SQS_RECEIVE_MAX = 10  # messages per ReceiveMessage call, the SQS limit


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
        pollers: int = 5,  # what Lambda starts with for a standard queue
        batch_size: int = 100,
        window: float = 1.0,
    ) -> None:
        self._client, self._sqs, self._queue_url = client, sqs, queue_url
        self._batch_size, self._window = batch_size, window
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.handled = 0  # messages handed to the function
        self.failed = 0  # of which reported in batchItemFailures
        self._threads = [
            threading.Thread(target=self._poll, name=f"poller-{n}", daemon=True)
            for n in range(pollers)
        ]

    def __enter__(self) -> EventSource:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _poll(self) -> None:
        while not self._stop.is_set():
            messages = self._gather()
            if messages:
                self._invoke(messages)

    def _gather(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self._window
        while len(messages) < self._batch_size and not self._stop.is_set():
            wait = 1 if not messages else 0  # long-poll for the first, then take what is there
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self._batch_size - len(messages)),
                WaitTimeSeconds=wait,
            )
            got = answer.get("Messages", [])
            messages += got
            if (messages and not got) or time.monotonic() >= window_ends:
                break
        return messages

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in messages
        ]
        payload = self._client.lambda_.invoke("retry_pushes", {"Records": records}).payload
        failed = {f["itemIdentifier"] for f in (payload or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(done[start : start + SQS_RECEIVE_MAX])
            ]
            self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        with self._lock:
            self.handled += len(messages)
            self.failed += len(failed)
