"""moto's SQS without its whole-queue scans per message, for backlogs of thousands.

moto 5.2 reads a queue attribute by computing all of them, three approximate message counts
included, and each count walks every message of the queue reading a datetime-based clock
twice per message. It does so for one static attribute on every message it hands out (the
MessageRetentionPeriod check of ReceiveMessage) and on every SendMessage (a
ContentBasedDeduplication lookup). With N messages waiting, a received message then costs
about 70 µs x N and a send 28 µs x N (bench/moto_costs.py measures it): at 5,000 queued
retries moto alone needs a third of a second per message, and the backlog can never drain
within a call's minute.

`apply()` changes how moto computes, not what: the retention check reads the one attribute
it needs, and a scan reads the clock once instead of once per message. Every answer stays
the same (tests/test_moto_sqs_scans.py compares them with moto's own); a report made
with it says so (bench/moto_process.py).
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import unix_time, unix_time_millis
from moto.sqs import models


def _messages(queue: Any) -> list[Any]:
    """Queue.messages: the visible, not delayed ones, against one reading of the clock."""
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]


def _delayed(queue: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _not_visible(queue: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _retention_check(backend: Any, queue_name: str, message: Any) -> bool:
    """SQSBackend.is_message_valid_based_on_retention_period, reading only that attribute."""
    retention = backend.get_queue(queue_name).message_retention_period
    return bool(int(retention) + message.sent_timestamp / 1000 > unix_time())


def patches() -> list[tuple[type, str, Any]]:
    """(class, attribute, replacement) of each change."""
    return [
        (models.Queue, "messages", property(_messages)),
        (models.Queue, "approximate_number_of_messages_delayed", property(_delayed)),
        (models.Queue, "approximate_number_of_messages_not_visible", property(_not_visible)),
        (models.SQSBackend, "is_message_valid_based_on_retention_period", _retention_check),
    ]


def apply() -> None:
    """Patch moto's SQS models in this process (the one that runs the moto server)."""
    for owner, name, replacement in patches():
        setattr(owner, name, replacement)
