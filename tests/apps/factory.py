"""Requests and clock values shared by the app-type tests."""

from __future__ import annotations

from typing import Any

from chalicelib.apps import BUILT_IN
from chalicelib.models import PushRequest
from chalicelib.notification import Notification

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
SEND_TIME = "2023-11-14 22:13:20"
CALL_DEADLINE = NOW + 64.0
MESSAGE_DEADLINE = NOW + 3600.5

CALL_ID = "call-1@example.com"
SESSION_ID = "0a6a310c-e8c6-b557-72d2-b6a80f1eedbf"  # md5(CALL_ID) in 8-4-4-4-12
APPLE_TOKEN = "voip0123-apns4567"
FCM_TOKEN = "fcm-token-with-dashes"

SYLK_EVENTS = ("incoming_session", "incoming_conference_request", "cancel", "message", "transfer")

_BASE: dict[str, Any] = {
    "app-id": "com.agprojects.sylk.prod",
    "platform": "apple",
    "call-id": CALL_ID,
    "from": "alice@example.com",
    "from-display-name": "Alice",
    "to": "bob@example.com",
    "media-type": "audio",
    "badge": 3,
    "account": "conf@example.com",
}


def push_request(**fields: Any) -> PushRequest:
    """A request with the base fields, `fields` (underscore spelling) on top; None removes."""
    body = dict(_BASE)
    body.update({key.replace("_", "-"): value for key, value in fields.items()})
    if "token" not in body:
        body["token"] = APPLE_TOKEN if body["platform"] == "apple" else FCM_TOKEN
    return PushRequest.model_validate({k: v for k, v in body.items() if v is not None})


def build(app: str, request: PushRequest, deadline: float = CALL_DEADLINE) -> Notification:
    return BUILT_IN[app].build(request, deadline=deadline, now=NOW)
