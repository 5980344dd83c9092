"""The outage benchmark's faster moto scans (bench/moto_sqs_scans.py) answer what moto does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench import moto_sqs_scans


@pytest.fixture
def queue() -> Iterator[tuple[Any, str]]:
    """A queue holding messages in every state: visible, delayed, due in a second, in
    flight, made visible again, deleted."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        url = sqs.create_queue(QueueName="scans", Attributes={"VisibilityTimeout": "60"})[
            "QueueUrl"
        ]
        for n in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=f"visible-{n}")
        for n in range(4):
            sqs.send_message(QueueUrl=url, MessageBody=f"delayed-{n}", DelaySeconds=900)
        sqs.send_message(QueueUrl=url, MessageBody="due-soon", DelaySeconds=1)
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=received[1]["ReceiptHandle"], VisibilityTimeout=0
        )
        yield sqs, url


def _patch(monkeypatch: pytest.MonkeyPatch) -> None:
    for owner, name, replacement in moto_sqs_scans.patches():
        monkeypatch.setattr(owner, name, replacement)


def _counts(sqs: Any, url: str) -> dict[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {k: v for k, v in attributes.items() if k.startswith("ApproximateNumberOf")}


def test_the_counts_are_moto_s_own(queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    sqs, url = queue
    for wait in (0.0, 1.1):  # before and after "due-soon" becomes visible
        time.sleep(wait)
        as_is = _counts(sqs, url)
        _patch(monkeypatch)
        assert _counts(sqs, url) == as_is
        monkeypatch.undo()
    assert as_is == {  # the fixture holds what it says
        "ApproximateNumberOfMessages": "5",
        "ApproximateNumberOfMessagesDelayed": "4",
        "ApproximateNumberOfMessagesNotVisible": "1",
    }


def test_receives_hand_out_the_visible_messages_only(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    _patch(monkeypatch)
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in batch]
    # 6 sent visible, 3 received: 1 deleted, 1 made visible again, 1 still in flight
    assert len(bodies) == 4 and all(b.startswith("visible-") for b in bodies)


def test_a_message_past_the_retention_period_is_not_handed_out(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"})
    _patch(monkeypatch)
    assert sqs.receive_message(QueueUrl=url).get("Messages")  # within the period
    later = time.time() + 61
    monkeypatch.setattr(moto_sqs_scans, "unix_time", lambda: later)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
