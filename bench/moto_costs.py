"""What moto's SQS costs per call, against the number of messages its queue holds.

moto 5.2 keeps a queue's messages in one list and walks all of it, delayed ones included, on
every call: a send computes the queue's attributes (three walks), a receive walks the list
and then, for each message it returns, reads the queue's retention period through
get_queue_attributes, which computes the attributes three times. A queue holding a backlog
of thousands of retries, most of them waiting out their DelaySeconds, therefore costs
milliseconds per message in the emulator, where SQS itself costs the same at any depth.
Measured here through boto3 against the benchmark's moto server, at two depths.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib.config.model import CALL_DEADLINE

BODY = "x" * 900  # about the size of a queued retry message
TARGET = 5000  # the backlog the outage benchmark is meant to drain


@dataclass
class CallCosts:
    """Milliseconds per call (receive and delete: per message) at one queue depth."""

    depth: int
    send: float
    receive: float
    delete: float
    empty_receive: float


@dataclass
class MotoCosts:
    shallow: CallCosts
    deep: CallCosts

    def per_queued(self, name: str) -> float:
        """Microseconds a call of `name` costs per message the queue holds."""
        added = float(getattr(self.deep, name)) - float(getattr(self.shallow, name))
        return 1000 * added / (self.deep.depth - self.shallow.depth)

    def retry_ms(self, depth: int) -> float:
        """moto's milliseconds for one failed retry (received, next attempt sent, deleted)
        with `depth` messages in the queue."""
        per_call = ("receive", "send", "delete")
        base = sum(float(getattr(self.shallow, name)) for name in per_call)
        return base + depth * sum(self.per_queued(name) for name in per_call) / 1000

    def drain_seconds(self, depth: int) -> float:
        """moto's seconds to hand a backlog of `depth` messages over once (each received and
        deleted, the queue shrinking as it goes): a floor for the drain, whatever the
        consumer does."""
        base = self.shallow.receive + self.shallow.delete
        per_queued = self.per_queued("receive") + self.per_queued("delete")
        return (depth * base + per_queued * depth * depth / 2 / 1000) / 1000

    def markdown(self, depth: int, label: str) -> list[str]:
        s, d = self.shallow, self.deep
        return [
            f"- {label}, ms per call with {s.depth} / {d.depth} delayed messages in the "
            f"queue: send {s.send:.1f} / {d.send:.1f}, receive {s.receive:.1f} / "
            f"{d.receive:.1f} per message, delete {s.delete:.1f} / {d.delete:.1f}, empty "
            f"receive {s.empty_receive:.1f} / {d.empty_receive:.1f}; each queued message adds "
            f"{self.per_queued('receive'):.0f} µs to every message received and "
            f"{self.per_queued('send'):.0f} µs to every send",
            f"- so with {depth} messages queued moto alone spends about "
            f"{self.retry_ms(depth):.0f} ms on each retry (receive + send + delete): at most "
            f"{1000 / self.retry_ms(depth):.1f} retries per second, whatever the consumer does",
            f"- handing a backlog over once costs moto about {self.drain_seconds(depth):.0f} s "
            f"for {depth} messages and {self.drain_seconds(TARGET):.0f} s for {TARGET:,}: "
            f"calls have {CALL_DEADLINE:.0f} s",
        ]


def _timed(call: Any, times: int) -> float:
    started = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - started) * 1000 / times


def _at_depth(sqs: Any, queue_url: str, depth: int) -> CallCosts:
    send = _timed(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=BODY), 10)
    received: list[dict[str, Any]] = []

    def receive() -> None:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        received.extend(answer.get("Messages", []))

    receive_ms = _timed(receive, 1) / 10
    handles = iter([m["ReceiptHandle"] for m in received])
    delete = _timed(lambda: sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=next(handles)), 10)
    empty = _timed(lambda: sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10), 3)
    return CallCosts(depth, send, receive_ms, delete, empty)


def measure(sqs: Any, depth: int = 500) -> MotoCosts:
    """Costs on an empty queue, then on one holding `depth` messages delayed by 900 s."""
    queue_url: str = sqs.create_queue(QueueName=f"moto-costs-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        shallow = _at_depth(sqs, queue_url, 0)
        for _ in range(depth // 10):
            entries = [{"Id": str(n), "MessageBody": BODY, "DelaySeconds": 900} for n in range(10)]
            sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        deep = _at_depth(sqs, queue_url, depth // 10 * 10)
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
    return MotoCosts(shallow, deep)
