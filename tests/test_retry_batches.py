"""The retry consumer handles a batch's messages at once, over the warm connections, and
settles each on its own (the partial batch response names exactly the ones to redeliver)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from chalice.test import Client

from app import app
from chalicelib import api
from chalicelib.pns import service_for
from chalicelib.retry.base import RetryMessage
from fakepns.fake_apns import Delay, FakeApns, Reply
from fakepns.server_config import SYLK, settings_for
from tests.test_push_v1 import body

# Long enough that the idempotency table's own round trips (moto, on a shared machine) do not
# decide the result: one message after another would take 10 x RTT.
RTT = 0.5


def record(n: int, attempt: int = 2) -> dict[str, Any]:
    token = f"{n + 1:064x}"
    request = {**body(SYLK, "apple", "incoming_session"), "token": token, "call-id": f"b-{n}"}
    message = RetryMessage(
        f"batch-{n}-{time.time_ns()}", SYLK, "apple", request, time.time() + 60, attempt
    )
    return {"messageId": f"m-{n}", "receiptHandle": f"r-{n}", "body": message.to_json()}


def invoke(client: Client, records: list[dict[str, Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    payload = client.lambda_.invoke("retry_pushes", {"Records": records}).payload
    return time.perf_counter() - started, payload


def test_a_batch_of_10_against_a_slow_pns_takes_under_3_round_trips(
    config_dir: Path, apns: FakeApns, idempotency_table: str
) -> None:
    api.reset_runtime(settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table))
    with Client(app) as client:
        invoke(client, [record(99)])  # a warm container: its connection is open
        # the same batch with an instant PNS: what the emulated idempotency table costs
        overhead, _ = invoke(client, [record(n) for n in range(10, 20)])
        apns.latency(RTT)
        seconds, payload = invoke(client, [record(n) for n in range(10)])
    assert payload == {"batchItemFailures": []}
    assert sorted(r.json["call-id"] for r in apns.received[11:]) == sorted(
        f"b-{n}" for n in range(10)
    )
    waited = seconds - overhead  # one after another, this would be 10 round trips
    assert waited < 3 * RTT, f"{waited:.2f} s for 10 retries at {RTT} s each ({seconds:.2f} s)"


def test_each_message_is_settled_on_its_own(
    config_dir: Path, apns: FakeApns, idempotency_table: str
) -> None:
    api.reset_runtime(settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table))
    apns.script(f"{2:064x}", Reply(400, "BadTopic"))  # message 1: rejected, done with
    records = [record(0), {"messageId": "poison", "receiptHandle": "r", "body": "{"}, record(1)]
    records.append(record(2))
    with Client(app) as client:
        _, payload = invoke(client, records)
    # only the poison record goes back to the queue; the others are settled, in any order
    assert payload == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert sorted(r.json["call-id"] for r in apns.received) == ["b-0", "b-2"]


def test_a_renewed_pool_is_not_closed_under_pushes_in_flight(
    config_dir: Path, apns: FakeApns, idempotency_table: str
) -> None:
    # After a read timeout the next batch starts on a new pool. Closing the old one under a
    # push still in flight on it (another thread's batch) fails a push the PNS may already
    # have answered, and sends it again: a duplicate (seen in the outage bench's hang mode).
    api.reset_runtime(
        settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table, PNS_READ_TIMEOUT="5")
    )
    slow = f"{2:064x}"  # record(1)'s token: answered after 1.5 s, and a resend is refused
    apns.script(slow, Delay(1.5), Reply(400, "BadDeviceToken"))
    with Client(app) as client:
        invoke(client, [record(99)])  # a warm container: its pool is open
        app_config = api.current_runtime().config.get().app(SYLK, "apple")
        assert app_config is not None
        in_flight = threading.Thread(target=invoke, args=(client, [record(1)]))
        in_flight.start()
        time.sleep(0.5)
        service_for(app_config)._stale_async = True  # what a read timeout on the pool sets
        _, payload = invoke(client, [record(2)])  # renews the pool, then sends
        in_flight.join()
    assert payload == {"batchItemFailures": []}
    assert [r.json["call-id"] for r in apns.received].count("b-1") == 1
    assert [a.token for a in apns.attempts].count(slow) == 1
