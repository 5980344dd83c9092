"""Request rules found by the adversarial review: nulls, long texts, account messages, and the
OpenAPI document stating every status and constraint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import SYLK
from tests.helpers import call
from tests.test_push_v1 import body

ACCOUNT = "/v2/tokens/alice@example.com"


def test_a_null_key_lets_its_other_spelling_apply(client: Client, apns: FakeApns) -> None:
    request = body(SYLK, "ios", "incoming_session")
    request.update({"from-display-name": None, "from_display_name": "Zoe"})
    request.update({"app-id": None, "app_id": SYLK, "call-id": None, "call_id": "c-null"})
    status, answer = call(client, "POST", "/push", request)
    assert status == 200, answer
    assert apns.received[0].json["from_display_name"] == "Zoe"
    assert apns.received[0].json["call-id"] == "c-null"


def test_a_null_key_lets_its_other_spelling_apply_in_v2(client: Client, apns: FakeApns) -> None:
    device = {"app-id": SYLK, "platform": "ios", "token": "ab" * 32, "device-id": None}
    status, answer = call(client, "POST", ACCOUNT, {**device, "device_id": "d1"})
    assert status == 200, answer
    assert answer["data"]["device-id"] == "d1"
    push: dict[str, Any] = {"event": "incoming_session", "call-id": "c", "from": "a@x", "to": "b@x"}
    push.update({"media-type": None, "media_type": "audio", "from-display-name": None})
    status, answer = call(client, "POST", f"{ACCOUNT}/push", {**push, "from_display_name": "Zoe"})
    assert [r["code"] for r in answer["data"]] == [200]
    assert apns.received[0].json["from_display_name"] == "Zoe"


def test_a_null_required_key_is_named_as_missing(client: Client) -> None:
    request = {**body(SYLK, "ios", "incoming_session"), "to": None}
    status, answer = call(client, "POST", "/push", request)
    assert status == 400
    assert answer["data"]["errors"] == {"to": "Field required"}


@pytest.mark.parametrize("length", [2000, 20_000])
def test_a_long_display_name_is_shortened_and_sent_not_refused(
    client: Client, apns: FakeApns, fcm: FakeFcm, length: int
) -> None:
    name = "Z" * length
    for platform in ("ios", "android"):
        request = body(SYLK, platform, "incoming_session", **{"from-display-name": name})
        status, answer = call(client, "POST", "/push", request)
        assert status == 200, answer
    sent_apns = apns.received[0].json["from_display_name"]
    sent_fcm = fcm.received[0].message["data"]["from_display_name"]
    for sent in (sent_apns, sent_fcm):
        assert sent == name or (sent.endswith("\u2026") and name.startswith(sent[:-1]))
    assert sent_apns == name if length == 2000 else len(sent_apns) < length  # VoIP: 5 KiB


def test_a_long_message_content_is_shortened_and_sent(client: Client, apns: FakeApns) -> None:
    request = body(SYLK, "ios", "message", content="y" * 30_000, **{"media-type": "sms"})
    status, answer = call(client, "POST", "/push", request)
    assert status == 200, answer
    assert apns.received[0].json["data"]["content"].endswith("\u2026")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("%1C", "account must not contain control characters"),
        ("a%00b@x", "account must not contain control characters"),
        ("%20%20", "account is empty"),
        ("a" * 300, "account is 300 characters long; at most 255 are allowed"),
    ],
)
def test_account_messages_say_what_is_wrong(client: Client, raw: str, message: str) -> None:
    device = {"app-id": SYLK, "platform": "ios", "token": "ab" * 32, "device-id": "d"}
    for method, path, payload in [
        ("POST", f"/v2/tokens/{raw}", device),
        ("DELETE", f"/v2/tokens/{raw}", {"app-id": SYLK, "device-id": "d"}),
        ("POST", f"/v2/tokens/{raw}/push", {"call-id": "c", "from": "a", "to": "b"}),
    ]:
        status, answer = call(client, method, path, payload)
        assert (status, answer["description"]) == (400, message), (method, path)


def document(client: Client) -> dict[str, Any]:
    response = client.http.get("/openapi.json")
    doc: dict[str, Any] = json.loads(response.body)
    return doc


def test_openapi_lists_every_status_a_route_can_answer(client: Client) -> None:
    paths = document(client)["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            if "requestBody" in operation:
                assert {"400", "403", "413", "415", "500", "503"} <= codes, (path, method)
                assert "404" in codes, (path, method)
    assert "400" in paths["/v2/tokens/{account}"]["delete"]["responses"]
    assert {"200", "403"} <= set(paths["/health"]["get"]["responses"])
    assert {"410", "502"} <= set(paths["/push"]["post"]["responses"])


def test_openapi_states_the_constraints_of_path_parameters_and_texts(client: Client) -> None:
    doc = document(client)
    [account] = doc["paths"]["/v2/tokens/{account}"]["parameters"]
    assert account["schema"]["minLength"] == 1
    assert account["schema"]["maxLength"] == 255
    assert "pattern" in account["schema"]
    device = doc["paths"]["/v2/tokens/{account}/push/{device}"]["parameters"][1]
    assert device["schema"]["minLength"] == 1
    display = doc["components"]["schemas"]["PushRequest"]["properties"]["from-display-name"]
    [text] = [s for s in json_schemas(display) if s.get("type") == "string"]
    assert text["maxLength"] == 64 * 1024
    assert "shortened" in text["description"]


def json_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """`schema` and every alternative nested in it (anyOf)."""
    nested = [s for choice in schema.get("anyOf", []) for s in json_schemas(choice)]
    return [schema, *nested]


def test_openapi_states_the_inputs_taken_as_the_original_took_them(client: Client) -> None:
    properties = document(client)["components"]["schemas"]["PushRequest"]["properties"]
    kinds = {name: {s.get("type") for s in json_schemas(p)} for name, p in properties.items()}
    assert {"string", "number", "null"} <= kinds["device-id"]  # a number is taken as text
    assert {"string", "number"} <= kinds["call-id"] and "null" not in kinds["call-id"]
    assert {"boolean", "integer", "string", "null"} <= kinds["silent"]  # 0/1, "yes", "TRUE"
    assert {"integer", "string", "null"} <= kinds["badge"]  # "3"
    assert kinds["token"] == {"string"}  # a number is no token


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("silent", "TRUE", True),
        ("silent", 0, True),
        ("silent", 2, False),
        ("silent", 1.5, False),
        ("badge", "12", True),
        ("badge", True, False),  # not 1
        ("badge", " 12", False),
        ("token", 1234, False),
        ("call-id", 1234, True),
    ],
)
def test_lax_inputs_are_exactly_what_the_document_says(
    client: Client, apns: FakeApns, field: str, value: Any, accepted: bool
) -> None:
    status, answer = call(client, "POST", "/push", {**body(SYLK, "ios", "cancel"), field: value})
    assert (status == 200) is accepted, answer
