"""The end of a PNS outage: pushes pile up in SQS while APNs is down, then it comes back.

On moto's SQS and DynamoDB (idempotency), with the retry function invoked as Lambda's event
source mapping would (bench/event_source.py: the app's batch size and window, five pollers
that scale up while messages wait, as Lambda's do), against the fake APNs, in each mode:
- 503: APNs answers every push 503 ServiceUnavailable;
- hang: APNs accepts every push and never answers, so each attempt ends at the read timeout
  (PNS_READ_TIMEOUT, 5 s).
1. APNs goes down;
2. N pushes arrive through the API function, calls (64 s deadline) and messages (1 h)
   mixed, posted by several API function instances (processes of their own, as Lambda runs
   concurrent requests in separate instances): each fails inline, is queued for retry and
   keeps failing while the outage lasts;
3. APNs comes back; the backlog drains.
Reported: the backlog (messages in the queue) when APNs came back, the time from recovery
until every push is accounted for, retries handled per second (over the drain, which ends
with messages whose jittered backoff grew during the outage, and in the busiest 5 s), pushes
delivered exactly once, expired (and whether their deadline passed during the outage: any
other expiry is a failure), duplicates, lost. And what moto's SQS costs per call at two
queue depths (bench/moto_costs.py), as released and as run here.

moto runs in processes of its own (bench/moto_process.py: one for SQS, one for DynamoDB);
the consumer, its pollers and the fake APNs share this one. As released, moto's SQS walks
the whole queue several times for each message it hands out, so a backlog of thousands
cannot even be handed over within a call's deadline, and it loses messages under concurrent
calls; the moto processes here work around both (bench/moto_process.py), and the report
says so.

Run: `make bench-outage` (OUTAGE_PUSHES=300, OUTAGE_MODE=both|503|hang, OUTAGE_EXTRA=10
seconds the outage lasts after the last push arrived, OUTAGE_POLLERS=5 at start and
OUTAGE_POLLERS_MAX=20, OUTAGE_INSTANCES API instances: 4 for 503, 40 for hang,
OUTAGE_CALLS_PERCENT=67 of the pushes calls, the rest messages). Results:
.run/bench/outage.md, the service's log lines in .run/bench/outage.log. Exit status 1 when a
push was lost, duplicated or expired other than by a deadline that passed during the outage.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.test import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import app  # noqa: E402
from bench import moto_costs  # noqa: E402
from bench.event_source import EventSource, retry_mapping  # noqa: E402
from bench.moto_process import WORKAROUNDS, moto_in_child_process  # noqa: E402
from bench.run import output_to  # noqa: E402
from bench.soak_harness import fake_stack, soak_env, sqs_env  # noqa: E402
from chalicelib import api  # noqa: E402
from chalicelib.config.model import CALL_DEADLINE, MESSAGE_DEADLINE  # noqa: E402
from chalicelib.retry.policy import MAX_DELAY  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from fakepns.fake_apns import FakeApns  # noqa: E402
from fakepns.server_config import SYLK  # noqa: E402

MODES = ("503", "hang")
INSTANCES = {"503": 4, "hang": 40}  # a hanging APNs holds each API request for 5 s
PEAK_SECONDS = 5


class _Expired(logging.Handler):
    """Collects the call-ids the service logs as expired, and the last attempt queued of
    each push."""

    def __init__(self) -> None:
        super().__init__()
        self.call_ids: dict[str, float] = {}
        self.queued: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message, call_id = record.getMessage(), str(getattr(record, "call_id", ""))
        if message == "push expired":
            self.call_ids.setdefault(call_id, time.time())
        elif message == "retry queued":
            self.queued[call_id] = int(getattr(record, "next_attempt", 0))


@dataclass
class Figures:
    mode: str
    pushes: int
    calls: int
    instances: int
    arrival_seconds: float
    outage_seconds: float
    backlog: int
    drain_seconds: float
    delivered_within: tuple[float, float, float]  # seconds after recovery: half, 90%, 99%
    handled: int
    peak_rate: float
    delivered_once: int
    duplicates: int
    expired_in_outage: int
    expired_after: int
    lost: int
    lost_in_moto: int
    pollers: int
    most_pollers: int
    poll_errors: int

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicates == self.expired_after == 0

    def markdown(self) -> list[str]:
        rate = self.handled / self.drain_seconds if self.drain_seconds else 0.0
        down = "answering 503" if self.mode == "503" else "hanging (read timeout 5 s)"
        return [
            f"## APNs {down}",
            "",
            f"- {self.pushes} pushes arrived in {self.arrival_seconds:.0f} s through "
            f"{self.instances} API instances ({self.calls} calls with a {CALL_DEADLINE:.0f} s "
            f"deadline, {self.pushes - self.calls} messages with {MESSAGE_DEADLINE:.0f} s); APNs "
            f"down {self.outage_seconds:.0f} s in all",
            f"- backlog when APNs came back: **{self.backlog}** messages in the queue",
            f"- drained **{self.drain_seconds:.1f} s** after APNs came back by {self.pollers} "
            f"to {self.most_pollers} pollers (function instances) in one process: "
            f"{self.handled} retries, "
            f"{rate:.1f} per second over the drain, {self.peak_rate:.1f} per second in the "
            f"busiest {PEAK_SECONDS} s; {self.poll_errors} receives failed by moto and "
            f"polled again",
            "- of the pushes delivered after APNs came back, half were within "
            f"{self.delivered_within[0]:.0f} s, 90% within {self.delivered_within[1]:.0f} s, "
            f"99% within {self.delivered_within[2]:.0f} s (the rest waited out backoffs that "
            "grew during the outage)",
            f"- delivered exactly once: **{self.delivered_once}**; duplicates: "
            f"**{self.duplicates}**; lost: **{self.lost}** (of which {self.lost_in_moto} "
            f"queued, SendMessage answered, and never handed out by moto)",
            f"- expired: {self.expired_in_outage} whose deadline passed during the outage, "
            f"**{self.expired_after}** other",
            "",
        ]


def _is_call(n: int) -> bool:
    """Push n is a call for OUTAGE_CALLS_PERCENT of the pushes, spread evenly (67: two calls
    for every message)."""
    percent = int(os.environ.get("OUTAGE_CALLS_PERCENT", "67"))
    return (n + 1) * percent // 100 > n * percent // 100


def _body(n: int) -> dict[str, Any]:
    call = _is_call(n)
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


# -- API function instances (processes of their own) -----------------------------------

_instance: Client | None = None


def _start_instance(env: dict[str, str]) -> None:
    global _instance
    os.environ.update(env)
    api.reset_runtime(Settings.from_env(env))
    _instance = Client(app)


def _post(n: int) -> tuple[str, float, int, str]:
    """POST push n; (call-id, when it was sent, status, event)."""
    assert _instance is not None
    request = _body(n)
    sent = time.time()
    answer = _instance.http.post(
        "/push", headers={"Content-Type": "application/json"}, body=json.dumps(request)
    )
    return request["call-id"], sent, answer.status_code, request["event"]


@contextmanager
def _api_instances(count: int, env: dict[str, str]) -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(count, context, initializer=_start_instance, initargs=(env,)) as pool:
        list(pool.map(time.sleep, [0.5] * count))  # every instance started before the outage
        yield pool


# -- the run -----------------------------------------------------------------------------


def _queued(sqs: Any, queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    names.append("ApproximateNumberOfMessagesDelayed")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return sum(int(v) for v in attributes["Attributes"].values())


def _down(apns: FakeApns, mode: str, down: bool) -> None:
    if mode == "503":
        apns.fail_randomly(1.0 if down else 0.0, 503, "ServiceUnavailable")
    else:
        apns.hang_randomly(1.0 if down else 0.0)


def _quantiles(delays: list[float]) -> tuple[float, float, float]:
    """Half, 90% and 99% of the non-negative `delays` are at most these (0 when none)."""
    after = sorted(d for d in delays if d >= 0)
    if not after:
        return (0.0, 0.0, 0.0)
    q = [after[min(len(after) - 1, int(share * len(after)))] for share in (0.5, 0.9, 0.99)]
    return (q[0], q[1], q[2])


def _peak(times: list[float], since: float) -> float:
    after = sorted(t for t in times if t >= since)
    best, start = 0, 0
    for end, t in enumerate(after):
        while t - after[start] > PEAK_SECONDS:
            start += 1
        best = max(best, end - start + 1)
    return best / PEAK_SECONDS


def run(apns: FakeApns, client: Client, env: dict[str, str], sqs: Any, mode: str) -> Figures:
    count = int(os.environ.get("OUTAGE_PUSHES", "300"))
    extra = float(os.environ.get("OUTAGE_EXTRA", "10"))
    pollers = int(os.environ.get("OUTAGE_POLLERS", "5"))
    max_pollers = int(os.environ.get("OUTAGE_POLLERS_MAX", "20"))
    instances = int(os.environ.get("OUTAGE_INSTANCES", INSTANCES[mode]))
    queue_url = env["RETRY_QUEUE_URL"]
    expired = _Expired()
    logging.getLogger("pushserver").addHandler(expired)
    deadlines: dict[str, float] = {}
    source = EventSource(
        client, sqs, queue_url, mapping=retry_mapping(app), pollers=pollers, max_pollers=max_pollers
    )
    with _api_instances(instances, env) as pool, source:
        _down(apns, mode, True)
        down = time.time()
        for call_id, sent, status, event in pool.map(_post, range(count)):
            assert status == 202, (call_id, status)
            call = event == "incoming_session"
            deadlines[call_id] = sent + (CALL_DEADLINE if call else MESSAGE_DEADLINE)
        arrived = time.time()
        time.sleep(extra)
        _down(apns, mode, False)
        recovered = time.time()
        backlog = _queued(sqs, queue_url)
        handled_before = source.handled
        checked = recovered
        while time.time() - recovered < MAX_DELAY + 120:  # the longest backoff, and then some
            delivered = {f"outage-{int(r.token, 16) - 1}" for r in apns.received}
            if len(delivered | set(expired.call_ids)) >= count:
                break
            if time.time() - checked > 5:  # nothing left to hand out: the rest is lost
                checked = time.time()
                if _queued(sqs, queue_url) == 0 and source.idle():
                    break
            time.sleep(0.1)
        drained = time.time()
        time.sleep(2)  # a duplicate would show now
        handled = source.handled - handled_before
    logging.getLogger("pushserver").removeHandler(expired)
    received = [f"outage-{int(r.token, 16) - 1}" for r in apns.received]
    delivered = set(received)
    in_outage = {c for c in expired.call_ids if deadlines[c] <= recovered}
    lost = set(deadlines) - delivered - set(expired.call_ids)
    # the last attempt queued (by the consumer, else attempt 2 by the API's 202) never received
    never_out = {c for c in lost if (c, expired.queued.get(c, 2)) not in source.received}
    return Figures(
        mode=mode,
        pushes=count,
        calls=sum(1 for n in range(count) if _is_call(n)),
        instances=instances,
        arrival_seconds=arrived - down,
        outage_seconds=recovered - down,
        backlog=backlog,
        drain_seconds=drained - recovered,
        delivered_within=_quantiles([r.time - recovered for r in apns.received]),
        handled=handled,
        peak_rate=_peak(source.handled_at, recovered),
        delivered_once=len(delivered),
        duplicates=len(received) - len(delivered),
        expired_in_outage=len(in_outage),
        expired_after=len(set(expired.call_ids) - in_outage),
        lost=len(lost),
        lost_in_moto=len(never_out),
        pollers=pollers,
        most_pollers=source.most_pollers,
        poll_errors=source.poll_errors,
    )


def main() -> None:
    out = ROOT / ".run" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    chosen = os.environ.get("OUTAGE_MODE", "both")
    modes = MODES if chosen == "both" else (chosen,)
    if not set(modes) <= set(MODES):
        sys.exit(f"OUTAGE_MODE must be both, 503 or hang, not {chosen!r}")
    results: list[Figures] = []
    with fake_stack() as (apns, config), output_to(out / "outage.log"):
        import boto3

        costs = moto_costs.measure(boto3.client("sqs"))
        with moto_in_child_process(as_is=True) as released:
            costs_as_is = moto_costs.measure(boto3.client("sqs", endpoint_url=released))
        for mode in modes:
            apns.reset()
            # a record reported failed comes back in 30 s (the deployed queue's 360 s follows
            # the function timeout, which nothing enforces here)
            queue_env, sqs = sqs_env(f"outage-{mode}", visibility_timeout=30)
            env = soak_env(config, CONFIG_CHECK_INTERVAL="30", **queue_env)
            api.reset_runtime(Settings.from_env(env))
            with Client(app) as client:
                results.append(run(apns, client, env, sqs, mode))
    depth = max(f.backlog for f in results)
    lines = ["# PNS outage: backlog drain (moto SQS + DynamoDB, fake APNs)", "", WORKAROUNDS, ""]
    for figures in results:
        lines += figures.markdown()
    lines += [
        "## What moto costs",
        "",
        *costs_as_is.markdown(depth, "moto's SQS as released"),
        *costs.markdown(depth, "with the workarounds")[:1],
        "",
    ]
    report = "\n".join(lines)
    (out / "outage.md").write_text(report)
    print(report)
    sys.exit(0 if all(f.ok for f in results) else 1)


if __name__ == "__main__":
    main()
