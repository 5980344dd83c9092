"""Apple `A-B` token pairs: one rule picks the half an event uses, and only the half that
failed is judged dead (regressions of a dead background token deleting the whole device, and
of `A#B`, the original client's older spelling, being refused)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import api, audit
from chalicelib.tokens.base import Device
from fakepns.fake_apns import Attempt, Delay, FakeApns, Reply
from fakepns.server_config import SYLK
from fakepns.simulator import NotificationLog
from tests.helpers import call

ACCOUNT = "alice@example.com"
VOIP, REGULAR, NEW_REGULAR = "a1" * 32, "b2" * 32, "c3" * 32
CALL = {"event": "incoming_session", "call-id": "c-1", "from": "bob@x", "to": ACCOUNT}
CALL["media-type"] = "audio"
CANCEL = {"event": "cancel", "call-id": "c-1", "from": "bob@x", "to": ACCOUNT}


def add(client: Client, token: str) -> dict[str, Any]:
    device = {"app-id": SYLK, "platform": "ios", "token": token, "device-id": "phone"}
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}", device)
    assert status == 200, answer
    data: dict[str, Any] = answer["data"]
    return data


def stored() -> list[tuple[str, str | None]]:
    devices = api.current_runtime().tokens.devices(ACCOUNT)
    return [(d.token, d.background_token) for d in devices]


def push(client: Client, fields: dict[str, str]) -> list[dict[str, Any]]:
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", fields)
    assert status == 200, answer
    results: list[dict[str, Any]] = answer["data"]
    return results


def test_a_dead_background_token_keeps_the_device_and_its_voip_token(
    client: Client, apns: FakeApns
) -> None:
    add(client, f"{VOIP}-{REGULAR}")
    apns.script(REGULAR, Reply(410, "Unregistered"))
    assert [r["code"] for r in push(client, CANCEL)] == [410]
    assert stored() == [(VOIP, None)]
    assert [r["code"] for r in push(client, CALL)] == [200]  # the device still rings
    assert [r.token for r in apns.received] == [VOIP]


def test_a_dead_voip_token_removes_the_device(client: Client, apns: FakeApns) -> None:
    add(client, f"{VOIP}-{REGULAR}")
    apns.script(VOIP, Reply(400, "BadDeviceToken"))
    assert [r["code"] for r in push(client, CALL)] == [410]
    assert stored() == []


def test_a_device_registered_again_while_its_dead_token_was_in_flight_is_kept(
    client: Client, apns: FakeApns
) -> None:
    add(client, f"{VOIP}-{REGULAR}")
    apns.script(REGULAR, Delay(1.0, Reply(410, "Unregistered")))
    again = Device(ACCOUNT, SYLK, "phone", "apple", VOIP, NEW_REGULAR, updated_at=time.time() + 1)

    def register_again() -> None:
        time.sleep(0.3)  # while the push to the old background token waits for its answer
        api.current_runtime().tokens.upsert(again)

    thread = threading.Thread(target=register_again)
    thread.start()
    assert [r["code"] for r in push(client, CANCEL)] == [410]
    thread.join()
    assert stored() == [(VOIP, NEW_REGULAR)]


@pytest.mark.parametrize("separator", ["-", "#"])
def test_a_hash_pair_is_the_same_pair_in_v1(client: Client, apns: FakeApns, separator: str) -> None:
    token = f"{VOIP}{separator}{REGULAR}"
    base = {"app-id": SYLK, "platform": "ios", "token": token, "device-id": "d", **CALL}
    status, answer = call(client, "POST", "/push", base)
    assert status == 200, answer
    status, answer = call(client, "POST", "/push", {**base, **CANCEL})
    assert status == 200, answer
    assert [r.token for r in apns.received] == [VOIP, REGULAR]


def test_a_hash_pair_is_stored_as_the_same_pair_in_v2(client: Client, apns: FakeApns) -> None:
    assert add(client, f"{VOIP}#{REGULAR}")["token"] == audit.mask(VOIP)
    assert stored() == [(VOIP, REGULAR)]
    push(client, CANCEL)
    push(client, CALL)
    assert [r.token for r in apns.received] == [REGULAR, VOIP]


@pytest.mark.parametrize("token", [f"{VOIP}#{REGULAR}#x", f"#{REGULAR}", f"{VOIP}#", "a b#c"])
def test_a_hash_only_between_two_halves(client: Client, token: str) -> None:
    base = {"app-id": SYLK, "platform": "ios", "token": token, "device-id": "d", **CALL}
    status, answer = call(client, "POST", "/push", base)
    assert status == 400
    assert list(answer["data"]["errors"]) == ["token"]


def test_results_and_logs_show_the_token_the_push_went_to(
    client: Client, apns: FakeApns, caplog: pytest.LogCaptureFixture
) -> None:
    token = f"{VOIP}-{REGULAR}"
    base = {"app-id": SYLK, "platform": "ios", "token": token, "device-id": "d", **CANCEL}
    status, answer = call(client, "POST", "/push", base)
    assert status == 200
    [sent] = apns.received
    assert sent.token == REGULAR
    assert answer["data"]["token"] == audit.mask(REGULAR)
    [logged] = [r for r in caplog.records if r.getMessage() == "push delivered"]
    assert logged.__dict__["token"] == audit.mask(REGULAR)
    assert REGULAR not in answer["data"]["url"]  # the URL holds the token: masked too


def test_the_simulator_shows_the_token_as_results_and_logs_do(tmp_path: Path) -> None:
    out = io.StringIO()
    log = NotificationLog(tmp_path / "received.jsonl", out)
    attempt = Attempt(REGULAR, "POST", f"/3/device/{REGULAR}", {}, b"{}", {}, 1, 0.0, "certificate",
                      "reply", 200, None, "id", SYLK, "background")  # fmt: skip
    log.apns(attempt)
    assert f"token={audit.mask(REGULAR)} " in out.getvalue()


def test_a_hash_in_an_fcm_token_is_a_400(client: Client, fcm: object) -> None:
    device = {"app-id": SYLK, "platform": "android", "token": "fcm#x", "device-id": "d"}
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}", device)
    assert status == 400
    assert list(answer["data"]["errors"]) == ["token"]
    status, answer = call(client, "POST", "/push", {**device, **CALL})
    assert status == 400
    assert "only an Apple token pair" in answer["data"]["errors"]["token"]
