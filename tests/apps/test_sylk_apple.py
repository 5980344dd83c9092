"""sylk x apple: exact APNs headers and payloads per event (these literals are the spec)."""

from __future__ import annotations

from .factory import CALL_ID, MESSAGE_DEADLINE, SESSION_ID, build, push_request

VOIP_HEADERS = {
    "apns-push-type": "voip",
    "apns-topic": "com.agprojects.sylk.voip",
    "apns-priority": "10",
    "apns-expiration": "0",
}
CANCEL_HEADERS = {
    "apns-push-type": "background",
    "apns-topic": "com.agprojects.sylk",
    "apns-priority": "5",
    "apns-expiration": "0",
}
ALERT_HEADERS = {
    "apns-push-type": "alert",
    "apns-topic": "com.agprojects.sylk",
    "apns-priority": "5",
    "apns-expiration": "1700003600",  # int(deadline): stored by APNs until then
}


def test_incoming_session() -> None:
    note = build("sylk", push_request(event="incoming_session"))
    assert note.token == "voip0123"
    assert note.push_type == "voip"
    assert note.headers == VOIP_HEADERS
    assert note.payload == {
        "event": "incoming_session",
        "call-id": CALL_ID,
        "session-id": SESSION_ID,
        "media-type": "audio",
        "from_uri": "alice@example.com",
        "from_display_name": "Alice",
        "to_uri": "bob@example.com",
    }


def test_incoming_session_without_display_name_omits_it() -> None:
    request = push_request(event="incoming_session", from_display_name=None, media_type="video")
    assert build("sylk", request).payload == {
        "event": "incoming_session",
        "call-id": CALL_ID,
        "session-id": SESSION_ID,
        "media-type": "video",
        "from_uri": "alice@example.com",
        "to_uri": "bob@example.com",
    }


def test_incoming_conference_request_adds_account() -> None:
    note = build("sylk", push_request(event="incoming_conference_request"))
    assert note.token == "voip0123"
    assert note.headers == VOIP_HEADERS
    assert note.payload == {
        "event": "incoming_conference_request",
        "call-id": CALL_ID,
        "session-id": SESSION_ID,
        "media-type": "audio",
        "from_uri": "alice@example.com",
        "from_display_name": "Alice",
        "to_uri": "bob@example.com",
        "account": "conf@example.com",
    }


def test_cancel() -> None:
    note = build("sylk", push_request(event="cancel", reason="answered elsewhere"))
    assert note.token == "apns4567"
    assert note.push_type == "background"
    assert note.headers == CANCEL_HEADERS
    assert "content-available" not in note.headers
    assert note.payload == {
        "aps": {"content-available": 1},
        "event": "cancel",
        "call-id": CALL_ID,
        "session-id": SESSION_ID,
        "reason": "answered elsewhere",
    }


def test_cancel_without_reason_or_media_type() -> None:
    request = push_request(event="cancel", media_type=None)
    assert build("sylk", request).payload == {
        "aps": {"content-available": 1},
        "event": "cancel",
        "call-id": CALL_ID,
        "session-id": SESSION_ID,
    }


def test_message() -> None:
    request = push_request(
        event="message", media_type="chat", content="hello", content_type="text/plain"
    )
    note = build("sylk", request, MESSAGE_DEADLINE)
    assert note.token == "apns4567"
    assert note.push_type == "alert"
    assert note.headers == ALERT_HEADERS
    assert note.payload == {
        "aps": {
            "alert": {"title": "Alice", "body": "From alice@example.com"},
            "message_id": CALL_ID,
            "sound": "default",
            "content-available": 1,
            "mutable-content": 1,
            "badge": 3,
        },
        "data": {
            "event": "message",
            "message_id": CALL_ID,
            "from_uri": "alice@example.com",
            "from_display_name": "Alice",
            "to_uri": "bob@example.com",
            "content": "hello",
            "content_type": "text/plain",
        },
    }


def test_message_without_display_name_or_content() -> None:
    request = push_request(event="message", media_type="sms", from_display_name=None)
    assert build("sylk", request, MESSAGE_DEADLINE).payload == {
        "aps": {
            "alert": {"title": "New message", "body": "From alice@example.com"},
            "message_id": CALL_ID,
            "sound": "default",
            "content-available": 1,
            "mutable-content": 1,
            "badge": 3,
        },
        "data": {
            "event": "message",
            "message_id": CALL_ID,
            "from_uri": "alice@example.com",
            "to_uri": "bob@example.com",
        },
    }


def test_transfer_audio() -> None:
    request = push_request(event="transfer", filename="note.m4a", filetype="audio/mp4")
    note = build("sylk", request, MESSAGE_DEADLINE)
    assert note.token == "apns4567"
    assert note.push_type == "alert"
    assert note.headers == ALERT_HEADERS
    assert note.payload == {
        "aps": {
            "alert": {"title": "New audio message", "body": "From alice@example.com"},
            "sound": "default",
            "mutable-content": 1,
            "badge": 3,
        },
        "data": {
            "event": "transfer",
            "from_uri": "alice@example.com",
            "from_display_name": "Alice",
            "to_uri": "bob@example.com",
            "file-id": CALL_ID,
            "media-type": "audio",
            "metadata": {"filename": "note.m4a", "filetype": "audio/mp4"},
        },
    }


def test_transfer_video_title() -> None:
    request = push_request(event="transfer", media_type="video")
    title = build("sylk", request, MESSAGE_DEADLINE).payload["aps"]["alert"]["title"]
    assert title == "New video message"


def test_transfer_file_without_display_name_or_filetype() -> None:
    request = push_request(
        event="transfer", media_type="file-transfer", from_display_name=None, filename="a.pdf"
    )
    assert build("sylk", request, MESSAGE_DEADLINE).payload == {
        "aps": {
            "alert": {"title": "New file", "body": "From alice@example.com"},
            "sound": "default",
            "mutable-content": 1,
            "badge": 3,
        },
        "data": {
            "event": "transfer",
            "from_uri": "alice@example.com",
            "to_uri": "bob@example.com",
            "file-id": CALL_ID,
            "media-type": "file-transfer",
            "metadata": {"filename": "a.pdf"},
        },
    }


def test_topic_base_strips_dev_and_prod_only() -> None:
    topics = {
        "com.agprojects.sylk.dev": "com.agprojects.sylk",
        "com.agprojects.sylk": "com.agprojects.sylk",
        "com.example.devices": "com.example.devices",
        "com.example.prod.app": "com.example.prod.app",
    }
    for app_id, base in topics.items():
        call = build("sylk", push_request(app_id=app_id, event="incoming_session"))
        message = build("sylk", push_request(app_id=app_id, event="message"), MESSAGE_DEADLINE)
        assert call.headers["apns-topic"] == base + ".voip"
        assert message.headers["apns-topic"] == base


def test_expiration_follows_deadline_for_message_and_transfer_only() -> None:
    deadline = 1_700_000_123.9
    for event, expected in {
        "incoming_session": "0",
        "incoming_conference_request": "0",
        "cancel": "0",
        "message": "1700000123",
        "transfer": "1700000123",
    }.items():
        note = build("sylk", push_request(event=event), deadline)
        assert note.headers["apns-expiration"] == expected, event
