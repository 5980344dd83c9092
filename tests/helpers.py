"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chalice.test import Client


def call(
    client: Client, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """One API call; returns (HTTP status, decoded JSON body)."""
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    all_headers = {"Content-Type": "application/json", **headers}
    response = getattr(client.http, method.lower())(path, headers=all_headers, body=raw or b"")
    return response.status_code, json.loads(response.body)


def read_lines(path: Path, start: int = 0) -> list[dict[str, Any]]:
    """The log lines written from byte `start` on; fails on any that is not a JSON object."""
    with path.open("rb") as file:
        file.seek(start)
        lines = [json.loads(raw) for raw in file.read().splitlines() if raw.strip()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


def retries_through_sqs(config_dir: Path, sqs: Any, idempotency_table: str) -> str:
    """A fresh runtime whose retries go through a new moto queue (its URL is returned) and
    whose consumer keeps its idempotency records in `idempotency_table`."""
    from chalicelib import api
    from chalicelib.retry.sqs import create_queues
    from fakepns.server_config import settings_for

    queue_url, _ = create_queues(sqs, f"retry-{time.time_ns()}")
    api.reset_runtime(
        settings_for(
            config_dir,
            RETRY_QUEUE="sqs",
            RETRY_QUEUE_URL=queue_url,
            IDEMPOTENCY_TABLE=idempotency_table,
        )
    )
    return queue_url
