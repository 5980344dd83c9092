"""API v1 end to end: the Chalice app pushes through real HTTP/2 + TLS to the fake APNs/FCM."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import audit
from chalicelib.apps import BUILT_IN
from chalicelib.models import PushRequest, normalize_platform
from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK
from tests.helpers import call

VOIP_TOKEN = "aa" * 32
BACKGROUND_TOKEN = "bb" * 32
FCM_TOKEN = "fcm:token-with-dashes_0123456789"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

FIELDS: dict[str, Any] = {
    "call-id": "call-1@example.com",
    "from": "alice@example.com",
    "from-display-name": "Alice",
    "to": "bob@example.com",
    "media-type": "audio",
    "account": "room@conference.example.com",
    "content": "hello",
    "content-type": "text/plain",
    "reason": "completed elsewhere",
    "filename": "photo.png",
    "filetype": "image/png",
}


def body(app_id: str, platform: str, event: str | None, **extra: Any) -> dict[str, Any]:
    apple = normalize_platform(platform) == "apple"
    token = f"{VOIP_TOKEN}-{BACKGROUND_TOKEN}" if apple else FCM_TOKEN
    data = {"app-id": app_id, "platform": platform, "token": token, "device-id": "dev-1", **FIELDS}
    if event is not None:
        data["event"] = event
    return {**data, **extra}


SYLK_EVENTS = ["incoming_session", "incoming_conference_request", "cancel", "message", "transfer"]
# (app-id, event, apns-push-type, apns-topic, apns-priority, token part, expiration is a deadline)
APPLE_CASES = [
    (SYLK, "incoming_session", "voip", f"{SYLK}.voip", "10", VOIP_TOKEN, False),
    (SYLK, "incoming_conference_request", "voip", f"{SYLK}.voip", "10", VOIP_TOKEN, False),
    (SYLK, "cancel", "background", SYLK, "5", BACKGROUND_TOKEN, False),
    (SYLK, "message", "alert", SYLK, "5", BACKGROUND_TOKEN, True),
    (SYLK, "transfer", "alert", SYLK, "5", BACKGROUND_TOKEN, True),
    (LINPHONE, None, "voip", f"{LINPHONE}.voip", "10", VOIP_TOKEN, False),
    (LINPHONE, "incoming_session", "voip", f"{LINPHONE}.voip", "10", VOIP_TOKEN, False),
]


def expected_payload(app: str, request_body: dict[str, Any], received_at: float) -> dict[str, Any]:
    """What the app type builds for this request; the clock-dependent values are taken from
    the received push (they are asserted separately)."""
    request = PushRequest.model_validate(request_body)
    if request.event is None:
        request = request.model_copy(update={"event": "incoming_session"})
    app_name = "sylk" if request.app_id == SYLK else "linphone"
    deadline = received_at + (3600 if request.event in ("message", "transfer") else 64)
    return BUILT_IN[app_name].build(request, deadline=deadline, now=received_at).payload


@pytest.mark.parametrize(
    ("app_id", "event", "push_type", "topic", "priority", "token", "deadline"), APPLE_CASES
)
def test_apple_push_has_the_exact_headers_and_payload(
    client: Client,
    apns: FakeApns,
    app_id: str,
    event: str | None,
    push_type: str,
    topic: str,
    priority: str,
    token: str,
    deadline: bool,
) -> None:
    request = body(app_id, "ios", event)
    before = time.time()
    status, answer = call(client, "POST", "/push", request)
    assert status == 200, answer
    assert answer["code"] == 200
    assert answer["description"] == "push notification response"
    [got] = apns.received
    assert got.token == token
    apns_headers = {k: v for k, v in got.headers.items() if k.startswith("apns-")}
    expiration = apns_headers.pop("apns-expiration")
    apns_id = apns_headers.pop("apns-id")
    assert apns_headers == {
        "apns-push-type": push_type,
        "apns-topic": topic,
        "apns-priority": priority,
    }
    assert "content-available" not in got.headers
    assert UUID_RE.match(apns_id)
    if deadline:
        assert before + 3599 <= int(expiration) <= time.time() + 3600
    else:
        assert expiration == "0"
    assert got.auth == ("certificate" if app_id == SYLK else "token")
    assert ("authorization" in got.headers) == (app_id == LINPHONE)
    normalized = {**request, "platform": "apple"}
    expected = expected_payload(app_id, normalized, time.time())
    if "send-time" in got.json.get("aps", {}) or "send-time" in got.json:
        _align_send_time(expected, got.json)
    assert got.json == expected
    data = answer["data"]
    assert data["apns-id"] == apns_id
    assert data["token"] == "..." + token[-8:]
    assert data["platform"] == "apple"
    assert data["app-id"] == app_id
    assert data["call-id"] == FIELDS["call-id"]
    assert data["url"].endswith(f"/3/device/...{token[-8:]}")  # masked like `token`
    assert token not in json.dumps(answer)


def _align_send_time(expected: dict[str, Any], got: dict[str, Any]) -> None:
    for holder_e, holder_g in ((expected, got), (expected.get("aps", {}), got.get("aps", {}))):
        if "send-time" in holder_g:
            assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", holder_g["send-time"])
            holder_e["send-time"] = holder_g["send-time"]


FCM_CASES = [(SYLK, e) for e in SYLK_EVENTS] + [(LINPHONE, None)]


@pytest.mark.parametrize(("app_id", "event"), FCM_CASES)
def test_firebase_push_is_fcm_v1_with_string_data(
    client: Client, fcm: FakeFcm, app_id: str, event: str | None
) -> None:
    request = body(app_id, "android", event)
    status, answer = call(client, "POST", "/push", request)
    assert status == 200, answer
    [got] = fcm.received
    assert got.token == FCM_TOKEN
    assert got.headers["authorization"].startswith("Bearer ya29.fake-")
    message = got.message
    assert all(isinstance(v, str) for v in message["data"].values())
    ttl = message["android"].pop("ttl")
    wanted_ttl = 3600 if event in ("message", "transfer") else 64
    assert ttl in (f"{wanted_ttl}s", f"{wanted_ttl - 1}s")
    expected = expected_payload(app_id, {**request, "platform": "firebase"}, time.time())["message"]
    expected["android"].pop("ttl")
    if "send-time" in message["data"]:
        expected["data"]["send-time"] = message["data"]["send-time"]
    assert message == expected
    assert "null" not in json.dumps(message)
    assert answer["data"]["body"]["name"].startswith("projects/rtc-test/messages/")


def test_sylk_call_payloads_literally(client: Client, apns: FakeApns, fcm: FakeFcm) -> None:
    """The payload a Sylk client parses, written out (the tests/apps suite covers the rest)."""
    call(client, "POST", "/push", body(SYLK, "apple", "incoming_session"))
    call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    session = "0a6a310c-e8c6-b557-72d2-b6a80f1eedbf"  # md5(call-id) in 8-4-4-4-12
    assert apns.received[0].json == {
        "event": "incoming_session",
        "call-id": "call-1@example.com",
        "session-id": session,
        "media-type": "audio",
        "from_uri": "alice@example.com",
        "from_display_name": "Alice",
        "to_uri": "bob@example.com",
    }
    assert fcm.received[0].message["data"] == {
        "event": "incoming_session",
        "call-id": "call-1@example.com",
        "session-id": session,
        "media-type": "audio",
        "from_uri": "alice@example.com",
        "from_display_name": "Alice",
        "to_uri": "bob@example.com",
    }


def test_apns_id_is_stable_for_the_same_push_and_differs_per_device(
    client: Client, apns: FakeApns
) -> None:
    call(client, "POST", "/push", body(SYLK, "apple", "incoming_session"))
    call(client, "POST", "/push", body(SYLK, "apple", "incoming_session"))
    call(client, "POST", "/push", body(SYLK, "apple", "incoming_session", **{"device-id": "dev-2"}))
    ids = [r.headers["apns-id"] for r in apns.received]
    assert ids[0] == ids[1] != ids[2]
    assert uuid.UUID(ids[0]).version == 5


def test_burst_of_100_pushes_uses_one_connection(
    client: Client, apns: FakeApns, fcm: FakeFcm
) -> None:
    for n in range(100):
        status, _ = call(
            client, "POST", "/push", body(SYLK, "apple", "incoming_session", **{"call-id": f"c{n}"})
        )
        assert status == 200
    for n in range(20):
        assert (
            call(
                client,
                "POST",
                "/push",
                body(SYLK, "fcm", "incoming_session", **{"call-id": f"f{n}"}),
            )[0]
            == 200
        )
    assert len(apns.received) == 100
    # at most one new connection (the previous test's warm one may be reused), one in use
    assert apns.connections <= 1
    assert len({r.connection_id for r in apns.received}) == 1
    assert fcm.connections <= 2  # pushes, and the OAuth token endpoint on the same fake
    assert len({r.connection_id for r in fcm.received}) == 1
    assert fcm.token_requests <= 1


def test_logs_mask_tokens_and_never_show_credentials(
    client: Client, apns: FakeApns, fcm: FakeFcm, caplog: pytest.LogCaptureFixture
) -> None:
    call(client, "POST", "/push", body(LINPHONE, "ios", None))  # token auth: a JWT is sent
    call(client, "POST", "/push", body(SYLK, "fcm", "message"))  # an OAuth token is sent
    formatter = audit.logger.registered_formatter
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    out = "\n".join(json.dumps(line) for line in lines)
    pushes = [line for line in lines if line["message"] == "push delivered"]
    assert [p["call_id"] for p in pushes] == ["call-1@example.com"] * 2
    assert {p["platform"] for p in pushes} == {"apple", "firebase"}
    assert all(p["request_id"].endswith("-call-1@example.com") for p in pushes)
    assert all(p["token"].startswith("...") for p in pushes)
    assert VOIP_TOKEN not in out and FCM_TOKEN not in out
    jwt_sent = apns.received[0].headers["authorization"].split()[1]
    oauth_sent = fcm.received[0].headers["authorization"].split()[1]
    assert jwt_sent not in out and oauth_sent not in out
    assert "PRIVATE KEY" not in out
