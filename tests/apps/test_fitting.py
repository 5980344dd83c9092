"""Payload limits: shorten content, then the display name; never return an oversized push."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.apps import PayloadTooLargeError, fit_payload
from chalicelib.notification import encode

from .factory import MESSAGE_DEADLINE, build, push_request

ELLIPSIS = "\u2026"
EMOJI = "\U0001f600"  # 4 bytes in UTF-8


def size(payload: Mapping[str, Any]) -> int:
    data = encode(payload)
    assert json.loads(data) == payload  # still valid JSON, same content
    return len(data)


@pytest.mark.parametrize("char", ["x", "\u00e9", EMOJI, '"', "\\", "\x01", "\n"])
def test_long_content_is_cut_to_the_apns_limit(char: str) -> None:
    content = char * 8192
    request = push_request(event="message", media_type="chat", content=content)
    payload = build("sylk", request, MESSAGE_DEADLINE).payload
    kept = payload["data"]["content"]
    assert size(payload) <= 4096
    assert kept.endswith(ELLIPSIS)
    assert content.startswith(kept[:-1])
    assert payload["data"]["from_display_name"] == "Alice"  # content gives way first
    # The longest content that fits: one more character would not.
    longer = json.loads(encode(payload))
    longer["data"]["content"] = content[: len(kept)] + ELLIPSIS
    assert len(encode(longer)) > 4096


def test_display_name_is_cut_after_content() -> None:
    request = push_request(
        event="message", media_type="chat", content="y" * 8192, from_display_name=EMOJI * 1024
    )
    payload = build("sylk", request, MESSAGE_DEADLINE).payload
    assert size(payload) <= 4096
    assert payload["data"]["content"] == ELLIPSIS
    display = payload["data"]["from_display_name"]
    assert display.endswith(ELLIPSIS)
    assert payload["aps"]["alert"]["title"] == display  # the title is the display name


def test_voip_payloads_may_use_5120_bytes() -> None:
    request = push_request(event="incoming_session", from_display_name=EMOJI * 1024)
    payload = build("sylk", request).payload
    assert 4096 < size(payload) <= 5120
    assert payload["from_display_name"] == EMOJI * 1024  # not shortened


def test_fcm_display_name_is_cut_to_the_fcm_limit() -> None:
    request = push_request(
        platform="firebase", event="incoming_session", from_display_name=EMOJI * 1024
    )
    payload = build("sylk", request).payload
    assert size(payload) <= 4096
    assert payload["message"]["data"]["from_display_name"].endswith(ELLIPSIS)


def test_fcm_content_is_cut_to_the_fcm_limit() -> None:
    request = push_request(platform="firebase", event="message", content="\u00e9" * 8192)
    payload = build("sylk", request, MESSAGE_DEADLINE).payload
    assert size(payload) <= 4096
    assert payload["message"]["data"]["content"].endswith(ELLIPSIS)


@pytest.mark.parametrize(
    ("app", "fields"),
    [
        ("sylk", {"platform": "firebase", "event": "incoming_session", "from": EMOJI * 1024}),
        ("sylk", {"event": "transfer", "filename": EMOJI * 1024, "filetype": EMOJI * 100}),
        ("linphone", {"platform": "firebase", "event": None, "from": EMOJI * 1024}),
    ],
)
def test_impossible_to_fit_raises(app: str, fields: dict[str, Any]) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        build(app, push_request(**fields), MESSAGE_DEADLINE)
    assert caught.value.limit == 4096
    assert caught.value.size > 4096
    assert str(caught.value) == f"payload of {caught.value.size} bytes exceeds the 4096-byte limit"


def render(texts: Mapping[str, str | None]) -> dict[str, Any]:
    return {"a": texts["a"], "b": texts["b"]}


def test_fit_payload_returns_the_rendered_payload_when_it_fits() -> None:
    assert fit_payload(render, {"a": "x", "b": None}, 100) == {"a": "x", "b": None}


def test_fit_payload_shortens_in_order_and_stops_when_it_fits() -> None:
    payload = fit_payload(render, {"a": "a" * 50, "b": "b" * 50}, 80)
    # {"a":"","b":"<50 b>"} is 65 bytes: 12 ASCII + a 3-byte ellipsis make 80.
    assert payload == {"a": "a" * 12 + ELLIPSIS, "b": "b" * 50}
    assert len(encode(payload)) == 80


def test_fit_payload_shortens_the_next_text_when_the_first_is_not_enough() -> None:
    payload = fit_payload(render, {"a": "a" * 50, "b": "b" * 50}, 40)
    assert payload["a"] == ELLIPSIS
    assert payload["b"].endswith(ELLIPSIS)
    assert len(encode(payload)) <= 40


def test_fit_payload_raises_with_the_smallest_size_reached() -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        fit_payload(render, {"a": "a" * 50, "b": "b" * 50}, 10)
    assert (caught.value.size, caught.value.limit) == (
        len(encode(render({"a": ELLIPSIS, "b": ELLIPSIS}))),
        10,
    )
