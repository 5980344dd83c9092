"""A config for rtc-pushserver pointing at running fakes: its applications.ini and settings.
Shared by the tests and the benchmarks."""

from __future__ import annotations

from pathlib import Path

from chalicelib.settings import Settings

from .credentials import TestCredentials, write_service_account
from .fake_fcm import FakeFcm

SYLK = "com.example.sylk"
LINPHONE = "com.example.linphone"


def write_config(
    base: Path,
    creds: TestCredentials,
    apns_url: str,
    fcm: FakeFcm,
    *,
    general: str = "[server]\n[applications]\n",
) -> Path:
    """A config directory `base`/config whose apps push to the fake APNs at `apns_url` and to
    the running fake FCM (its service account written beside it)."""
    config = base / "config"
    config.mkdir(exist_ok=True)
    account = write_service_account(creds, base / "service-account.json", fcm.token_uri)
    (config / "general.ini").write_text(general)
    (config / "applications.ini").write_text(applications_ini(creds, apns_url, fcm, account))
    return config


def applications_ini(creds: TestCredentials, apns_url: str, fcm: FakeFcm, account: Path) -> str:
    """Four apps: sylk and linphone on both platforms; APNs certificate auth for sylk (the
    test certificate is issued for its bundle) and token auth for linphone."""
    return f"""
[sylk-ios]
app_id = {SYLK}
app_type = sylk
app_platform = apple
apple_push_url = {apns_url}
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
apple_push_url = {apns_url}
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


def settings_for(config_dir: Path, **env: str) -> Settings:
    values = {
        "CONFIG_DIR": str(config_dir),
        "DATA_DIR": str(config_dir.parent / "data"),
        "CONFIG_CHECK_INTERVAL": "0",
        "PNS_READ_TIMEOUT": "1.5",  # short: hang tests stay quick
        **env,
    }
    return Settings.from_env(values)
