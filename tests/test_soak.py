"""A small soak in the test suite; `make soak` runs the full 1,000 (bench/soak.py)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3

from bench.soak_harness import run_soak, soak_settings, sqs_pump
from chalicelib.retry.idempotency import create_idempotency_table
from chalicelib.retry.sqs import create_queues
from fakepns.fake_apns import FakeApns

COUNT = int(os.environ.get("SOAK_COUNT", "60"))


def test_soak_through_the_local_scheduler(config_dir: Path, apns: FakeApns) -> None:
    settings = soak_settings(config_dir, RETRY_DELAY_SCALE="0.05")
    result = run_soak(apns, settings, COUNT, timeout=30)
    assert result.duplicates == 0
    assert result.lost == 0
    assert result.delivered + result.expired == COUNT
    assert result.attempts > COUNT  # failures really happened and were retried


def test_soak_through_sqs_on_moto(config_dir: Path, apns: FakeApns, moto_server: str) -> None:
    name = f"soak-{uuid.uuid4().hex[:8]}"
    sqs = boto3.client("sqs")
    queue_url, _ = create_queues(sqs, name)
    table = f"{name}-idempotency"
    create_idempotency_table(boto3.client("dynamodb"), table)
    settings = soak_settings(
        config_dir, RETRY_QUEUE="sqs", RETRY_QUEUE_URL=queue_url, IDEMPOTENCY_TABLE=table
    )
    result = run_soak(apns, settings, COUNT, pump=sqs_pump(queue_url, sqs), timeout=60)
    assert result.duplicates == 0
    assert result.lost == 0
    assert result.delivered + result.expired == COUNT
    assert result.attempts > COUNT
