"""A container started with an AWS stage's settings but no table or queue: every route
answers 503 in the envelope naming what is missing, the retry consumer refuses its batch
(SQS redelivers it), one ERROR line is logged, and nothing local is touched."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import api, audit
from chalicelib.settings import SettingsError
from fakepns.server_config import SYLK
from tests.helpers import call

MISSING = ("TOKENS_TABLE", "RETRY_QUEUE_URL", "IDEMPOTENCY_TABLE")


@pytest.fixture
def unready(config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    for name, value in {
        "STAGE": "prod",
        "TOKEN_STORE": "dynamodb",
        "RETRY_QUEUE": "sqs",
        "CONFIG_DIR": str(config_dir),
        "DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in MISSING:
        monkeypatch.delenv(name, raising=False)
    api.forget_runtime()  # a cold start: the runtime is built from this environment
    try:
        with Client(app) as client:
            yield client
    finally:
        api.forget_runtime()


def test_every_route_answers_503_naming_what_is_missing(
    unready: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    push = {"app-id": SYLK, "platform": "ios", "token": "ab" * 32, "call-id": "c", "event": "x"}
    calls = [
        ("GET", "/", None),
        ("GET", "/health", None),
        ("GET", "/openapi.json", None),
        ("POST", "/push", push),
        ("POST", "/v2/tokens/alice@example.com", {"app-id": SYLK}),
        ("POST", "/v2/tokens/alice@example.com/push", {"event": "x"}),
        ("DELETE", "/v2/tokens/alice@example.com", {"device-id": "d"}),
        ("GET", "/nowhere", None),
        ("DELETE", "/push", None),
    ]
    for method, path, body in calls:
        status, answer = call(unready, method, path, body)
        assert status == 503, (method, path, answer)
        assert answer["code"] == 503
        assert answer["description"].startswith("settings not usable: TOKENS_TABLE is missing")
        assert [p.split()[0] for p in answer["data"]["settings"]] == list(MISSING)
    with pytest.raises(SettingsError):
        unready.lambda_.invoke("retry_pushes", {"Records": []})
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["settings not usable: every route answers 503"]
    line = json.loads(audit.logger.registered_formatter.format(errors[0]))
    assert [p.split()[0] for p in line["problems"]] == list(MISSING)
    assert not (tmp_path / "data").exists()  # no SQLite store, no in-process queue
