"""Custom app types from `extra_applications_dir`, as the original's plug-ins."""

from __future__ import annotations

from pathlib import Path

from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.credentials import TestCredentials
from fakepns.fake_apns import FakeApns
from fakepns.server_config import settings_for
from tests.helpers import call
from tests.test_push_v1 import VOIP_TOKEN, body

PLUGIN = '''
from chalicelib.apps.sylk import Sylk


class Branded(Sylk):
    """Sylk pushes that also say which brand rings."""

    name = "branded"

    def build(self, request, *, deadline, now):
        notification = super().build(request, deadline=deadline, now=now)
        notification.payload["brand"] = "Example Phone"
        return notification


APP_TYPE = Branded()
'''


def section(name: str, app_type: str, creds: TestCredentials, url: str) -> str:
    return (
        f"[{name}]\napp_id = com.example.{name}\napp_type = {app_type}\napp_platform = apple\n"
        f"apple_push_url = {url}\napple_key = {creds.apns_p8}\nkey_id = {creds.apns_key_id}\n"
        f"team_id = {creds.apns_team_id}\ntls_ca_file = {creds.ca_cert}\n"
    )


def test_a_custom_app_type_is_loaded_and_a_broken_one_reported(
    config_dir: Path, creds: TestCredentials
) -> None:
    plugins = config_dir / "applications"
    plugins.mkdir()
    (plugins / "branded.py").write_text(PLUGIN)
    (plugins / "broken.py").write_text("def broken(:\n")
    topics = ("com.example.brand", "com.example.brand.voip")
    with FakeApns(creds, topics=topics) as apns:
        (config_dir / "applications.ini").write_text(
            section("brand", "branded", creds, apns.url)
            + section("oops", "broken", creds, apns.url)
            + section("ghost", "nosuchtype", creds, apns.url)
        )
        api.reset_runtime(settings_for(config_dir))
        with Client(app) as client:
            _, health = call(client, "GET", "/health")
            status, answer = call(
                client, "POST", "/push", body("com.example.brand", "ios", "incoming_session")
            )
        assert status == 200, answer
        assert apns.received[0].json["brand"] == "Example Phone"
        assert apns.received[0].token == VOIP_TOKEN
    unavailable = health["data"]["unavailable"]
    assert set(unavailable) == {"oops", "ghost"}
    assert "broken.py failed to load: SyntaxError" in unavailable["oops"]
    assert "nosuchtype.py" in unavailable["ghost"]
