"""Credentials named `secretsmanager:<id>` are read from Secrets Manager (moto server)."""

from __future__ import annotations

from pathlib import Path

import boto3
from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.credentials import TestCredentials
from fakepns.fake_apns import FakeApns
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call
from tests.test_push_v1 import body


def test_apns_certificate_from_secrets_manager(
    config_dir: Path, creds: TestCredentials, apns: FakeApns, moto_server: str
) -> None:
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name="rtc-pushserver/apns-cert", SecretString=creds.client_combined.read_text()
    )
    (config_dir / "applications.ini").write_text(
        f"[sylk-ios]\napp_id = {SYLK}\napp_type = sylk\napp_platform = apple\n"
        f"apple_push_url = {apns.url}\n"
        "apple_certificate = secretsmanager:rtc-pushserver/apns-cert\n"
        f"tls_ca_file = {creds.ca_cert}\n"
    )
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "GET", "/health")
        assert answer["data"]["unavailable"] == {}
        status, answer = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 200, answer
    assert apns.received[0].auth == "certificate"


def test_a_missing_secret_makes_the_app_unavailable(
    config_dir: Path, creds: TestCredentials, moto_server: str
) -> None:
    (config_dir / "applications.ini").write_text(
        f"[sylk-ios]\napp_id = {SYLK}\napp_type = sylk\napp_platform = apple\n"
        "apple_push_url = https://127.0.0.1:9\n"
        "apple_certificate = secretsmanager:rtc-pushserver/nope\n"
    )
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "GET", "/health")
    assert status == 200
    assert "cannot read secret rtc-pushserver/nope" in answer["data"]["unavailable"]["sylk-ios"]


def test_a_rotated_secret_is_read_again_after_the_pns_refuses_the_old_one(
    config_dir: Path, creds: TestCredentials, apns: FakeApns, moto_server: str
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    wrong = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secrets = boto3.client("secretsmanager")
    name = "rtc-pushserver/rotated-p8"
    secrets.create_secret(Name=name, SecretString=wrong.decode())
    (config_dir / "applications.ini").write_text(
        f"[linphone-ios]\napp_id = {LINPHONE}\napp_type = linphone\napp_platform = apple\n"
        f"apple_push_url = {apns.url}\napple_key = secretsmanager:{name}\n"
        f"key_id = {creds.apns_key_id}\nteam_id = {creds.apns_team_id}\n"
        f"tls_ca_file = {creds.ca_cert}\n"
    )
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", body(LINPHONE, "ios", None))
        assert status == 403
        assert answer["data"]["reason"].startswith("InvalidProviderToken")
        secrets.put_secret_value(SecretId=name, SecretString=creds.apns_p8.read_text())
        status, answer = call(client, "POST", "/push", body(LINPHONE, "ios", None))
    assert status == 200, answer
    assert len(apns.received) == 1
