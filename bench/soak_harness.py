"""Soak: many pushes while the fake APNs fails a share of them at random; every push must
end delivered exactly once or logged as expired. Used by tests/test_soak.py (small count)
and bench/soak.py (full count).

The SQS variant plays Lambda's event source mapping itself (moto runs none): it receives
from the moto queue, invokes the Chalice SQS handler and deletes what the handler did not
report as failed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.test import Client

from app import app
from bench.moto_process import moto_in_child_process
from chalicelib import api
from chalicelib.retry.idempotency import create_idempotency_table
from chalicelib.retry.sqs import create_queues
from chalicelib.settings import Settings
from fakepns.credentials import make_credentials
from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK, write_config


@dataclass
class SoakResult:
    sent: int
    delivered: int
    duplicates: int
    expired: int
    lost: int
    seconds: float
    attempts: int


class _Expired(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.call_ids: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "push expired":
            self.call_ids.add(str(getattr(record, "call_id", "")))


def _body(n: int) -> dict[str, Any]:
    return {
        "app-id": SYLK,
        "platform": "ios",
        "event": "incoming_session",
        "token": f"{n + 1:064x}",
        "device-id": f"soak-{n}",
        "call-id": f"soak-{n}",
        "from": "alice@example.com",
        "to": "bob@example.com",
        "media-type": "audio",
    }


def run_soak(
    apns: FakeApns,
    settings: Settings,
    count: int,
    *,
    pump: Callable[[Client], None] | None = None,
    timeout: float = 60.0,
    failure_rate: float = 1 / 3,
) -> SoakResult:
    """Push `count` times (pumping SQS all along when given, as Lambda's event source does),
    then wait until every push is accounted for or `timeout` passes."""
    expired = _Expired()
    logger = logging.getLogger("pushserver")
    logger.addHandler(expired)
    apns.fail_randomly(failure_rate, seed=7)
    started = time.monotonic()
    stop = threading.Event()

    def consume(client: Client) -> None:
        # Lambda's event source polls the queue all along, not once the pushes stopped
        # coming: retries due while pushes arrive are handled then, within their deadlines
        while pump is not None and not stop.is_set():
            pump(client)
            time.sleep(0.02)

    try:
        api.reset_runtime(settings)
        with Client(app) as client:
            consumer = threading.Thread(target=consume, args=(client,), daemon=True)
            consumer.start()
            headers = {"Content-Type": "application/json"}
            for n in range(count):
                response = client.http.post("/push", headers=headers, body=json.dumps(_body(n)))
                assert response.status_code in (200, 202), response.body
            while time.monotonic() - started < timeout:
                done = {r.headers.get("apns-id") for r in apns.received}
                if len(done) + len(expired.call_ids) >= count:
                    break
                time.sleep(0.05)
            time.sleep(0.3)  # a duplicate would arrive now
            stop.set()
            consumer.join(30)
    finally:
        stop.set()
        apns.fail_randomly(0.0)
        logger.removeHandler(expired)
    ids = [r.headers.get("apns-id") for r in apns.received]
    delivered_calls = {r.json["call-id"] for r in apns.received}
    accounted = delivered_calls | expired.call_ids
    return SoakResult(
        sent=count,
        delivered=len(set(ids)),
        duplicates=len(ids) - len(set(ids)),
        expired=len(expired.call_ids),
        lost=count - len(accounted),
        seconds=time.monotonic() - started,
        attempts=len(apns.attempts),
    )


def sqs_pump(queue_url: str, sqs: Any) -> Callable[[Client], None]:
    """One poll of the retry queue, handled like Lambda's event source mapping does."""

    def pump(client: Client) -> None:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        if not messages:
            return
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in messages
        ]
        payload = client.lambda_.invoke("retry_pushes", {"Records": records}).payload
        failed = {f["itemIdentifier"] for f in (payload or {}).get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    return pump


def soak_env(config_dir: Path, **env: str) -> dict[str, str]:
    """The environment of a function instance that reads its config from `config_dir`."""
    return {"CONFIG_DIR": str(config_dir), "DATA_DIR": str(config_dir.parent / "data"), **env}


def soak_settings(config_dir: Path, **env: str) -> Settings:
    return Settings.from_env(soak_env(config_dir, **env))


@contextmanager
def moto_server() -> Iterator[None]:
    """moto in server mode in child processes (bench/moto_process.py), reached through
    AWS_ENDPOINT_URL: one for SQS, one for the other services, so that the idempotency
    records' DynamoDB calls do not queue behind moto's SQS walks (the emulator's SQS is the
    bottleneck of the benchmarks)."""
    with moto_in_child_process() as sqs, moto_in_child_process() as others:
        os.environ.update(
            AWS_ENDPOINT_URL=others,
            AWS_ENDPOINT_URL_SQS=sqs,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="eu-west-1",
        )
        yield


@contextmanager
def fake_stack() -> Iterator[tuple[FakeApns, Path]]:
    """moto, fresh credentials, the fake APNs and FCM, and a config directory pointing at
    them: what the soak and the outage benchmarks both run against."""
    with moto_server(), tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        creds = make_credentials(base / "creds")
        topics = (SYLK, f"{SYLK}.voip", LINPHONE, f"{LINPHONE}.voip")
        with FakeApns(creds, topics=topics) as apns, FakeFcm(creds) as fcm:
            yield apns, write_config(base, creds, apns.url, fcm)


def sqs_env(prefix: str, *, visibility_timeout: int | None = None) -> tuple[dict[str, str], Any]:
    """A new moto queue with its idempotency table: (the environment that sends retries
    through them, SQS client)."""
    import boto3

    sqs = boto3.client("sqs")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    options = {} if visibility_timeout is None else {"visibility_timeout": visibility_timeout}
    queue_url, _ = create_queues(sqs, name, **options)
    create_idempotency_table(boto3.client("dynamodb"), f"{name}-idem")
    env = {"RETRY_QUEUE": "sqs", "RETRY_QUEUE_URL": queue_url, "IDEMPOTENCY_TABLE": f"{name}-idem"}
    return env, sqs


def sqs_settings(
    config_dir: Path, prefix: str, *, visibility_timeout: int | None = None, **env: str
) -> tuple[Settings, str, Any]:
    """Settings whose retries go through a new moto queue with its idempotency table:
    (settings, queue URL, SQS client)."""
    queue_env, sqs = sqs_env(prefix, visibility_timeout=visibility_timeout)
    return soak_settings(config_dir, **queue_env, **env), queue_env["RETRY_QUEUE_URL"], sqs
