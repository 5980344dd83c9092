"""Shared fixtures: generated credentials, the fake APNs/FCM servers, a config directory
pointing at them, and the Chalice app with a fresh runtime."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Short PNS timeouts keep hang tests quick; set before the push services are imported.
os.environ.setdefault("PNS_READ_TIMEOUT", "1.5")

from chalice.test import Client

from app import app
from chalicelib import api
from chalicelib.settings import Settings
from tests.servers.credentials import (
    TestCredentials,
    make_credentials,
    write_service_account,
)
from tests.servers.fake_apns import FakeApns
from tests.servers.fake_fcm import FakeFcm

pytest_plugins = ["tests.aws"]

SYLK = "com.example.sylk"
LINPHONE = "com.example.linphone"


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


def applications_ini(creds: TestCredentials, apns: FakeApns, fcm: FakeFcm, account: Path) -> str:
    """Four apps: sylk and linphone on both platforms; APNs certificate auth for sylk (the
    test certificate is issued for its bundle) and token auth for linphone."""
    return f"""
[sylk-ios]
app_id = {SYLK}
app_type = sylk
app_platform = apple
apple_push_url = {apns.url}
apple_certificate = {creds.client_combined}
tls_ca_file = {creds.ca_cert}

[sylk-android]
app_id = {SYLK}
app_type = sylk
app_platform = firebase
firebase_push_url = {fcm.send_url}
firebase_authorization_file = {account}
tls_ca_file = {creds.ca_cert}

[linphone-ios]
app_id = {LINPHONE}
app_type = linphone
app_platform = apple
apple_push_url = {apns.url}
apple_key = {creds.apns_p8}
key_id = {creds.apns_key_id}
team_id = {creds.apns_team_id}
tls_ca_file = {creds.ca_cert}

[linphone-android]
app_id = {LINPHONE}
app_type = linphone
app_platform = firebase
firebase_push_url = {fcm.send_url}
firebase_authorization_file = {account}
tls_ca_file = {creds.ca_cert}
"""


@pytest.fixture
def config_dir(tmp_path: Path, creds: TestCredentials, apns: FakeApns, fcm: FakeFcm) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    account = write_service_account(creds, tmp_path / "service-account.json", fcm.token_uri)
    (directory / "general.ini").write_text("[server]\nreturn_async = true\n[applications]\n")
    (directory / "applications.ini").write_text(applications_ini(creds, apns, fcm, account))
    return directory


def settings_for(config_dir: Path, **env: str) -> Settings:
    values = {
        "CONFIG_DIR": str(config_dir),
        "DATA_DIR": str(config_dir.parent / "data"),
        "CONFIG_CHECK_INTERVAL": "0",
        **env,
    }
    return Settings.from_env(values)


@pytest.fixture
def client(config_dir: Path) -> Iterator[Client]:
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as test_client:
        yield test_client


def call(
    client: Client, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """One API call; returns (HTTP status, decoded JSON body)."""
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    all_headers = {"Content-Type": "application/json", **headers}
    response = getattr(client.http, method.lower())(path, headers=all_headers, body=raw or b"")
    return response.status_code, json.loads(response.body)
