"""Cost per million pushes at list prices, from figures measured in the bench run.

Measured here: the log bytes a warm v1 push writes (every line, JSON as in CloudWatch) and
the handler's wall time per push. Taken from the project: memory and architecture of the
API function (.chalice/config.json, prod stage). Not measurable locally, so stated: the PNS
round trip the function waits for (BENCH_RTT), Lambda's own START/END/REPORT lines, and the
one DynamoDB Query (strongly consistent, under 4 KB: 1 read unit) a v2 push makes.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chalicelib import audit

# USD, us-east-1 list prices, first tier
PRICES = {
    "REST API, per million requests": 3.50,
    "HTTP API, per million requests": 1.00,
    "Lambda, per million requests": 0.20,
    "Lambda x86_64, per GB-second": 0.0000166667,
    "Lambda arm64, per GB-second": 0.0000133334,
    "CloudWatch Logs ingestion, per GB": 0.50,
    "DynamoDB on-demand, per million read units": 0.125,
}
EVENT_OVERHEAD = 26  # bytes CloudWatch counts per log event on top of its text
PLATFORM_LINES = (3, 260)  # Lambda's START, END and REPORT lines per invocation: count, bytes
CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"


@dataclass(frozen=True)
class Measured:
    log_bytes: float  # per push, our lines
    log_events: float  # per push, our lines
    wall_ms: float  # handler time per warm push, PNS answering at once


def measure(push: Callable[[], object], count: int = 200) -> Measured:
    """Run `push` `count` times with every log line also written to a file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.jsonl"
        handler = audit.log_to_file(path)
        try:
            started = time.perf_counter()
            for _ in range(count):
                push()
            wall = (time.perf_counter() - started) / count
        finally:
            logging.getLogger(audit.logger.name).removeHandler(handler)
            handler.close()
        text = path.read_bytes()
    return Measured(len(text) / count, text.count(b"\n") / count, wall * 1000)


def stage_function() -> tuple[int, str]:
    """(memory MB, architecture) of the prod stage's API function (stage over top level)."""
    config = json.loads(CONFIG.read_text())
    stage = {**config, **config["stages"]["prod"]}
    return int(stage.get("lambda_memory_size", 128)), stage.get("lambda_architecture", "x86_64")


def per_million(
    measured: Measured, rtt_ms: float, *, front_door: str, arch: str, memory_mb: int, v2: bool
) -> tuple[float, list[str]]:
    """$ per million pushes and the lines of its arithmetic."""
    api = PRICES[f"{front_door} API, per million requests"]
    requests = PRICES["Lambda, per million requests"]
    billed_ms = math.ceil(measured.wall_ms + rtt_ms)  # Lambda bills each 1 ms
    gb_s = memory_mb / 1024 * billed_ms / 1000
    duration = gb_s * PRICES[f"Lambda {arch}, per GB-second"] * 1e6
    events = measured.log_events + PLATFORM_LINES[0]
    log_bytes = measured.log_bytes + PLATFORM_LINES[1] + events * EVENT_OVERHEAD
    logs = log_bytes / 1e9 * PRICES["CloudWatch Logs ingestion, per GB"] * 1e6
    dynamodb = PRICES["DynamoDB on-demand, per million read units"] if v2 else 0.0
    total = api + requests + duration + logs + dynamodb
    lines = [
        f"  {front_door} API {api:.2f} + Lambda requests {requests:.2f}"
        f" + {arch} {memory_mb} MB x {billed_ms} ms = {gb_s:.5f} GB-s: {duration:.3f}"
        f" + logs {log_bytes:.0f} B ({events:.0f} events): {logs:.3f}"
        + (f" + DynamoDB 1 read unit: {dynamodb:.3f}" if v2 else "")
        + f" = **${total:.2f}** per million"
    ]
    return total, lines


def report(measured: Measured, rtt_ms: float) -> list[str]:
    memory_mb, arch = stage_function()
    lines = [
        "## Cost per million pushes (list prices, us-east-1)",
        f"- measured per warm v1 push: {measured.log_bytes:.0f} bytes of log in "
        f"{measured.log_events:.1f} lines (the push's line carries its EMF metrics), "
        f"{measured.wall_ms:.2f} ms in the handler; the PNS round trip taken as "
        f"{rtt_ms:.0f} ms; Lambda's START/END/REPORT lines {PLATFORM_LINES[1]} bytes",
        "- prices: " + "; ".join(f"{name} ${price}" for name, price in PRICES.items()),
    ]
    cases = [
        ("REST", "x86_64", "the REST API on x86_64 (with the same one-line logs)", False),
        ("HTTP", arch, f"the default front door: HTTP API on {arch}, {memory_mb} MB", False),
        ("HTTP", arch, "the same, a v2 push to one stored device", True),
    ]
    for door, case_arch, label, v2 in cases:
        _, arithmetic = per_million(
            measured, rtt_ms, front_door=door, arch=case_arch, memory_mb=memory_mb, v2=v2
        )
        lines += [f"- {label}:", *arithmetic]
    return lines
