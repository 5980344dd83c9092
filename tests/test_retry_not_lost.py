"""A push is never acknowledged unsent: the retry consumer that cannot queue the next attempt
keeps its message (regression), and return_async = false reports the devices it could not
accept (regression)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.fake_apns import FakeApns, Reply
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call, retries_through_sqs
from tests.test_push_v1 import VOIP_TOKEN, body


@pytest.fixture
def sqs(moto_server: str) -> Any:
    import boto3

    return boto3.client("sqs")


def test_a_retry_that_cannot_be_queued_again_is_kept_for_redelivery(
    config_dir: Path, apns: FakeApns, sqs: Any, idempotency_table: str
) -> None:
    queue_url = retries_through_sqs(config_dir, sqs, idempotency_table)
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"), Reply(503, "ServiceUnavailable"))
    request = body(SYLK, "ios", "incoming_session", **{"call-id": "kept-1"})
    with Client(app) as client:
        assert call(client, "POST", "/push", request)[0] == 202
        [queued] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
        sqs.delete_queue(QueueUrl=queue_url)  # SQS now refuses the next attempt
        record = {"messageId": queued["MessageId"], "receiptHandle": "r", "body": queued["Body"]}
        answer = client.lambda_.invoke("retry_pushes", {"Records": [record]}).payload
        assert answer == {"batchItemFailures": [{"itemIdentifier": queued["MessageId"]}]}
        # delivered again (the queue works again): the push goes out this time
        answer = client.lambda_.invoke("retry_pushes", {"Records": [record]}).payload
        assert answer == {"batchItemFailures": []}
    assert [r.json["call-id"] for r in apns.received] == ["kept-1"]


def test_return_async_false_reports_the_devices_it_could_not_accept(
    config_dir: Path, apns: FakeApns
) -> None:
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.01"))
    account = "/v2/tokens/alice@example.com"
    with Client(app) as client:
        for app_id, device in ((SYLK, "kept"), (LINPHONE, "orphan")):
            token = {"app-id": app_id, "platform": "ios", "token": VOIP_TOKEN, "device-id": device}
            assert call(client, "POST", account, token)[0] == 200
    apps = (config_dir / "applications.ini").read_text()
    apps = apps.replace("[linphone-ios]", "[linphone-ios-gone]").replace(
        f"app_id = {LINPHONE}\napp_type = linphone\napp_platform = apple",
        "app_id = com.example.gone\napp_type = linphone\napp_platform = apple",
    )
    (config_dir / "applications.ini").write_text(apps)
    (config_dir / "general.ini").write_text("[server]\nreturn_async = false\n[applications]\n")
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.01"))
    push = {"event": "incoming_session", "call-id": "c", "from": "a@x", "to": "b@x"}
    with Client(app) as client:
        status, answer = call(client, "POST", f"{account}/push", {**push, "media-type": "audio"})
        assert (status, answer["description"]) == (202, "accepted for delivery")
        results = {r["device-id"]: r for r in answer["data"]}
        assert results["kept"]["code"] == 202
        assert results["orphan"]["code"] == 404
        assert "not configured" in results["orphan"]["reason"]
        apns.wait_for_received(1)
        status, answer = call(client, "POST", f"{account}/push/orphan", push)
        assert status == 200
        assert [r["code"] for r in answer["data"]] == [404]  # nothing accepted: not a 202


def test_without_partial_batch_responses_a_failed_retry_fails_the_batch(
    config_dir: Path, apns: FakeApns, idempotency_table: str
) -> None:
    """chalice deploy's mapping ignores a returned failure list and deletes the whole batch
    (regression: a failed retry was lost); the batch fails and comes back whole instead, and
    what was pushed is not pushed again."""
    from tests.retry.test_malformed_records import good_message

    settings = settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table)
    records = [
        {"messageId": "pushed", "receiptHandle": "r", "body": good_message("batch-1")},
        {"messageId": "broken", "receiptHandle": "r", "body": "{broken"},
    ]
    api.reset_runtime(
        settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table, RETRY_PARTIAL_BATCH="false")
    )
    with Client(app) as client:
        for _ in range(2):  # delivered, then delivered again by SQS
            with pytest.raises(api.RetryBatchFailed, match="1 retries failed"):
                client.lambda_.invoke("retry_pushes", {"Records": records})
    assert [r.json["call-id"] for r in apns.received] == ["batch-1"]
    # with partial batch responses (the packaged stack) the failure list is the answer
    api.reset_runtime(settings)
    with Client(app) as client:
        answer = client.lambda_.invoke("retry_pushes", {"Records": records}).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
