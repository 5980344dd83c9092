"""The Apple A-B token split: A (PushKit) for calls, B for the app topic."""

from __future__ import annotations

import pytest

from chalicelib.apps import select_token

from .factory import SYLK_EVENTS, build, push_request


@pytest.mark.parametrize(
    ("token", "event", "expected"),
    [
        ("aaa-bbb", "incoming_session", "aaa"),
        ("aaa-bbb", "incoming_conference_request", "aaa"),
        ("aaa-bbb", "cancel", "bbb"),
        ("aaa-bbb", "message", "bbb"),
        ("aaa-bbb", "transfer", "bbb"),  # alert on the app topic, like message
        ("aaa", "incoming_session", "aaa"),
        ("aaa", "cancel", "aaa"),  # no B -> A
        ("aaa", "message", "aaa"),
        ("aaa-", "cancel", "aaa"),  # empty B counts as no B
        ("aaa-bbb-ccc", "message", "bbb-ccc"),  # split at the first dash only
        ("aaa-bbb-ccc", "incoming_session", "aaa"),
        ("aaa#bbb", "incoming_session", "aaa"),  # the original client's older separator
        ("aaa#bbb", "message", "bbb"),
        ("aaa#bbb-ccc", "cancel", "bbb-ccc"),  # split at the first separator, never a '#' left
    ],
)
def test_apple_split(token: str, event: str, expected: str) -> None:
    assert select_token(token, event, "apple") == expected


@pytest.mark.parametrize("event", SYLK_EVENTS)
def test_firebase_token_unchanged(event: str) -> None:
    assert select_token("aaa-bbb", event, "firebase") == "aaa-bbb"


def test_build_uses_the_split_token() -> None:
    expected = {
        "incoming_session": "voip0123",
        "incoming_conference_request": "voip0123",
        "cancel": "apns4567",
        "message": "apns4567",
        "transfer": "apns4567",
    }
    for event, token in expected.items():
        assert build("sylk", push_request(event=event)).token == token
