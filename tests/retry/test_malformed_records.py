"""Defect: a malformed SQS record failed the whole batch. Each record is judged on its own,
through the real app's consumer (the retry handler pushes to the fake APNs)."""

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
from fakepns.fake_apns import FakeApns
from fakepns.server_config import SYLK, settings_for
from tests.test_push_v1 import VOIP_TOKEN


def good_message(call_id: str) -> str:
    request = {
        "app-id": SYLK,
        "platform": "apple",
        "token": VOIP_TOKEN,
        "call-id": call_id,
        "event": "incoming_session",
        "from": "a@example.com",
        "to": "b@example.com",
        "media-type": "audio",
    }
    message = RetryMessage(call_id, SYLK, "apple", request, time.time() + 60, 2)
    return message.to_json()


MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("no-body", {"messageId": "no-body", "receiptHandle": "r"}),
    ("null-body", {"messageId": "null-body", "receiptHandle": "r", "body": None}),
    ("number-body", {"messageId": "number-body", "receiptHandle": "r", "body": 7}),
    ("deep-body", {"messageId": "deep-body", "body": "[" * 5000 + "]" * 5000}),
    ("not-json", {"messageId": "not-json", "body": "{broken"}),
    (
        "bad-deadline",
        {
            "messageId": "bad-deadline",
            "body": json.dumps({**json.loads(good_message("x")), "deadline": "soon"}),
        },
    ),
    (
        "bad-attempt",
        {
            "messageId": "bad-attempt",
            "body": json.dumps({**json.loads(good_message("x")), "attempt": True}),
        },
    ),
]
UNNAMED: list[Any] = [
    {"receiptHandle": "r", "body": good_message("lost-id")},  # no messageId
    {"messageId": 12, "body": good_message("lost-id")},
    "not a record",
]


def test_each_record_is_judged_on_its_own(
    config_dir: Path, apns: FakeApns, caplog: pytest.LogCaptureFixture, idempotency_table: str
) -> None:
    api.reset_runtime(settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table))
    records: list[Any] = [{"messageId": "good-1", "receiptHandle": "r", "body": good_message("g1")}]
    records += [record for _, record in MALFORMED] + UNNAMED
    records.append({"messageId": "good-2", "receiptHandle": "r", "body": good_message("g2")})
    with Client(app) as client:
        answer = client.lambda_.invoke("retry_pushes", {"Records": records}).payload
    named = sorted(failure["itemIdentifier"] for failure in answer["batchItemFailures"])
    assert named == sorted(name for name, _ in MALFORMED)
    assert sorted(r.json["call-id"] for r in apns.received) == ["g1", "g2"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback for bad input"
    skipped = [r for r in caplog.records if "without a messageId" in r.getMessage()]
    assert len(skipped) == len(UNNAMED)


def test_an_event_without_records_is_an_empty_batch(
    config_dir: Path, idempotency_table: str
) -> None:
    api.reset_runtime(settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table))
    with Client(app) as client:
        for event in ({}, {"Records": None}, {"Records": "x"}):
            answer = client.lambda_.invoke("retry_pushes", event).payload
            assert answer == {"batchItemFailures": []}
