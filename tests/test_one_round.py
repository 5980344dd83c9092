"""Every bad field of a request in one 400, in words that say what is accepted: the app's name,
the common fields and the app type's rules are checked in the same round."""

from __future__ import annotations

from chalice.test import Client

from fakepns.server_config import SYLK
from tests.helpers import call
from tests.test_push_v1 import body

PLATFORMS = "use apple (or ios, apns) or firebase (or android, fcm)"
TOKEN = "must be letters, digits and _ : . - only; an Apple pair joins its two with - or #"


def test_no_app_id_no_call_id_and_a_bad_event_in_one_answer(client: Client) -> None:
    request = body(SYLK, "ios", "ringing")
    del request["app-id"], request["call-id"]
    status, answer = call(client, "POST", "/push", request)
    assert status == 400
    assert list(answer["data"]["errors"]) == ["app-id", "call-id", "event"]
    assert answer["description"].startswith(
        "invalid request: app-id: Field required; call-id: Field required; event: "
    )


def test_an_unknown_platform_or_app_is_one_more_bad_field(client: Client) -> None:
    status, answer = call(client, "POST", "/push", body(SYLK, "nokia", "incoming_session", to=None))
    assert status == 400
    assert answer["data"]["errors"] == {
        "platform": f"'nokia' platform is not configured: {PLATFORMS}",
        "to": "Field required",
    }
    request = body("com.unknown", "ios", "incoming_session", token="a b")
    status, answer = call(client, "POST", "/push", request)
    assert status == 400
    assert answer["data"]["errors"] == {
        "app-id": "Apple com.unknown app is not configured",
        "token": TOKEN,
    }


def test_v2_says_the_accepted_platforms_and_token_in_words(client: Client) -> None:
    request = {"app-id": SYLK, "platform": "nokia", "token": "a/b", "device-id": "d"}
    status, answer = call(client, "POST", "/v2/tokens/alice@example.com", request)
    assert status == 400
    assert answer["data"]["errors"] == {
        "platform": f"unknown platform 'nokia': {PLATFORMS}",
        "token": TOKEN,
    }
