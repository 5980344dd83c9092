"""The end of a PNS outage: pushes pile up in SQS while APNs answers 503, then it comes back.

On moto's SQS and DynamoDB (idempotency), with the retry function invoked as Lambda's event
source mapping would (bench/event_source.py), against the fake APNs:
1. APNs goes down (every push answered 503 ServiceUnavailable);
2. N pushes arrive through the API handler, calls (64 s deadline) and messages (1 h) mixed:
   each fails inline and is queued for retry, and keeps failing while the outage lasts;
3. APNs comes back; the backlog drains.
Reported: time from recovery until every push is accounted for, retries per second per
consumer process, pushes delivered exactly once, expired (and whether their deadline
passed during the outage: any other expiry is a failure), duplicates, lost.

Run: `make bench-outage` (OUTAGE_PUSHES=1000, OUTAGE_EXTRA=10 seconds the outage lasts after
the last push arrived, OUTAGE_POLLERS=2). What moto cannot do: serve a backlog of thousands
quickly. Its SQS receive scans every message of the queue (25 ms on an empty queue, about
2 s with 1,000 delayed messages in a moto server process here), so beyond about 1,000
pushes the emulator, not the consumer, sets the drain time and calls expire waiting in it.
Results: .run/bench/outage.md, the service's log lines in .run/bench/outage.log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.test import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import app  # noqa: E402
from bench.event_source import EventSource  # noqa: E402
from bench.run import output_to  # noqa: E402
from bench.soak_harness import fake_stack, sqs_settings  # noqa: E402
from chalicelib import api  # noqa: E402
from fakepns.fake_apns import FakeApns  # noqa: E402
from fakepns.server_config import SYLK  # noqa: E402

CALL_DEADLINE, MESSAGE_DEADLINE = 64, 3600  # the defaults of the app config


class _Expired(logging.Handler):
    """Collects the call-ids the service logs as expired."""

    def __init__(self) -> None:
        super().__init__()
        self.call_ids: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "push expired":
            self.call_ids.setdefault(str(getattr(record, "call_id", "")), time.time())


@dataclass
class Figures:
    pushes: int
    calls: int
    arrival_seconds: float
    outage_seconds: float
    drain_seconds: float
    handled: int
    delivered_once: int
    duplicates: int
    expired_in_outage: int
    expired_after: int
    lost: int
    pollers: int

    def markdown(self) -> str:
        rate = self.handled / self.drain_seconds if self.drain_seconds else 0.0
        return "\n".join(
            [
                "# PNS outage: backlog drain (moto SQS + DynamoDB, fake APNs answering 503)",
                "",
                f"- {self.pushes} pushes arrived in {self.arrival_seconds:.0f} s during the outage "
                f"({self.calls} calls with a {CALL_DEADLINE} s deadline, "
                f"{self.pushes - self.calls} messages with {MESSAGE_DEADLINE} s); APNs down "
                f"{self.outage_seconds:.0f} s in all",
                f"- backlog drained **{self.drain_seconds:.1f} s** after APNs came back, "
                f"{self.pollers} pollers (function instances) in one process",
                f"- retries handled: {rate:.0f} per second in that process",
                f"- delivered exactly once: **{self.delivered_once}**; duplicates: "
                f"**{self.duplicates}**; lost: **{self.lost}**",
                f"- expired: {self.expired_in_outage} whose deadline passed during the outage, "
                f"**{self.expired_after}** other",
                "",
            ]
        )


def _body(n: int) -> dict[str, Any]:
    call = n % 3 != 2  # two calls for every message
    token = f"{n + 1:064x}"
    request = {
        "app-id": SYLK,
        "platform": "ios",
        "event": "incoming_session" if call else "message",
        "token": f"{token}-{token}",
        "device-id": f"outage-{n}",
        "call-id": f"outage-{n}",
        "from": "alice@example.com",
        "to": "bob@example.com",
        "media-type": "audio" if call else "sms",
    }
    if not call:
        request |= {"content": "are you there?", "content-type": "text/plain"}
    return request


def run(apns: FakeApns, client: Client, sqs: Any, queue_url: str) -> Figures:
    count = int(os.environ.get("OUTAGE_PUSHES", "1000"))
    extra = float(os.environ.get("OUTAGE_EXTRA", "10"))
    pollers = int(os.environ.get("OUTAGE_POLLERS", "2"))
    expired = _Expired()
    logging.getLogger("pushserver").addHandler(expired)
    deadlines: dict[str, float] = {}
    apns.fail_randomly(1.0, 503, "ServiceUnavailable")
    with EventSource(client, sqs, queue_url, pollers=pollers) as source:
        down = time.time()
        for n in range(count):
            request = _body(n)
            sent = time.time()
            answer = client.http.post(
                "/push", headers={"Content-Type": "application/json"}, body=json.dumps(request)
            )
            assert answer.status_code == 202, answer.body
            call = request["event"] == "incoming_session"
            deadlines[request["call-id"]] = sent + (CALL_DEADLINE if call else MESSAGE_DEADLINE)
        arrived = time.time()
        time.sleep(extra)
        apns.fail_randomly(0.0)
        recovered = time.time()
        handled_before = source.handled
        while time.time() - recovered < 600:
            delivered = {f"outage-{int(r.token, 16) - 1}" for r in apns.received}
            if len(delivered | set(expired.call_ids)) >= count:
                break
            time.sleep(0.1)
        drained = time.time()
        time.sleep(2)  # a duplicate would show now
        handled = source.handled - handled_before
    logging.getLogger("pushserver").removeHandler(expired)
    received = [f"outage-{int(r.token, 16) - 1}" for r in apns.received]
    delivered = set(received)
    in_outage = {c for c in expired.call_ids if deadlines[c] <= recovered}
    return Figures(
        pushes=count,
        calls=sum(1 for n in range(count) if n % 3 != 2),
        arrival_seconds=arrived - down,
        outage_seconds=recovered - down,
        drain_seconds=drained - recovered,
        handled=handled,
        delivered_once=len(delivered),
        duplicates=len(received) - len(delivered),
        expired_in_outage=len(in_outage),
        expired_after=len(set(expired.call_ids) - in_outage),
        lost=count - len(delivered | set(expired.call_ids)),
        pollers=pollers,
    )


def main() -> None:
    out = ROOT / ".run" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with fake_stack() as (apns, config):
        # a record reported failed comes back in 30 s (the deployed queue's 360 s follows
        # the function timeout, which nothing enforces here)
        settings, queue_url, sqs = sqs_settings(
            config, "outage", visibility_timeout=30, CONFIG_CHECK_INTERVAL="30"
        )
        api.reset_runtime(settings)
        with Client(app) as client, output_to(out / "outage.log"):
            figures = run(apns, client, sqs, queue_url)
    report = figures.markdown()
    (out / "outage.md").write_text(report)
    print(report)
    ok = figures.lost == figures.duplicates == figures.expired_after == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
