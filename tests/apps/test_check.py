"""App-type rules reported by check(): {json key: message}, empty when fine."""

from __future__ import annotations

import pytest

from chalicelib.apps import BUILT_IN

from .factory import SYLK_EVENTS, build, push_request

MEDIA_REQUIRED = (
    "required unless event is cancel: one of audio, video, image, chat, sms, file-transfer"
)


@pytest.mark.parametrize("event", SYLK_EVENTS)
def test_sylk_accepts_every_event(event: str) -> None:
    assert BUILT_IN["sylk"].check(push_request(event=event)) == {}


def test_sylk_needs_an_event() -> None:
    assert BUILT_IN["sylk"].check(push_request()) == {"event": "required for sylk apps"}
    assert BUILT_IN["sylk"].check(push_request(media_type=None)) == {
        "event": "required for sylk apps",
        "media-type": MEDIA_REQUIRED,
    }


@pytest.mark.parametrize("event", [e for e in SYLK_EVENTS if e != "cancel"])
def test_media_type_required_unless_cancel(event: str) -> None:
    request = push_request(event=event, media_type=None)
    assert BUILT_IN["sylk"].check(request) == {"media-type": MEDIA_REQUIRED}


def test_cancel_needs_no_media_type() -> None:
    assert BUILT_IN["sylk"].check(push_request(event="cancel", media_type=None)) == {}


def test_linphone_accepts_incoming_session_or_nothing() -> None:
    linphone = BUILT_IN["linphone"]
    assert linphone.check(push_request()) == {}
    assert linphone.check(push_request(event="incoming_session")) == {}


@pytest.mark.parametrize("event", [e for e in SYLK_EVENTS if e != "incoming_session"])
def test_linphone_rejects_other_events(event: str) -> None:
    errors = BUILT_IN["linphone"].check(push_request(event=event))
    assert errors == {"event": "must be incoming_session for linphone apps"}


def test_linphone_media_type_required_with_the_default_event() -> None:
    request = push_request(media_type=None)
    assert BUILT_IN["linphone"].check(request) == {"media-type": MEDIA_REQUIRED}


def test_sylk_build_without_event_fails_clearly() -> None:
    with pytest.raises(ValueError, match="needs an event"):
        build("sylk", push_request())
