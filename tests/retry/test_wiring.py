"""The consumer wired as app.py should wire it: a Chalice on_sqs_message handler returning the
partial batch response, fed by a moto queue (moto runs no event source mappings, so the test
receives and deletes as Lambda would)."""

from __future__ import annotations

import uuid
from typing import Any

from chalice.app import Chalice, SQSEvent
from chalice.test import Client

from chalicelib.retry.base import RetryMessage
from chalicelib.retry.idempotency import create_idempotency_table, dynamodb_persistence, once
from chalicelib.retry.sqs import consume, create_queues, event_records

from .helpers import message


def test_sqs_handler_skips_duplicates_and_reports_failures(sqs: Any, dynamodb: Any) -> None:
    url, _ = create_queues(sqs, f"retry-{uuid.uuid4().hex[:12]}")
    pushed: list[str] = []

    def redeliver(m: RetryMessage) -> None:
        if m.push_id == "bad":
            raise RuntimeError("PNS down")
        pushed.append(m.message_id)

    table = f"idempotency-{uuid.uuid4().hex[:12]}"
    create_idempotency_table(dynamodb, table)
    handler = once(dynamodb_persistence(table, client=dynamodb))(redeliver)
    app = Chalice(app_name="retry-wiring")
    contexts: list[Any] = []

    @app.on_sqs_message(queue="rtc-push-retries", batch_size=10, name="retry_pushes")
    def retry_pushes(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
        contexts.append(event.context)
        handler.register_lambda_context(event.context)
        return consume(event_records(event), handler)

    good = message("good").to_json()
    sent = {
        "good": sqs.send_message(QueueUrl=url, MessageBody=good)["MessageId"],
        "again": sqs.send_message(QueueUrl=url, MessageBody=good)["MessageId"],  # SQS duplicate
        "bad": sqs.send_message(QueueUrl=url, MessageBody=message("bad").to_json())["MessageId"],
        "poison": sqs.send_message(QueueUrl=url, MessageBody="<xml/>")["MessageId"],
    }
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event = {
        "Records": [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in received
        ]
    }
    with Client(app) as client:
        payload = client.lambda_.invoke("retry_pushes", event).payload
    assert sorted(f["itemIdentifier"] for f in payload["batchItemFailures"]) == sorted(
        [sent["bad"], sent["poison"]]
    )
    assert pushed == [message("good").message_id]
    assert contexts[0].get_remaining_time_in_millis() > 0
