"""Fault tests over real connections: each push ends delivered exactly once or logged as expired.

The in-process retry queue runs with delays scaled down (RETRY_DELAY_SCALE), so the
exponential backoff of the policy is exercised in real time within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.credentials import TestCredentials
from fakepns.fake_apns import Drop, FakeApns, GoAway, Hang, Reply, Reset
from fakepns.fake_fcm import FakeFcm
from fakepns.fake_fcm import Reply as FcmReply
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call, retries_through_sqs
from tests.test_push_v1 import FCM_TOKEN, VOIP_TOKEN, body

SCALE = "0.1"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def retrying(config_dir: Path) -> Iterator[Client]:
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE=SCALE))
    with Client(app) as client:
        yield client


def test_503_then_200_is_queued_then_delivered_once(retrying: Client, apns: FakeApns) -> None:
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"))
    status, answer = call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 202
    assert answer["description"] == "queued for retry"
    retry = answer["data"]["retry"]
    assert retry["attempt"] == 2
    assert 0 <= retry["next_attempt_in"] <= 1  # full jitter over the 1 s backoff
    assert retry["deadline"] >= int(time.time()) + 60
    received = apns.wait_for_received(1)
    time.sleep(0.3)
    assert len(apns.received) == 1
    statuses = [a.status for a in apns.attempts]
    assert statuses == [503, 200]
    assert received[0].headers["apns-id"] == apns.attempts[0].headers["apns-id"]


def test_429_retry_after_is_honoured(retrying: Client, apns: FakeApns) -> None:
    apns.script(VOIP_TOKEN, Reply(429, "TooManyRequests", retry_after=5))
    status, answer = call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 202
    assert answer["data"]["retry"]["next_attempt_in"] == 5
    apns.wait_for_received(1, timeout=5)
    first, second = apns.attempts
    assert second.time - first.time >= 5 * float(SCALE) - 0.05


def test_goaway_mid_burst_loses_nothing(retrying: Client, apns: FakeApns) -> None:
    apns.goaway_every(7)
    try:
        for n in range(30):
            request = body(SYLK, "ios", "incoming_session", **{"call-id": f"burst-{n}"})
            status, answer = call(retrying, "POST", "/push", request)
            assert status in (200, 202), answer
        wait_until(lambda: len(apns.received) >= 30)
        time.sleep(0.3)
    finally:
        apns.goaway_every(None)
    ids = [r.headers["apns-id"] for r in apns.received]
    assert len(ids) == 30
    assert len(set(ids)) == 30


def test_server_down_then_up(creds: TestCredentials, tmp_path: Path, fcm: FakeFcm) -> None:
    """Connection refused: the push waits in the queue until APNs is back."""
    down = FakeApns(creds, topics=(LINPHONE, f"{LINPHONE}.voip")).start()
    port = down.port
    down.stop()
    config = tmp_path / "config"
    config.mkdir()
    (config / "general.ini").write_text("[server]\n[applications]\n")
    (config / "applications.ini").write_text(
        f"[linphone-ios]\napp_id = {LINPHONE}\napp_type = linphone\napp_platform = apple\n"
        f"apple_push_url = https://127.0.0.1:{port}\napple_key = {creds.apns_p8}\n"
        f"key_id = {creds.apns_key_id}\nteam_id = {creds.apns_team_id}\n"
        f"tls_ca_file = {creds.ca_cert}\n"
    )
    api.reset_runtime(settings_for(config, RETRY_DELAY_SCALE=SCALE))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", body(LINPHONE, "ios", None))
        assert status == 202
        assert answer["data"]["reason"].startswith("connection error")
        with FakeApns(creds, port=port, topics=(LINPHONE, f"{LINPHONE}.voip")) as up:
            received = up.wait_for_received(1, timeout=8)
            time.sleep(0.3)
            assert len(up.received) == 1
    assert received[0].token == VOIP_TOKEN


def test_hanging_server_times_out_and_the_retry_delivers(retrying: Client, apns: FakeApns) -> None:
    apns.script(VOIP_TOKEN, Hang())
    started = time.monotonic()
    status, answer = call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert time.monotonic() - started < 4
    assert status == 202
    assert answer["data"]["reason"].startswith("timeout")
    apns.wait_for_received(1, timeout=8)
    time.sleep(0.3)
    assert len(apns.received) == 1


def test_goaway_on_the_push_itself_is_retried_at_once_on_a_new_connection(
    retrying: Client, apns: FakeApns
) -> None:
    apns.script(VOIP_TOKEN, GoAway("Shutdown"))
    status, _ = call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 200
    assert len(apns.received) == 1
    assert len({a.connection_id for a in apns.attempts}) == 2


def test_fcm_unavailable_then_delivered_once(retrying: Client, fcm: FakeFcm) -> None:
    fcm.script(FCM_TOKEN, FcmReply.unavailable(retry_after=1))
    status, answer = call(retrying, "POST", "/push", body(SYLK, "fcm", "message"))
    assert status == 202
    assert answer["data"]["reason"].startswith("UNAVAILABLE")
    fcm.wait_for_received(1)
    time.sleep(0.3)
    assert len(fcm.received) == 1


def short_deadline_config(config_dir: Path, url: str, creds: TestCredentials) -> None:
    (config_dir / "applications.ini").write_text(
        f"[sylk-ios]\napp_id = {SYLK}\napp_type = sylk\napp_platform = apple\n"
        f"apple_push_url = {url}\napple_certificate = {creds.client_combined}\n"
        f"tls_ca_file = {creds.ca_cert}\ncall_deadline = 2\n"
    )


def test_a_deadline_that_runs_out_is_logged_as_expired(
    config_dir: Path, creds: TestCredentials, apns: FakeApns, caplog: pytest.LogCaptureFixture
) -> None:
    short_deadline_config(config_dir, apns.url, creds)
    apns.script(VOIP_TOKEN, *[Reply(500, "InternalServerError")] * 50)
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="1"))
    with Client(app) as client:
        status, _ = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
        assert status == 202
        wait_until(lambda: any(r.getMessage() == "push expired" for r in caplog.records), timeout=6)
    assert apns.received == []
    # retries spread (full jitter) within the 2 s deadline, none after it
    first, *later = apns.attempts
    assert later
    assert all(a.time - first.time <= 2.1 for a in later)


def test_tls_failure_retries_until_expired(
    config_dir: Path, creds: TestCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeApns(creds, untrusted=True, topics=(SYLK, f"{SYLK}.voip")) as untrusted:
        short_deadline_config(config_dir, untrusted.url, creds)
        api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="1"))
        with Client(app) as client:
            status, answer = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
            assert status == 202
            assert "CERTIFICATE_VERIFY_FAILED" in answer["data"]["reason"]
            wait_until(
                lambda: any(r.getMessage() == "push expired" for r in caplog.records), timeout=6
            )
        assert untrusted.received == []


def test_return_async_false_answers_202_and_pushes_from_the_queue(
    config_dir: Path, apns: FakeApns
) -> None:
    (config_dir / "general.ini").write_text("[server]\nreturn_async = false\n[applications]\n")
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE=SCALE))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
        assert (status, answer["description"], answer["data"]) == (202, "accepted for delivery", {})
        apns.wait_for_received(1)
        # validation still answers at once
        status, _ = call(client, "POST", "/push", body(SYLK, "ios", None))
        assert status == 400
    time.sleep(0.2)
    assert len(apns.received) == 1


def test_goaway_during_a_concurrent_fan_out_loses_nothing(retrying: Client, apns: FakeApns) -> None:
    account = "/v2/tokens/fan@example.com"
    tokens = [f"{n + 1:064x}" for n in range(30)]
    for n, token in enumerate(tokens):
        device = {"app-id": SYLK, "platform": "ios", "token": token, "device-id": f"d{n}"}
        assert call(retrying, "POST", account, device)[0] == 200
    apns.goaway_every(10)
    try:
        push = {"event": "incoming_session", "call-id": "fan-1", "from": "a@x", "to": "b@x"}
        status, answer = call(retrying, "POST", f"{account}/push", {**push, "media-type": "audio"})
        assert status == 200
        assert {r["code"] for r in answer["data"]} <= {200, 202}
        wait_until(lambda: len(apns.received) >= 30)
        time.sleep(0.3)
    finally:
        apns.goaway_every(None)
    assert sorted(r.token for r in apns.received) == sorted(tokens)
    assert len({r.connection_id for r in apns.received}) > 1  # the GOAWAYs really happened


def test_a_reset_stream_is_retried_at_once(retrying: Client, apns: FakeApns) -> None:
    apns.script(VOIP_TOKEN, Reset())
    status, _ = call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 200
    assert [a.outcome for a in apns.attempts] == ["reset", "reply"]
    assert len(apns.received) == 1


def test_reset_then_dropped_connection_goes_to_the_queue_and_arrives_once(
    retrying: Client, apns: FakeApns
) -> None:
    apns.script(VOIP_TOKEN, Reset(), Drop())
    status, answer = call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 202, answer
    apns.wait_for_received(1)
    time.sleep(0.3)
    assert len(apns.received) == 1
    assert [a.outcome for a in apns.attempts] == ["reset", "drop", "reply"]


def test_an_idle_connection_is_replaced_before_use(
    retrying: Client, apns: FakeApns, config_dir: Path
) -> None:
    # pools take the setting when they are made: configuring it closes the old ones
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE=SCALE, PNS_IDLE_RECONNECT="0.3"))
    call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    time.sleep(0.5)
    call(retrying, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    first, second, third = (r.connection_id for r in apns.received)
    assert first == second != third


def test_a_replaced_runtime_pushes_nothing_it_had_queued(config_dir: Path, apns: FakeApns) -> None:
    # otherwise its retry thread pushes into whatever runs next (a later test's fake APNs)
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.5"))
    # Retry-After 1 s is a floor the jitter cannot shorten: the retry is due 0.5 s (x 0.5)
    # after the push, not at once, so the reset below comes first even on a busy machine
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable", retry_after=1))
    with Client(app) as client:
        status, _ = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert status == 202
    api.reset_runtime(settings_for(config_dir))
    time.sleep(0.8)  # past the retry's time: the 1 s backoff x 0.5
    assert (len(apns.attempts), apns.received) == (1, [])


def test_through_sqs_a_call_too_close_to_its_deadline_expires_instead_of_arriving_late(
    config_dir: Path,
    creds: TestCredentials,
    apns: FakeApns,
    idempotency_table: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # SQS rounds a delay up to whole seconds and the event source gathers a batch for up to a
    # second: a retry queued with 2 s left would reach the consumer after the deadline
    import boto3

    short_deadline_config(config_dir, apns.url, creds)
    sqs = boto3.client("sqs")
    queue_url = retries_through_sqs(config_dir, sqs, idempotency_table)
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"))
    with Client(app) as client:
        _, answer = call(client, "POST", "/push", body(SYLK, "ios", "incoming_session"))
    assert "retry" not in answer["data"]
    assert answer["data"]["reason"].endswith("(expired after 1 attempts)")
    assert [r.getMessage() for r in caplog.records].count("push expired") == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
