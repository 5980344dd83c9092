"""Every error path of the contract's table answers the envelope, never a 500 or a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import api, delivery
from fakepns.fake_apns import FakeApns, Reply
from fakepns.fake_fcm import FakeFcm
from fakepns.fake_fcm import Reply as FcmReply
from fakepns.server_config import SYLK, settings_for
from tests.helpers import call
from tests.test_push_v1 import BACKGROUND_TOKEN, FCM_TOKEN, VOIP_TOKEN, body


def assert_envelope(answer: Any, status: int) -> None:
    assert set(answer) == {"code", "description", "data"}
    assert answer["code"] == status
    assert isinstance(answer["description"], str) and answer["description"]
    assert "Traceback" not in json.dumps(answer)


def test_index_and_health(client: Client) -> None:
    status, answer = call(client, "GET", "/")
    assert status == 200
    assert answer["description"] == "rtc-pushserver"
    assert answer["data"]["version"]
    status, answer = call(client, "GET", "/health")
    assert status == 200
    assert set(answer["data"]["apps"]) == {
        "com.example.sylk (apple)",
        "com.example.sylk (firebase)",
        "com.example.linphone (apple)",
        "com.example.linphone (firebase)",
    }
    assert answer["data"]["unavailable"] == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty body"),
        (b"   ", "empty body"),
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b"\xff\xfe", "body is not valid JSON"),
    ],
)
def test_unparsable_bodies_are_400(client: Client, raw: bytes, message: str) -> None:
    status, answer = call(client, "POST", "/push", raw)
    assert status == 400
    assert_envelope(answer, 400)
    assert answer["description"].startswith(message)


def test_missing_fields_are_named_in_one_sorted_message(client: Client) -> None:
    status, answer = call(
        client, "POST", "/push", {"app-id": SYLK, "platform": "ios", "badge": "x"}
    )
    assert status == 400
    assert_envelope(answer, 400)
    # the app type's rules (sylk: event, media-type) in the same round as the models'
    expected = ["badge", "call-id", "event", "from", "media-type", "to", "token"]
    assert list(answer["data"]["errors"]) == expected
    assert answer["description"].startswith("invalid request: badge: ")


def test_app_type_rules_are_400(client: Client) -> None:
    request = body(SYLK, "ios", None)
    del request["media-type"]
    status, answer = call(client, "POST", "/push", request)
    assert status == 400
    assert answer["data"]["errors"] == {
        "event": "required for sylk apps",
        "media-type": "required unless event is cancel: "
        "one of audio, video, image, chat, sms, file-transfer",
    }


def test_wrong_types_and_huge_strings_are_400(client: Client) -> None:
    request = body(SYLK, "ios", "incoming_session", silent="maybe", to="x" * 5000)
    status, answer = call(client, "POST", "/push", request)
    assert status == 400
    assert set(answer["data"]["errors"]) == {"to", "silent"}


def test_body_over_64_kib_is_413(client: Client) -> None:
    status, answer = call(client, "POST", "/push", {"pad": "x" * 70_000})
    assert status == 413
    assert_envelope(answer, 413)


@pytest.mark.parametrize(
    ("platform", "app_id", "description"),
    [
        ("ios", "com.unknown", "Apple com.unknown app is not configured"),
        ("android", "com.unknown", "Firebase com.unknown app is not configured"),
        (
            "blackberry",
            SYLK,
            "'blackberry' platform is not configured: "
            "use apple (or ios, apns) or firebase (or android, fcm)",
        ),
    ],
)
def test_unknown_app_or_platform_is_404(
    client: Client, platform: str, app_id: str, description: str
) -> None:
    status, answer = call(client, "POST", "/push", body(app_id, platform, "incoming_session"))
    assert status == 404
    assert_envelope(answer, 404)
    assert answer["description"] == description


def test_underscore_aliases_and_case_insensitive_platform(client: Client, apns: FakeApns) -> None:
    request = body(SYLK, "iOS", "incoming_conference")
    request["from_display_name"] = request.pop("from-display-name")
    request["call_id"] = request.pop("call-id")
    status, _ = call(client, "POST", "/push", request)
    assert status == 200
    assert apns.received[0].json["from_display_name"] == "Alice"
    assert apns.received[0].json["event"] == "incoming_conference_request"


def test_allowed_hosts_denies_before_validation(config_dir: Path) -> None:
    general = "[server]\nallowed_hosts = 10.0.0.0/8, 192.0.2.1\n[applications]\n"
    (config_dir / "general.ini").write_text(general)
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", b"{broken")
    assert status == 403
    assert answer == {"code": 403, "description": "access denied by access list", "data": {}}


def test_api_key_is_required_when_configured(config_dir: Path, apns: FakeApns) -> None:
    api.reset_runtime(settings_for(config_dir, API_KEY="s3cret"))
    with Client(app) as client:
        denied, _ = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
        wrong, _ = call(
            client, "POST", "/push", body(SYLK, "ios", "incoming_session"), **{"x-api-key": "nope"}
        )
        ok, _ = call(
            client,
            "POST",
            "/push",
            body(SYLK, "ios", "incoming_session"),
            **{"x-api-key": "s3cret"},
        )
    assert (denied, wrong, ok) == (403, 403, 200)
    assert len(apns.received) == 1


@pytest.mark.parametrize(
    ("status", "reason", "token", "event"),
    [
        (410, "Unregistered", VOIP_TOKEN, "incoming_session"),
        (400, "BadDeviceToken", VOIP_TOKEN, "incoming_session"),
        (410, "ExpiredToken", BACKGROUND_TOKEN, "cancel"),
    ],
)
def test_dead_apple_tokens_are_410_with_the_reason(
    client: Client, apns: FakeApns, status: int, reason: str, token: str, event: str
) -> None:
    apns.script(token, Reply(status, reason))
    code, answer = call(client, "POST", "/push", body(SYLK, "ios", event))
    assert code == 410
    assert answer["data"]["code"] == 410
    assert answer["data"]["reason"].startswith(f"{reason} - ")
    assert answer["data"]["body"]["reason"] == reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "BadTopic"),
        (413, "PayloadTooLarge"),
        (403, "Forbidden"),
        (400, "DeviceTokenNotForTopic"),
    ],
)
def test_other_apple_rejections_keep_the_pns_status(
    client: Client, apns: FakeApns, status: int, reason: str
) -> None:
    apns.script(VOIP_TOKEN, Reply(status, reason))
    code, answer = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert code == status
    assert answer["data"]["reason"].startswith(reason)


def test_dead_fcm_tokens_are_410(client: Client, fcm: FakeFcm) -> None:
    fcm.script(FCM_TOKEN, FcmReply.unregistered(), FcmReply.invalid_token())
    first, a = call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    second, b = call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert (first, second) == (410, 410)
    assert a["data"]["reason"].startswith("UNREGISTERED")
    assert "registration token" in b["data"]["reason"]


def test_fcm_sender_mismatch_is_403(client: Client, fcm: FakeFcm) -> None:
    fcm.script(FCM_TOKEN, FcmReply.sender_id_mismatch())
    code, answer = call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert code == 403
    assert answer["data"]["reason"].startswith("SENDER_ID_MISMATCH")


def test_unexpected_error_is_500_with_an_error_id(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(jobs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(delivery, "deliver", broken)
    status, answer = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 500
    assert_envelope(answer, 500)
    assert answer["data"]["error-id"]
    assert "boom" not in json.dumps(answer)


def test_broken_credentials_are_reported_and_do_not_stop_other_apps(
    config_dir: Path, apns: FakeApns, fcm: FakeFcm
) -> None:
    bad_key = config_dir / "bad.p8"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    apps = (config_dir / "applications.ini").read_text()
    apps = apps.replace("[linphone-ios]", "[linphone-ios]\n", 1)
    start = apps.index("apple_key = ")
    end = apps.index("\n", start)
    apps = apps[:start] + f"apple_key = {bad_key}" + apps[end:]
    apps += "\n[legacy-fcm]\napp_id = com.legacy\napp_type = sylk\napp_platform = firebase\n"
    apps += "firebase_authorization_key = AAAA\n"
    (config_dir / "applications.ini").write_text(apps)
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "GET", "/health")
        assert status == 200
        assert answer["description"] == "degraded"
        unavailable = answer["data"]["unavailable"]
        assert set(unavailable) == {"linphone-ios", "legacy-fcm"}
        assert "legacy FCM API was shut down by Google in 2024" in unavailable["legacy-fcm"]
        assert "credentials of [linphone-ios] are not usable" in unavailable["linphone-ios"]
        status, answer = call(client, "POST", "/push", body("com.example.linphone", "ios", None))
        assert status == 502
        assert "not usable" in answer["data"]["reason"]
        status, _ = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
        assert status == 200
    assert len(apns.received) == 1


def test_each_push_is_counted_in_its_own_log_line(
    client: Client, apns: FakeApns, capsys: pytest.CaptureFixture[str], log_file: Path
) -> None:
    call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    apns.script(VOIP_TOKEN, Reply(410, "Unregistered"))
    call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    blobs = [line for line in lines if "_aws" in line]
    # the push's log line is its EMF document: no second line, no separate metrics blob
    assert [blob["message"] for blob in blobs] == ["push delivered", "push dead-token"]
    assert '"_aws"' not in capsys.readouterr().out
    counted = [name for blob in blobs for name in blob if name.startswith("Push")]
    assert counted == ["PushDelivered", "PushDeadToken"]
    directive = blobs[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "RtcPushserver"
    assert set(directive["Dimensions"][0]) == {"service", "app_id", "platform"}
    assert (blobs[0]["app_id"], blobs[0]["platform"]) == (SYLK, "apple")
    assert all(blob["PnsLatency"] > 0 for blob in blobs)


def test_a_push_line_says_each_thing_once(client: Client, apns: FakeApns, log_file: Path) -> None:
    """CloudWatch bills every byte: the time only in EMF's `_aws.Timestamp`, the event only
    in the request_id, counts without a unit (EMF's default), values as plain numbers."""
    call(client, "POST", "/push", body(SYLK, "ios", "incoming_session", **{"call-id": "c-9"}))
    text = next(t for t in log_file.read_text().splitlines() if '"push delivered"' in t)
    line = json.loads(text)
    assert "timestamp" not in line and "event" not in line
    assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 60
    assert line["request_id"] == f"incoming_session-{SYLK}-c-9"
    units = {m["Name"]: m.get("Unit") for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"PushDelivered": None, "PnsLatency": "Milliseconds"}
    assert line["PushDelivered"] == 1
    assert len(text.encode()) < 600  # was 663 bytes with every field said twice


def test_openapi_document_describes_every_route(client: Client) -> None:
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.body)
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/",
        "/health",
        "/push",
        "/v2/tokens/{account}",
        "/v2/tokens/{account}/push",
        "/v2/tokens/{account}/push/{device}",
    }
    push = doc["components"]["schemas"]["PushRequest"]
    assert {"app-id", "call-id", "from", "token"} <= set(push["required"])


def test_a_token_that_cannot_be_part_of_a_url_is_400(client: Client) -> None:
    for token in ("abc/../def", "ab cd", "t\u00f6ken", "ab?x=1"):
        status, answer = call(
            client, "POST", "/push", {**body(SYLK, "ios", "incoming_session"), "token": token}
        )
        assert status == 400, token
        assert list(answer["data"]["errors"]) == ["token"]
