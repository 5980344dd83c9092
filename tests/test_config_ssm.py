"""Configuration kept in SSM parameters (moto server) applies without a restart."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import boto3
from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.fake_apns import FakeApns
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call
from tests.test_push_v1 import body


def test_config_from_ssm_is_reloaded_when_a_parameter_changes(
    config_dir: Path, apns: FakeApns, moto_server: str, tmp_path: Path
) -> None:
    ssm = boto3.client("ssm")
    path = f"/rtc-pushserver/{uuid.uuid4().hex[:8]}"
    apps = (config_dir / "applications.ini").read_text()
    sylk_only = apps[: apps.index("[linphone-ios]")]
    general = "[server]\n[applications]\n"
    ssm.put_parameter(Name=f"{path}/general.ini", Value=general, Type="String")
    ssm.put_parameter(Name=f"{path}/applications.ini", Value=sylk_only, Type="SecureString")
    settings = settings_for(
        tmp_path / "from-ssm", CONFIG_SSM_PATH=path, CONFIG_CHECK_INTERVAL="0.2"
    )
    api.reset_runtime(settings)
    with Client(app) as client:
        assert call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))[0] == 200
        status, answer = call(client, "POST", "/push", body(LINPHONE, "ios", None))
        assert (status, answer["description"]) == (404, f"Apple {LINPHONE} app is not configured")
        ssm.put_parameter(
            Name=f"{path}/applications.ini", Value=apps, Type="SecureString", Overwrite=True
        )
        time.sleep(0.3)
        assert call(client, "POST", "/push", body(LINPHONE, "ios", None))[0] == 200
    assert len(apns.received) == 2
