"""Shared fixtures: generated credentials, the fake APNs/FCM servers, a config directory
pointing at them, and the Chalice app with a fresh runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import api, audit
from fakepns.credentials import TestCredentials, make_credentials
from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK, settings_for, write_config

pytest_plugins = ["tests.aws"]


@pytest.fixture(scope="session")
def creds(tmp_path_factory: pytest.TempPathFactory) -> TestCredentials:
    return make_credentials(tmp_path_factory.mktemp("credentials"))


@pytest.fixture(scope="session")
def apns_server(creds: TestCredentials) -> Iterator[FakeApns]:
    topics = (SYLK, f"{SYLK}.voip", LINPHONE, f"{LINPHONE}.voip")
    with FakeApns(creds, client_auth="optional", topics=topics) as server:
        yield server


@pytest.fixture(scope="session")
def fcm_server(creds: TestCredentials) -> Iterator[FakeFcm]:
    with FakeFcm(creds) as server:
        yield server


@pytest.fixture
def apns(apns_server: FakeApns) -> FakeApns:
    apns_server.reset()
    return apns_server


@pytest.fixture
def fcm(fcm_server: FakeFcm) -> FakeFcm:
    fcm_server.reset()
    return fcm_server


@pytest.fixture
def config_dir(tmp_path: Path, creds: TestCredentials, apns: FakeApns, fcm: FakeFcm) -> Path:
    general = "[server]\nreturn_async = true\n[applications]\n"
    return write_config(tmp_path, creds, apns.url, fcm, general=general)


@pytest.fixture
def client(config_dir: Path) -> Iterator[Client]:
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The JSON log file every line is also written to during the test."""
    path = tmp_path / "logs" / "pushserver.jsonl"
    handler = audit.log_to_file(path)
    try:
        yield path
    finally:
        logging.getLogger(audit.logger.name).removeHandler(handler)
        handler.close()
