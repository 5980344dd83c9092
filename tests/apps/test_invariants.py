"""Properties of every app type x platform x event: null-free, FCM data strings, purity."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.apps import BUILT_IN, AppTypes
from chalicelib.models import PushRequest
from chalicelib.notification import Notification, encode

from .factory import MESSAGE_DEADLINE, build, push_request

FULL = {
    "reason": "busy",
    "content": "hi",
    "content_type": "text/plain",
    "filename": "a.png",
    "filetype": "image/png",
}
SPARSE = {"from_display_name": None, "media_type": None, "account": None}


def combos() -> Iterator[tuple[str, str, str | None]]:
    for platform in ("apple", "firebase"):
        for event in ("incoming_session", "incoming_conference_request", "cancel"):
            yield "sylk", platform, event
        yield "sylk", platform, "message"
        yield "sylk", platform, "transfer"
        yield "linphone", platform, None


def requests() -> Iterator[tuple[str, PushRequest]]:
    for app, platform, event in combos():
        for extra in (FULL, SPARSE):
            yield app, push_request(platform=platform, event=event, **extra)


def nulls(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, dict):
        return sum(nulls(item) for item in value.values())
    if isinstance(value, list):
        return sum(nulls(item) for item in value)
    return 0


@pytest.mark.parametrize(("app", "request_"), list(requests()))
def test_payloads_are_null_free_and_fcm_data_is_strings(app: str, request_: PushRequest) -> None:
    note = build(app, request_, MESSAGE_DEADLINE)
    assert nulls(note.payload) == 0
    assert all(isinstance(value, str) for value in note.headers.values())
    if request_.platform == "firebase":
        data = note.payload["message"]["data"]
        assert data
        assert all(isinstance(value, str) for value in data.values())


@pytest.mark.parametrize(("app", "request_"), list(requests()))
def test_build_does_not_mutate_the_request(app: str, request_: PushRequest) -> None:
    before = request_.model_dump()
    first = build(app, request_, MESSAGE_DEADLINE)
    assert request_.model_dump() == before
    assert build(app, request_, MESSAGE_DEADLINE) == first  # pure: same input, same push


def test_notifications_do_not_share_state() -> None:
    request = push_request(platform="firebase", event="message")
    first = build("sylk", request)
    first.payload["message"]["apns"]["headers"]["apns-priority"] = "10"
    assert build("sylk", request).payload["message"]["apns"]["headers"]["apns-priority"] == "5"


def test_notification_is_frozen() -> None:
    note = Notification("t", {}, {}, "fcm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        note.token = "u"  # type: ignore[misc]


def test_encode_is_compact_utf8() -> None:
    assert (
        encode({"a": [1, "\u00e9"], "b": {"c": True}})
        == '{"a":[1,"\u00e9"],"b":{"c":true}}'.encode()
    )


def test_registry(tmp_path: Path) -> None:
    assert sorted(BUILT_IN) == ["linphone", "sylk"]
    assert all(built_in.name == name for name, built_in in BUILT_IN.items())
    app_types = AppTypes(tmp_path)
    assert app_types.get("sylk") is BUILT_IN["sylk"]
    with pytest.raises(ValueError, match=r"'myapp' is not one of linphone, sylk, nor a file myapp"):
        app_types.get("myapp")
