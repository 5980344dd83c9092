"""sylk x firebase: exact FCM HTTP v1 bodies per event (these literals are the spec)."""

from __future__ import annotations

from .factory import (
    CALL_ID,
    FCM_TOKEN,
    MESSAGE_DEADLINE,
    NOW,
    SESSION_ID,
    SYLK_EVENTS,
    build,
    push_request,
)

ANDROID = {"priority": "high", "ttl": "64s"}


def test_incoming_session() -> None:
    note = build("sylk", push_request(platform="firebase", event="incoming_session"))
    assert note.token == FCM_TOKEN  # no A-B split on Firebase
    assert note.headers == {}
    assert note.push_type == "fcm"
    assert note.payload == {
        "message": {
            "token": FCM_TOKEN,
            "data": {
                "event": "incoming_session",
                "call-id": CALL_ID,
                "session-id": SESSION_ID,
                "media-type": "audio",
                "from_uri": "alice@example.com",
                "from_display_name": "Alice",
                "to_uri": "bob@example.com",
            },
            "android": ANDROID,
        }
    }


def test_incoming_conference_display_name_falls_back_to_from() -> None:
    request = push_request(
        platform="firebase", event="incoming_conference_request", from_display_name=None
    )
    assert build("sylk", request).payload == {
        "message": {
            "token": FCM_TOKEN,
            "data": {
                "event": "incoming_conference_request",
                "call-id": CALL_ID,
                "session-id": SESSION_ID,
                "media-type": "audio",
                "from_uri": "alice@example.com",
                "from_display_name": "alice@example.com",
                "to_uri": "bob@example.com",
                "account": "conf@example.com",
            },
            "android": ANDROID,
        }
    }


def test_cancel_without_reason_sends_no_null() -> None:
    request = push_request(platform="firebase", event="cancel", media_type=None)
    assert build("sylk", request).payload == {
        "message": {
            "token": FCM_TOKEN,
            "data": {"event": "cancel", "call-id": CALL_ID, "session-id": SESSION_ID},
            "android": ANDROID,
        }
    }


def test_cancel_with_reason() -> None:
    request = push_request(platform="firebase", event="cancel", reason="busy")
    data = build("sylk", request).payload["message"]["data"]
    assert data == {
        "event": "cancel",
        "call-id": CALL_ID,
        "session-id": SESSION_ID,
        "reason": "busy",
    }


def test_message() -> None:
    request = push_request(
        platform="firebase",
        event="message",
        media_type="chat",
        content="hello",
        content_type="text/plain",
    )
    assert build("sylk", request, MESSAGE_DEADLINE).payload == {
        "message": {
            "token": FCM_TOKEN,
            "data": {
                "event": "message",
                "message_id": CALL_ID,
                "from_uri": "alice@example.com",
                "to_uri": "bob@example.com",
                "content": "hello",
                "content_type": "text/plain",
            },
            "android": {"priority": "high", "ttl": "3600s"},
            "apns": {"headers": {"apns-priority": "5"}},
        }
    }


def test_transfer_metadata_is_a_json_string() -> None:
    request = push_request(
        platform="firebase", event="transfer", filename="clip.mp4", filetype="video/mp4"
    )
    assert build("sylk", request, MESSAGE_DEADLINE).payload == {
        "message": {
            "token": FCM_TOKEN,
            "data": {
                "event": "transfer",
                "from_uri": "alice@example.com",
                "to_uri": "bob@example.com",
                "media-type": "audio",
                "file-id": CALL_ID,
                "metadata": '{"filename":"clip.mp4","filetype":"video/mp4"}',
            },
            "notification": {
                "title": "New audio message",
                "body": "From alice@example.com",
                "image": "https://icanblink.com/apple-touch-icon-180x180.png",
            },
            "apns": {"headers": {"apns-priority": "5"}},
            "android": {
                "priority": "high",
                "ttl": "3600s",
                "notification": {
                    "channel_id": "sylk-messages-sound",
                    "sound": "default",
                    "default_sound": True,
                    "notification_priority": "PRIORITY_HIGH",
                },
            },
        }
    }


def test_transfer_file_title_and_empty_metadata() -> None:
    request = push_request(platform="firebase", event="transfer", media_type="image")
    message = build("sylk", request, MESSAGE_DEADLINE).payload["message"]
    assert message["notification"]["title"] == "New file"
    assert message["data"]["metadata"] == "{}"


def test_ttl_follows_deadline_never_negative() -> None:
    for deadline, ttl in ((NOW + 64.9, "64s"), (NOW + 0.5, "0s"), (NOW - 10.0, "0s")):
        for event in SYLK_EVENTS:
            request = push_request(platform="firebase", event=event)
            note = build("sylk", request, deadline)
            assert note.payload["message"]["android"]["ttl"] == ttl, (event, deadline)
            assert note.headers == {}
