"""Every line is JSON and carries the push's correlation fields, inline and in each retry
(the in-process queue, and the SQS consumer on moto), as written to a real log file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import api
from chalicelib.retry.base import RetryMessage
from fakepns.fake_apns import FakeApns, Reply
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call, read_lines, retries_through_sqs
from tests.test_push_v1 import VOIP_TOKEN, body

CORRELATION = ("call_id", "request_id", "app_id", "platform", "attempt")


@pytest.fixture
def sqs(moto_server: str) -> Any:
    import boto3

    return boto3.client("sqs")


def wait_for(path: Path, message: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while True:
        lines = read_lines(path) if path.exists() else []
        if sum(line["message"] == message for line in lines) >= count:
            return lines
        assert time.monotonic() < end, f"{count} x {message!r} not logged in time"
        time.sleep(0.05)


def test_each_local_retry_logs_json_with_the_correlation_fields(
    config_dir: Path, apns: FakeApns, log_file: Path
) -> None:
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.05"))
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"), Reply(500, "InternalServerError"))
    request = body(SYLK, "ios", "incoming_session", **{"call-id": "story-1"})
    with Client(app) as client:
        status, _ = call(client, "POST", "/push", request)
    assert status == 202
    lines = wait_for(log_file, "push delivered", 1)
    story = [line for line in lines if line.get("call_id") == "story-1"]
    assert [(s["message"], s["attempt"]) for s in story] == [
        ("push retry", 1),
        ("retry queued", 1),
        ("push retry", 2),
        ("retry queued", 2),
        ("push delivered", 3),
    ]
    reasons = [s["reason"].split(" - ")[0] for s in story if s["message"] == "push retry"]
    assert reasons == ["ServiceUnavailable", "InternalServerError"]
    for line in story:
        assert all(line.get(field) for field in CORRELATION), line
        assert line["request_id"] == f"incoming_session-{SYLK}-story-1"


def test_a_retry_that_fails_and_is_queued_again_logs_only_json_with_its_call_id(
    config_dir: Path, apns: FakeApns, sqs: Any, log_file: Path, idempotency_table: str
) -> None:
    queue_url = retries_through_sqs(config_dir, sqs, idempotency_table)
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"), Reply(503, "ServiceUnavailable"))
    request = body(SYLK, "ios", "incoming_session", **{"call-id": "story-sqs"})
    with Client(app) as client:
        status, _ = call(client, "POST", "/push", request)
        assert status == 202
        [queued] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=queued["ReceiptHandle"])
        record = {"messageId": queued["MessageId"], "receiptHandle": "r", "body": queued["Body"]}
        start = log_file.stat().st_size
        answer = client.lambda_.invoke("retry_pushes", {"Records": [record]}).payload
    assert answer == {"batchItemFailures": []}
    consumer_lines = read_lines(log_file, start)
    assert [line["message"] for line in consumer_lines] == ["push retry", "retry queued"]
    assert all(line["call_id"] == "story-sqs" for line in consumer_lines)
    assert consumer_lines[0]["attempt"] == 2
    [again] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"]
    assert json.loads(again["Body"])["attempt"] == 3


def test_a_failing_retry_handler_is_logged_with_the_message_fields(
    config_dir: Path, log_file: Path
) -> None:
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.05"))
    bad = {
        "app-id": SYLK,
        "platform": "apple",
        "token": VOIP_TOKEN,
        "call-id": "broken-1",
        "event": "not-an-event",
    }
    message = RetryMessage("p1", SYLK, "apple", bad, time.time() + 60, 2, None, "r-1")
    api.current_runtime().retry_queue.enqueue(message, 0)
    [failed] = [
        line
        for line in wait_for(log_file, "retry handler failed", 1)
        if line["message"] == "retry handler failed"
    ]
    assert failed["level"] == "ERROR"
    assert (failed["call_id"], failed["attempt"], failed["request_id"]) == ("broken-1", 2, "r-1")
    assert "exception" in failed


def test_a_retry_that_arrives_past_the_deadline_logs_the_last_reason(
    config_dir: Path, apns: FakeApns, sqs: Any, log_file: Path, idempotency_table: str
) -> None:
    ini = config_dir / "applications.ini"
    # 4 s: with less than SqsRetryQueue.due_margin left the push would expire at once
    ini.write_text(ini.read_text().replace("[linphone-ios]", "[linphone-ios]\ncall_deadline = 4"))
    queue_url = retries_through_sqs(config_dir, sqs, idempotency_table)
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"))
    request = body(LINPHONE, "ios", None, **{"call-id": "late-1"})
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", request)
        assert status == 202
        [queued] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=3)["Messages"]
        time.sleep(max(0.0, answer["data"]["retry"]["deadline"] + 1 - time.time()))
        record = {"messageId": queued["MessageId"], "receiptHandle": "r", "body": queued["Body"]}
        start = log_file.stat().st_size
        client.lambda_.invoke("retry_pushes", {"Records": [record]})
    [expired] = read_lines(log_file, start)
    assert (expired["message"], expired["call_id"], expired["attempts"]) == (
        "push expired",
        "late-1",
        1,
    )
    assert expired["reason"].startswith("ServiceUnavailable")
    assert len(apns.attempts) == 1
