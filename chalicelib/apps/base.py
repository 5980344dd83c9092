"""What every app type shares: its protocol, the payload limit error, payload helpers."""

from __future__ import annotations

from typing import Any, Protocol

from ..models import MEDIA_TYPES_IN_WORDS, PushRequest
from ..notification import Notification


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
        return {"media-type": f"required unless event is cancel: one of {MEDIA_TYPES_IN_WORDS}"}
    return {}
