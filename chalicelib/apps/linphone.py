"""The `linphone` app type: Linphone clients, incoming calls only."""

from __future__ import annotations

import time
from typing import Any

from ..models import PushRequest
from ..notification import Notification
from . import apple, firebase
from .base import media_type_errors
from .fitting import fit_payload

INCOMING = "incoming_session"
# How long Linphone clients consider the call push relevant (30 days), as they expect it.
_PN_TTL = 2592000


class Linphone:
    name: str = "linphone"

    def check(self, request: PushRequest) -> dict[str, str]:
        errors = media_type_errors(request, request.event or INCOMING)
        if request.event not in (None, INCOMING):
            errors["event"] = "must be incoming_session for linphone apps"
        return errors

    def build(self, request: PushRequest, *, deadline: float, now: float) -> Notification:
        event = request.event or INCOMING
        if event != INCOMING:
            raise ValueError(f"linphone apps push incoming_session only, not {event}")
        token = apple.select_token(request.token, event, request.platform)
        send_time = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
        if request.platform == "apple":
            return _apple(request, token, send_time, deadline)
        return _firebase(request, token, send_time, firebase.ttl(deadline, now))


def voip_topic(app_id: str) -> str:
    """Linphone app ids may already name the voip topic."""
    base = apple.topic_base(app_id)
    return base if ".voip" in base else base + ".voip"


def _apple(request: PushRequest, token: str, send_time: str, deadline: float) -> Notification:
    headers = apple.headers(
        "voip", voip_topic(request.app_id), "10", apple.expiration(INCOMING, deadline)
    )
    body = _apple_payload(request, send_time)
    # No free text to shorten: this only refuses an oversized payload.
    payload = fit_payload(lambda _: body, {}, apple.APNS_VOIP_LIMIT)
    return Notification(token, headers, payload, "voip")


def _apple_payload(request: PushRequest, send_time: str) -> dict[str, Any]:
    if request.silent:
        return {
            "aps": {
                "sound": "",
                "loc-key": "IC_SIL",
                "call-id": request.call_id,
                "send-time": send_time,
            },
            "from-uri": request.sip_from,
            "pn_ttl": _PN_TTL,
        }
    return {
        "aps": {
            # loc-args is a string (not Apple's array): what Linphone clients read.
            "alert": {"loc-key": "IC_MSG", "loc-args": request.sip_from},
            "sound": "msg.caf",
            "badge": 1,
        },
        "pn_ttl": _PN_TTL,
        "call-id": request.call_id,
        "send-time": send_time,
    }


def _firebase(request: PushRequest, token: str, send_time: str, ttl: str) -> Notification:
    message = {
        "token": token,
        "data": firebase.data(
            {
                "call-id": request.call_id,
                "sip-from": request.sip_from,
                "loc-key": "",
                "loc-args": request.sip_from,
                "send-time": send_time,
            }
        ),
        "android": {"priority": "high", "ttl": ttl},
    }
    payload = fit_payload(lambda _: {"message": message}, {}, firebase.FCM_LIMIT)
    return Notification(token, {}, payload, "fcm")
