"""API v2 end to end: store devices per account, push to all of them concurrently."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.credentials import TestCredentials
from fakepns.fake_apns import Delay, FakeApns, Reply
from fakepns.fake_fcm import FakeFcm
from fakepns.fake_fcm import Reply as FcmReply
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call

ACCOUNT = "alice@example.com"
PUSH = {
    "event": "incoming_session",
    "call-id": "c-1",
    "from": "bob@example.com",
    "to": ACCOUNT,
    "media-type": "audio",
}


def apple_token(n: int) -> str:
    return f"{n:064x}"


def add(
    client: Client, device: str, platform: str = "ios", token: str | None = None, **extra: Any
) -> tuple[int, Any]:
    app_id = extra.pop("app_id", SYLK)
    body = {
        "app-id": app_id,
        "platform": platform,
        "token": token or apple_token(1),
        "device-id": device,
        **extra,
    }
    return call(client, "POST", f"/v2/tokens/{ACCOUNT}", body)


def test_add_returns_the_stored_record_with_a_masked_token(client: Client) -> None:
    status, answer = add(
        client,
        "<urn:uuid:dev-1>",
        token=f"{apple_token(7)}-{apple_token(8)}",
        silent="0",
        **{"user-agent": "Sylk/3"},
    )
    assert status == 200
    assert answer["data"] == {
        "app-id": SYLK,
        "platform": "apple",
        "token": "..." + apple_token(7)[-8:],
        "device-id": "dev-1",
        "silent": False,
        "user-agent": "Sylk/3",
    }


def test_add_rejects_unknown_apps_and_bad_bodies(client: Client) -> None:
    status, answer = add(client, "d", app_id="com.unknown")
    assert (status, answer["description"]) == (404, "Apple com.unknown app is not configured")
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}", {"platform": "ios"})
    assert status == 400
    assert list(answer["data"]["errors"]) == ["app-id", "device-id", "token"]


def test_remove_answers_user_and_device_not_found(client: Client) -> None:
    body = {"app-id": SYLK, "device-id": "dev-1"}
    status, answer = call(client, "DELETE", f"/v2/tokens/{ACCOUNT}", body)
    assert (status, answer["description"]) == (404, "user not found")
    add(client, "dev-1")
    status, answer = call(
        client, "DELETE", f"/v2/tokens/{ACCOUNT}", {"app-id": SYLK, "device-id": "other"}
    )
    assert (status, answer["description"]) == (404, "device not found")
    status, answer = call(client, "DELETE", f"/v2/tokens/{ACCOUNT}", body)
    assert (status, answer["data"]) == (200, body)
    status, _ = call(client, "DELETE", f"/v2/tokens/{ACCOUNT}", body)
    assert status == 404


def test_push_goes_to_every_device_with_its_own_result(
    client: Client, apns: FakeApns, fcm: FakeFcm
) -> None:
    add(client, "phone", token=f"{apple_token(1)}-{apple_token(2)}")
    add(client, "tablet", platform="android", token="fcm-tablet")
    add(client, "desk", platform="fcm", token="fcm-desk", app_id=LINPHONE)
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert status == 200
    assert answer["description"] == "push notification responses"
    results = {r["device-id"]: r for r in answer["data"]}
    assert set(results) == {"phone", "tablet", "desk"}
    assert all(r["code"] == 200 for r in results.values())
    assert [r.token for r in apns.received] == [apple_token(1)]
    assert sorted(r.token or "" for r in fcm.received) == ["fcm-desk", "fcm-tablet"]


def test_cancel_uses_the_background_token(client: Client, apns: FakeApns) -> None:
    add(client, "phone", token=f"{apple_token(1)}-{apple_token(2)}")
    status, _ = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", {**PUSH, "event": "cancel"})
    assert status == 200
    assert [r.token for r in apns.received] == [apple_token(2)]
    assert apns.received[0].push_type == "background"


def test_push_to_one_device_and_404s_name_what_is_missing(client: Client, apns: FakeApns) -> None:
    status, answer = call(client, "POST", "/v2/tokens/nobody@example.com/push", PUSH)
    assert (status, answer["description"]) == (404, "Push request was not sent: user not found")
    assert answer["data"] == {"account": "nobody@example.com"}
    add(client, "phone", token=apple_token(1))
    add(client, "tablet", token=apple_token(2))
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push/ghost", PUSH)
    assert (status, answer["description"]) == (404, "Push request was not sent: device not found")
    assert answer["data"]["device-id"] == "ghost"
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push/tablet", PUSH)
    assert status == 200
    assert [r["device-id"] for r in answer["data"]] == ["tablet"]
    assert [r.token for r in apns.received] == [apple_token(2)]


def test_dead_tokens_are_removed_and_the_others_kept(client: Client, apns: FakeApns) -> None:
    add(client, "alive", token=apple_token(1))
    add(client, "dead", token=apple_token(2))
    apns.script(apple_token(2), Reply(410, "Unregistered"))
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert status == 200
    codes = {r["device-id"]: r["code"] for r in answer["data"]}
    assert codes == {"alive": 200, "dead": 410}
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", {**PUSH, "call-id": "c-2"})
    assert [r["device-id"] for r in answer["data"]] == ["alive"]


def test_a_device_with_invalid_stored_data_does_not_stop_the_others(
    client: Client, apns: FakeApns, fcm: FakeFcm
) -> None:
    add(client, "phone", token=apple_token(1))
    add(client, "desk", platform="fcm", token="fcm-desk", app_id=LINPHONE)
    # linphone accepts only incoming_session: its device gets its own 400, the phone is pushed
    status, answer = call(
        client, "POST", f"/v2/tokens/{ACCOUNT}/push", {**PUSH, "event": "message"}
    )
    assert status == 200
    codes = {r["device-id"]: r["code"] for r in answer["data"]}
    assert codes == {"phone": 200, "desk": 400}
    assert len(apns.received) == 1
    assert fcm.received == []


def test_fcm_unregistered_device_is_removed(client: Client, fcm: FakeFcm) -> None:
    add(client, "tablet", platform="android", token="fcm-tablet")
    fcm.script("fcm-tablet", FcmReply.unregistered())
    call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert (status, answer["description"]) == (404, "Push request was not sent: user not found")


def test_a_bare_fcm_404_keeps_the_device(client: Client, fcm: FakeFcm) -> None:
    """NOT_FOUND "Requested entity was not found." without FCM's own UNREGISTERED detail (a
    wrong project or URL) is a rejection, not a dead token."""
    add(client, "tablet", platform="android", token="fcm-tablet")
    fcm.script("fcm-tablet", FcmReply(404, None, "Requested entity was not found."))
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert status == 200
    assert [r["code"] for r in answer["data"]] == [404]
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert [r["code"] for r in answer["data"]] == [200]  # still stored: pushed again


def test_fan_out_to_50_devices_overlaps_on_one_connection(client: Client, apns: FakeApns) -> None:
    for n in range(50):
        add(client, f"dev-{n}", token=apple_token(n + 1))
        apns.script(apple_token(n + 1), Delay(0.2))
    started = time.perf_counter()
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    elapsed = time.perf_counter() - started
    assert status == 200
    assert [r["code"] for r in answer["data"]] == [200] * 50
    assert len(apns.received) == 50
    # sequential sends would take 50 x 0.2 s = 10 s; concurrent ones about one delay
    assert elapsed < 2.5, elapsed
    assert len({r.connection_id for r in apns.received}) == 1
    assert apns.max_concurrent_streams_seen > 10


def test_fan_out_records_each_devices_own_pns_latency(
    client: Client, apns: FakeApns, log_file: Path
) -> None:
    add(client, "fast", token=apple_token(1))
    add(client, "slow", token=apple_token(2))
    apns.script(apple_token(2), Delay(1.0))
    status, _ = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert status == 200
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    # each push's own log line carries its latency metric
    latencies = [line["PnsLatency"] for line in lines if "PnsLatency" in line]
    assert len(latencies) == 2
    # the fast device's answer did not wait for the slow one's (the same figure for both did)
    assert max(latencies) >= 1000, latencies
    assert max(latencies) - min(latencies) >= 500, latencies


def test_fan_out_on_a_fresh_token_auth_connection_respects_the_stream_limit(
    client: Client, apns: FakeApns
) -> None:
    """APNs allows one stream on a token connection until a token is accepted, then many."""
    apns.disconnect_all()
    for n in range(20):
        add(client, f"dev-{n}", token=apple_token(n + 100), app_id=LINPHONE)
    status, answer = call(client, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert status == 200
    assert [r["code"] for r in answer["data"]] == [200] * 20
    assert len(apns.received) == 20
    assert all(r.auth == "token" for r in apns.received)


def test_fan_out_with_a_refused_service_account_answers_per_device(
    client: Client, fcm: FakeFcm, config_dir: Path, creds: TestCredentials
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    account_file = next(config_dir.parent.glob("service-account.json"))
    info = json.loads(account_file.read_text())
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = wrong.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account_file.write_text(json.dumps(info))
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as fresh:
        add(fresh, "tablet", platform="android", token="fcm-tablet")
        add(fresh, "desk", platform="fcm", token="fcm-desk", app_id=LINPHONE)
        status, answer = call(fresh, "POST", f"/v2/tokens/{ACCOUNT}/push", PUSH)
    assert status == 200
    assert {r["code"] for r in answer["data"]} == {502}
    assert all("OAuth token not obtained" in r["reason"] for r in answer["data"])
    assert fcm.received == []
