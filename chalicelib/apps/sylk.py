"""The `sylk` app type: Sylk clients (iOS via APNs, Android via FCM), every event."""

from __future__ import annotations

import hashlib
from typing import Any

from ..models import CALL_EVENTS, PushRequest
from ..notification import Notification
from . import apple, firebase
from .base import media_type_errors, prune
from .fitting import Texts, fit_payload

_FCM_IMAGE = "https://icanblink.com/apple-touch-icon-180x180.png"


class Sylk:
    name: str = "sylk"

    def check(self, request: PushRequest) -> dict[str, str]:
        errors = media_type_errors(request, request.event)
        if request.event is None:
            errors["event"] = "required for sylk apps"
        return errors

    def build(self, request: PushRequest, *, deadline: float, now: float) -> Notification:
        event = request.event
        if event is None:
            raise ValueError("a sylk push needs an event")
        token = apple.select_token(request.token, event, request.platform)
        if request.platform == "apple":
            return _apple(request, event, token, deadline)
        return _firebase(request, event, token, firebase.ttl(deadline, now))


def session_id(call_id: str) -> str:
    """What Sylk clients expect as session-id: md5(call-id) in UUID layout (not a real UUID)."""
    digest = hashlib.md5(call_id.encode(), usedforsecurity=False).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def _apple(request: PushRequest, event: str, token: str, deadline: float) -> Notification:
    base = apple.topic_base(request.app_id)
    if event in CALL_EVENTS:
        push_type, topic, priority, render = "voip", base + ".voip", "10", _apple_call
    elif event == "cancel":
        push_type, topic, priority, render = "background", base, "5", _apple_cancel
    elif event == "message":
        push_type, topic, priority, render = "alert", base, "5", _apple_message
    else:
        push_type, topic, priority, render = "alert", base, "5", _apple_transfer
    headers = apple.headers(push_type, topic, priority, apple.expiration(event, deadline))
    payload = fit_payload(
        lambda texts: render(request, texts), _texts(request, event), apple.limit(push_type)
    )
    return Notification(token, headers, payload, push_type)


def _firebase(request: PushRequest, event: str, token: str, ttl: str) -> Notification:
    def render(texts: Texts) -> dict[str, Any]:
        message: dict[str, Any] = {
            "token": token,
            "data": firebase.data(_fcm_data(request, event, texts)),
            "android": {"priority": "high", "ttl": ttl},
        }
        if event == "message":
            message["apns"] = _fcm_apns()
        elif event == "transfer":
            message["notification"] = {
                "title": _transfer_title(request),
                "body": f"From {request.sip_from}",
                "image": _FCM_IMAGE,
            }
            message["apns"] = _fcm_apns()
            message["android"]["notification"] = {
                "channel_id": "sylk-messages-sound",
                "sound": "default",
                "default_sound": True,
                "notification_priority": "PRIORITY_HIGH",
            }
        return {"message": message}

    texts: Texts = {}  # cancel and transfer carry no free text on FCM
    if event in CALL_EVENTS:
        # Android shows the caller's address when there is no display name.
        texts = {"display": request.from_display_name or request.sip_from}
    elif event == "message":
        texts = {"content": request.content}
    return Notification(token, {}, fit_payload(render, texts, firebase.FCM_LIMIT), "fcm")


def _fcm_apns() -> dict[str, Any]:
    # A fresh dict per push: payloads are handed out and must not share state.
    return {"headers": {"apns-priority": "5"}}


def _texts(request: PushRequest, event: str) -> Texts:
    """The free texts of an APNs `event` payload, in the order they give way to fit."""
    if event == "cancel":
        return {}
    if event == "message":
        return {"content": request.content, "display": request.from_display_name}
    return {"display": request.from_display_name}


def _transfer_title(request: PushRequest) -> str:
    if request.media_type in ("audio", "video"):
        return f"New {request.media_type} message"
    return "New file"


def _metadata(request: PushRequest) -> dict[str, Any]:
    return prune({"filename": request.filename, "filetype": request.filetype})


def _call_fields(request: PushRequest, texts: Texts) -> dict[str, Any]:
    """What a Sylk client reads from a call push, on either platform."""
    conference = request.event == "incoming_conference_request"
    return {
        "event": request.event,
        "call-id": request.call_id,
        "session-id": session_id(request.call_id),
        "media-type": request.media_type,
        "from_uri": request.sip_from,
        "from_display_name": texts["display"],
        "to_uri": request.to,
        "account": request.account if conference else None,
    }


def _apple_call(request: PushRequest, texts: Texts) -> dict[str, Any]:
    return prune(_call_fields(request, texts))


def _apple_cancel(request: PushRequest, texts: Texts) -> dict[str, Any]:
    # A background push only wakes the app with content-available in `aps`
    # (the original sent it as an HTTP header, which APNs ignores).
    return prune(
        {
            "aps": {"content-available": 1},
            "event": "cancel",
            "call-id": request.call_id,
            "session-id": session_id(request.call_id),
            "reason": request.reason,
        }
    )


def _apple_message(request: PushRequest, texts: Texts) -> dict[str, Any]:
    display = texts["display"]
    return prune(
        {
            "aps": {
                "alert": {"title": display or "New message", "body": f"From {request.sip_from}"},
                "message_id": request.call_id,
                "sound": "default",
                "content-available": 1,
                "mutable-content": 1,
                "badge": request.badge,
            },
            "data": {
                "event": "message",
                "message_id": request.call_id,
                "from_uri": request.sip_from,
                "from_display_name": display,
                "to_uri": request.to,
                "content": texts["content"],
                "content_type": request.content_type,
            },
        }
    )


def _apple_transfer(request: PushRequest, texts: Texts) -> dict[str, Any]:
    return prune(
        {
            "aps": {
                "alert": {"title": _transfer_title(request), "body": f"From {request.sip_from}"},
                "sound": "default",
                "mutable-content": 1,
                "badge": request.badge,
            },
            "data": {
                "event": "transfer",
                "from_uri": request.sip_from,
                "from_display_name": texts["display"],
                "to_uri": request.to,
                "file-id": request.call_id,
                "media-type": request.media_type,
                "metadata": _metadata(request),
            },
        }
    )


def _fcm_data(request: PushRequest, event: str, texts: Texts) -> dict[str, Any]:
    """The FCM `data` map before stringification (firebase.data drops None values)."""
    if event in CALL_EVENTS:
        return _call_fields(request, texts)
    if event == "cancel":
        return {
            "event": "cancel",
            "call-id": request.call_id,
            "session-id": session_id(request.call_id),
            "reason": request.reason,
        }
    if event == "message":
        return {
            "event": "message",
            "message_id": request.call_id,
            "from_uri": request.sip_from,
            "to_uri": request.to,
            "content": texts["content"],
            "content_type": request.content_type,
        }
    return {
        "event": "transfer",
        "from_uri": request.sip_from,
        "to_uri": request.to,
        "media-type": request.media_type,
        "file-id": request.call_id,
        "metadata": _metadata(request),
    }
