"""linphone x apple/firebase: exact headers and payloads (these literals are the spec)."""

from __future__ import annotations

import pytest

from chalicelib.apps import BUILT_IN

from .factory import CALL_ID, FCM_TOKEN, NOW, SEND_TIME, build, push_request

LINPHONE = {"app_id": "org.linphone.phone.prod", "event": None}
VOIP_HEADERS = {
    "apns-push-type": "voip",
    "apns-topic": "org.linphone.phone.voip",
    "apns-priority": "10",
    "apns-expiration": "0",
}


def test_apple_silent() -> None:
    note = build("linphone", push_request(**LINPHONE))
    assert note.token == "voip0123"
    assert note.push_type == "voip"
    assert note.headers == VOIP_HEADERS
    assert note.payload == {
        "aps": {"sound": "", "loc-key": "IC_SIL", "call-id": CALL_ID, "send-time": SEND_TIME},
        "from-uri": "alice@example.com",
        "pn_ttl": 2592000,
    }


def test_apple_not_silent() -> None:
    note = build("linphone", push_request(**LINPHONE, silent=False))
    assert note.headers == VOIP_HEADERS
    assert note.payload == {
        "aps": {
            "alert": {"loc-key": "IC_MSG", "loc-args": "alice@example.com"},
            "sound": "msg.caf",
            "badge": 1,
        },
        "pn_ttl": 2592000,
        "call-id": CALL_ID,
        "send-time": SEND_TIME,
    }


def test_apple_explicit_incoming_session_is_the_same_push() -> None:
    implicit = build("linphone", push_request(**LINPHONE))
    explicit = build("linphone", push_request(**{**LINPHONE, "event": "incoming_session"}))
    assert implicit == explicit


def test_apple_voip_topic_is_not_doubled() -> None:
    for app_id in ("org.linphone.phone.voip", "org.linphone.phone.voip.dev"):
        note = build("linphone", push_request(app_id=app_id, event=None))
        assert note.headers["apns-topic"] == "org.linphone.phone.voip"


def test_firebase() -> None:
    note = build("linphone", push_request(**LINPHONE, platform="firebase"), NOW + 30.0)
    assert note.token == FCM_TOKEN
    assert note.push_type == "fcm"
    assert note.headers == {}
    assert note.payload == {
        "message": {
            "token": FCM_TOKEN,
            "data": {
                "call-id": CALL_ID,
                "sip-from": "alice@example.com",
                "loc-key": "",
                "loc-args": "alice@example.com",
                "send-time": SEND_TIME,
            },
            "android": {"priority": "high", "ttl": "30s"},
        }
    }


def test_send_time_is_utc_of_now() -> None:
    request = push_request(**LINPHONE, platform="firebase")
    note = BUILT_IN["linphone"].build(request, deadline=86_400.0, now=0.0)
    assert note.payload["message"]["data"]["send-time"] == "1970-01-01 00:00:00"


def test_build_refuses_other_events() -> None:
    with pytest.raises(ValueError, match="incoming_session"):
        build("linphone", push_request(**{**LINPHONE, "event": "cancel"}))
