"""The SQS retry queue: the producer used by the API, and the consumer the Lambda runs.

boto3 is imported only when a client is first needed, so importing this module (as the API
path does) costs no boto3 import at cold start.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import StorageUnavailable
from .base import RetryMessage
from .idempotency import DuplicateInProgress
from .policy import MAX_DELAY

MAX_RECEIVE_COUNT = 5  # deliveries before SQS moves a message to the dead-letter queue
# Seconds, for the queues create_queues makes (tests, local tooling). The deployed queue's is
# in infra/data.json: at least 6x the consumer function's timeout, as AWS advises.
VISIBILITY_TIMEOUT = 60
BATCH_WORKERS = 100  # messages of a batch handled at once: pns.MAX_CONCURRENT_SENDS streams
DLQ_RETENTION = 14 * 24 * 3600  # the SQS maximum, to leave time to inspect poison messages


class SqsRetryQueue:
    """A RetryQueue backed by a standard SQS queue and per-message timers (DelaySeconds)."""

    # A timer counts whole seconds (the delay is rounded up: up to 1 s later), the event
    # source gathers a batch for up to its window (1 s, app.py) before the function runs, and
    # the poll, the invocation and the send take the last half second
    due_margin = 2.5

    def __init__(self, queue_url: str, *, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client
        self._lock = threading.Lock()

    def _sqs(self) -> Any:
        # Created on first use and then reused by later invocations of a warm Lambda
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # An API request waits on this call: fail in seconds, not botocore's 60 s x 5
                config = Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"mode": "standard", "max_attempts": 3},
                )
                self._client = boto3.client("sqs", config=config)
            return self._client

    def enqueue(self, message: RetryMessage, delay: float) -> None:
        """Send `message` with a timer of `delay` seconds, rounded up and capped at 900.

        StorageUnavailable when SQS cannot be reached or refuses the message; the caller
        decides whether the push is then lost (and logged) or the request fails.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        seconds = min(MAX_DELAY, max(0, math.ceil(delay)))
        try:
            self._sqs().send_message(
                QueueUrl=self.queue_url, MessageBody=message.to_json(), DelaySeconds=seconds
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(
                f"retry queue unavailable: could not enqueue attempt {message.attempt} "
                f"of {message.push_id}: {exc}"
            ) from exc


def event_records(event: Any) -> Iterator[tuple[str | None, Any]]:
    """(messageId, body) of each record of a Chalice SQSEvent, read from the raw event:
    Chalice's SQSRecord raises for a record without a body, which would fail the batch."""
    records = event.to_dict().get("Records")
    for record in records if isinstance(records, list) else ():
        if not isinstance(record, dict):
            yield None, None
            continue
        message_id = record.get("messageId")
        yield (
            (message_id if isinstance(message_id, str) and message_id else None),
            record.get("body"),
        )


def consume(
    records: Iterable[tuple[str | None, Any]], handler: Callable[[RetryMessage], object]
) -> dict[str, list[dict[str, str]]]:
    """Run `handler` on each (messageId, body), all at once, and return the Lambda partial
    batch response.

    The messages of a batch are handled concurrently, one thread each: their pushes share the
    warm connections as streams (pns.send_many), so a batch against a PNS that answers in
    200 ms takes about one round trip, not one per message, and a hanging PNS costs one read
    timeout, not ten. Each message is settled on its own: a record whose body is not a retry
    message (poison) or whose handler raised is reported in batchItemFailures, in the order
    of the batch; SQS makes it visible again and, after maxReceiveCount deliveries, moves it
    to the dead-letter queue. Never raises for one record, since an exception would fail (and
    redeliver) the whole batch, including the pushes that already went out.
    """
    from .. import audit  # the logger loads Powertools: not at import (see the module doc)

    parsed: list[tuple[str, RetryMessage | None]] = []
    for message_id, body in records:
        if message_id is None:
            # Nothing to name in batchItemFailures (a bad name fails the whole batch), and
            # no SQS record lacks one: logged and left out, its neighbours go on
            audit.log("retry record without a messageId skipped", logging.ERROR)
            continue
        try:
            if not isinstance(body, str):
                raise ValueError(f"record body is {type(body).__name__}, not a string")
            parsed.append((message_id, RetryMessage.from_json(body)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            audit.log(
                "poison retry message",
                logging.ERROR,
                message_id=message_id,
                reason=str(exc),
                body=json.dumps(body[:200] if isinstance(body, str) else repr(body)[:200]),
            )
            parsed.append((message_id, None))

    def settle(message_id: str, message: RetryMessage) -> bool:
        """True when the message is done with (delivered, queued again, expired, skipped)."""
        with audit.correlation(**message.log_fields(), message_id=message_id):
            try:
                handler(message)
            except DuplicateInProgress as exc:
                # Another invocation holds this message; its redelivery finds the outcome
                audit.log("retry message deferred", reason=str(exc))
                return False
            except StorageUnavailable as exc:
                # The next attempt could not be queued: SQS delivers this one again
                audit.log("retry message kept: next attempt not queued", reason=str(exc))
                return False
            except Exception:
                audit.logger.exception("retry handler failed", extra={"push_id": message.push_id})
                return False
            return True

    # copies of one message (same idempotency key) in turn, so the later ones are skipped
    # as done rather than deferred as in progress; different messages at once
    copies: dict[str, list[tuple[str, RetryMessage]]] = {}
    for message_id, message in parsed:
        if message is not None:
            copies.setdefault(message.message_id, []).append((message_id, message))

    def settle_copies(group: list[tuple[str, RetryMessage]]) -> list[tuple[str, bool]]:
        return [(message_id, settle(message_id, message)) for message_id, message in group]

    done: dict[str, bool] = {}
    if copies:
        workers = min(len(copies), BATCH_WORKERS)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retry") as pool:
            for settled in pool.map(settle_copies, copies.values()):
                done.update(settled)
    failures = [{"itemIdentifier": mid} for mid, _ in parsed if not done.get(mid, False)]
    return {"batchItemFailures": failures}


def create_queues(
    client: Any,
    name: str,
    *,
    max_receive_count: int = MAX_RECEIVE_COUNT,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
) -> tuple[str, str]:
    """Create queue `name` and its dead-letter queue `name`-dlq; returns (queue_url, dlq_url).
    For tests and local tooling; in AWS the CloudFormation template creates both."""
    dlq_url: str = client.create_queue(
        QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION)}
    )["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    queue_url: str = client.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return queue_url, dlq_url
