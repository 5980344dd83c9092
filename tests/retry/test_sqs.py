"""The SQS retry queue and its consumer, on a moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chalice.app import SQSEvent

from chalicelib.errors import StorageUnavailable
from chalicelib.retry.base import RetryMessage, RetryQueue
from chalicelib.retry.idempotency import DuplicateInProgress
from chalicelib.retry.sqs import SqsRetryQueue, consume, create_queues, event_records

from .helpers import message


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Recording:
    """The real SQS client, with the keyword arguments of each send_message noted."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return self.client.send_message(**kwargs)


def receive(sqs: Any, url: str, wait: int = 0) -> list[dict[str, Any]]:
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return messages


def lambda_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda SQS event for received messages (what the event source mapping sends)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
    }


def run_batch(
    sqs: Any, url: str, handler: Callable[[RetryMessage], object], wait: int = 0
) -> dict[str, list[dict[str, str]]]:
    """What Lambda does with one batch: receive, invoke, delete all but the reported failures."""
    messages = receive(sqs, url, wait)
    response = consume(event_records(SQSEvent(lambda_event(messages), None)), handler)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return response


def test_is_a_retry_queue() -> None:
    typed: RetryQueue = SqsRetryQueue("https://sqs.example/q", client=object())
    assert isinstance(typed, SqsRetryQueue)


def test_create_queues_sets_the_redrive_policy_and_visibility(sqs: Any) -> None:
    url, dlq_url = create_queues(sqs, unique("retry"))
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert attributes["VisibilityTimeout"] == "60"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == 5
    assert dlq_url.endswith("-dlq")


def test_the_deployed_queue_hides_a_message_6x_the_consumers_timeout() -> None:
    # AWS's advice for a Lambda event source: a slow batch must not reappear mid-run
    from chalice.config import Config

    root = Path(__file__).resolve().parents[2]
    resources = json.loads((root / "infra" / "data.json").read_text())["Resources"]
    [queue] = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]
    ]
    chalice = json.loads((root / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        consumer = Config(
            chalice_stage=stage, function_name="retry_pushes", config_from_disk=chalice
        )
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * consumer.lambda_timeout


def test_enqueue_sends_the_message_with_a_timer(sqs: Any) -> None:
    url, _ = create_queues(sqs, unique("retry"))
    recording = Recording(sqs)
    queue = SqsRetryQueue(url, client=recording)
    sent = message(attempt=3)
    started = time.monotonic()
    queue.enqueue(sent, 0.2)  # rounded up to the whole second SQS timers work in
    assert recording.sent[0]["DelaySeconds"] == 1
    assert receive(sqs, url) == []  # invisible while the timer runs
    got = receive(sqs, url, wait=3)
    assert time.monotonic() - started >= 0.9
    assert len(got) == 1
    assert RetryMessage.from_json(got[0]["Body"]) == sent


def test_enqueue_rounds_up_and_caps_the_delay(sqs: Any) -> None:
    url, _ = create_queues(sqs, unique("retry"))
    recording = Recording(sqs)
    queue = SqsRetryQueue(url, client=recording)
    for delay in (0, 1.01, 899.5, 5000, -3):
        queue.enqueue(message(), delay)
    assert [s["DelaySeconds"] for s in recording.sent] == [0, 2, 900, 900, 0]


def test_enqueue_builds_its_client_from_the_environment(sqs: Any) -> None:
    url, _ = create_queues(sqs, unique("retry"))
    SqsRetryQueue(url).enqueue(message(), 0)
    assert len(receive(sqs, url)) == 1


def test_enqueue_to_a_missing_queue_is_storage_unavailable(sqs: Any, moto_server: str) -> None:
    queue = SqsRetryQueue(f"{moto_server}/123456789012/{unique('missing')}", client=sqs)
    with pytest.raises(StorageUnavailable, match="retry queue unavailable") as info:
        queue.enqueue(message(), 0)
    assert info.value.status == 503


def test_enqueue_to_an_unreachable_endpoint_is_storage_unavailable() -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sqs",
        region_name="eu-west-1",  # set here: no moto fixture may have run before this test
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    queue = SqsRetryQueue("http://127.0.0.1:9/123456789012/q", client=client)
    with pytest.raises(StorageUnavailable, match="attempt 2 of"):
        queue.enqueue(message(), 0)


def test_consume_reports_the_poison_and_the_failing_record(
    sqs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = create_queues(sqs, unique("retry"))
    good, bad = message("good"), message("bad")
    ids = {
        "good": sqs.send_message(QueueUrl=url, MessageBody=good.to_json())["MessageId"],
        "poison": sqs.send_message(QueueUrl=url, MessageBody='{"not": "a retry"}')["MessageId"],
        "bad": sqs.send_message(QueueUrl=url, MessageBody=bad.to_json())["MessageId"],
    }
    handled: list[str] = []

    def handler(m: RetryMessage) -> None:
        if m.push_id == "bad":
            raise RuntimeError("PNS down")
        handled.append(m.push_id)

    response = run_batch(sqs, url, handler)
    assert handled == ["good"]
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(
        [ids["poison"], ids["bad"]]
    )
    assert "poison retry message" in caplog.text
    assert "PNS down" in caplog.text
    # the good one was deleted; the two failures wait out their visibility timeout in the queue
    counts = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert counts == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "2",
    }


@pytest.mark.parametrize("body", ["", "not json", "[1, 2]", '{"push_id": "x"}', "null"])
def test_consume_treats_any_non_message_as_poison(body: str) -> None:
    response = consume([("m-1", body)], lambda m: None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_consume_all_good_is_an_empty_failure_list() -> None:
    handled: list[RetryMessage] = []
    records = [(f"m-{i}", message(f"p{i}").to_json()) for i in range(3)]
    assert consume(records, handled.append) == {"batchItemFailures": []}
    assert [m.push_id for m in handled] == ["p0", "p1", "p2"]


def test_consume_reports_a_duplicate_in_progress() -> None:
    def handler(m: RetryMessage) -> None:
        raise DuplicateInProgress("held elsewhere")

    response = consume([("m-1", message().to_json())], handler)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_poison_message_is_redriven_to_the_dead_letter_queue(sqs: Any) -> None:
    url, dlq_url = create_queues(sqs, unique("retry"), max_receive_count=1, visibility_timeout=1)
    poison_id = sqs.send_message(QueueUrl=url, MessageBody="{broken")["MessageId"]
    response = run_batch(sqs, url, lambda m: None)
    assert response == {"batchItemFailures": [{"itemIdentifier": poison_id}]}
    # after the visibility timeout the next receive finds it over maxReceiveCount
    time.sleep(1.1)
    assert receive(sqs, url) == []
    dead = receive(sqs, dlq_url, wait=2)
    assert [m["MessageId"] for m in dead] == [poison_id]
    assert dead[0]["Body"] == "{broken"


def test_importing_the_queues_does_not_import_boto3() -> None:
    code = (
        "import sys\n"
        "import chalicelib.retry.sqs, chalicelib.retry.local, chalicelib.retry.policy\n"
        "import chalicelib.retry.idempotency\n"
        "heavy = [m for m in ('boto3', 'botocore', 'aws_lambda_powertools') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=30)
