"""What every app type shares: the Notification it builds, its protocol, payload encoding."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..models import PushRequest

# The transport sends exactly these bytes, so sizes measured here are the sizes on the wire.
_SEPARATORS = (",", ":")


@dataclass(frozen=True, slots=True)
class Notification:
    """What an app type asks a push service to send; no transport details."""

    token: str  # device token actually used (after the Apple A-B split)
    headers: dict[str, str]  # APNs: apns-push-type/-topic/-priority/-expiration; FCM: {}
    payload: dict[str, Any]  # APNs JSON body; FCM: {"message": {...}} (HTTP v1 shape)
    push_type: str  # APNs push type ("voip"/"alert"/"background"); "fcm" for Firebase


class AppType(Protocol):
    """An application type (`app_type` in applications.ini): pure request -> Notification."""

    name: str

    def check(self, request: PushRequest) -> dict[str, str]:
        """App-type rules the models cannot know: {json-key: message}, empty when OK."""
        ...

    def build(self, request: PushRequest, *, deadline: float, now: float) -> Notification:
        """The push for `request.platform`; `deadline` = epoch seconds it stays useful."""
        ...


class PayloadTooLargeError(Exception):
    """A payload that cannot be shortened under the push service's limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


def encode(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact JSON, UTF-8, no ASCII escaping (smallest on the wire)."""
    return json.dumps(payload, separators=_SEPARATORS, ensure_ascii=False).encode()


def prune(value: dict[str, Any]) -> dict[str, Any]:
    """A copy of `value` without None values at any depth: payloads are null-free."""
    return {
        key: prune(item) if isinstance(item, dict) else item
        for key, item in value.items()
        if item is not None
    }


def media_type_errors(request: PushRequest, event: str | None) -> dict[str, str]:
    """Every event but cancel is about media, so it needs a media-type."""
    if request.media_type is None and event != "cancel":
        return {"media-type": "required unless event is cancel"}
    return {}
