"""Benchmarks reported as ratios measured in one run (the machines are shared and noisy).

- warm push: CPU of one v1 push through the Chalice handler vs a bare httpx HTTP/2 send of
  the same notification to the same fake APNs (thread CPU time of the caller only; the fake
  runs in its own thread);
- fan-out: wall time of a v2 push to 1, 10 and 50 devices relative to one push, with the
  fake answering after a simulated round trip;
- cold start: a fresh interpreter importing the app and loading the config (time, RSS).

Run: `make bench` (writes bench/results.md).
"""

from __future__ import annotations

import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from chalice.test import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import app  # noqa: E402
from chalicelib import runtime  # noqa: E402
from tests.conftest import LINPHONE, SYLK, applications_ini, settings_for  # noqa: E402
from tests.servers.credentials import make_credentials, write_service_account  # noqa: E402
from tests.servers.fake_apns import Delay, FakeApns  # noqa: E402
from tests.servers.fake_fcm import FakeFcm  # noqa: E402

PUSH: dict[str, Any] = {
    "app-id": SYLK,
    "platform": "ios",
    "event": "incoming_session",
    "token": "ab" * 32,
    "device-id": "dev-1",
    "call-id": "call-1",
    "from": "alice@example.com",
    "to": "bob@example.com",
    "media-type": "audio",
}
HEADERS = {"Content-Type": "application/json"}


def cpu_per_call(fn: Any, count: int) -> float:
    for _ in range(30):
        fn()
    started = time.thread_time()
    for _ in range(count):
        fn()
    return (time.thread_time() - started) / count * 1000


def warm_push(client: Client, creds: Any, apns: FakeApns, count: int) -> dict[str, float]:
    body = json.dumps(PUSH)

    def ours() -> None:
        response = client.http.post("/push", headers=HEADERS, body=body)
        assert response.status_code == 200, response.body

    context = ssl.create_default_context(cafile=str(creds.ca_cert))
    context.load_cert_chain(str(creds.client_combined))
    bare_client = httpx.Client(http2=True, verify=context)
    payload = json.dumps(
        apns.received[-1].json if apns.received else {"event": "incoming_session"}
    ).encode()
    headers = {
        "apns-push-type": "voip",
        "apns-topic": f"{SYLK}.voip",
        "apns-priority": "10",
        "apns-expiration": "0",
    }
    url = f"{apns.url}/3/device/{PUSH['token']}"

    def bare() -> None:
        assert bare_client.post(url, content=payload, headers=headers).status_code == 200

    rounds = [(cpu_per_call(ours, count), cpu_per_call(bare, count)) for _ in range(3)]
    ours_ms = statistics.median(r[0] for r in rounds)
    bare_ms = statistics.median(r[1] for r in rounds)
    return {"ours_ms": ours_ms, "bare_ms": bare_ms, "ratio": ours_ms / bare_ms}


def fan_out(client: Client, apns: FakeApns, rtt: float) -> dict[int, float]:
    account = "bench@example.com"
    walls: dict[int, float] = {}
    body = {k: v for k, v in PUSH.items() if k not in ("app-id", "platform", "token", "device-id")}
    for size in (1, 10, 50):
        client.http.delete(f"/v2/tokens/{account}", headers=HEADERS, body=b"")
        for n in range(size):
            token = f"{n + 1:064x}"
            device = {
                "app-id": SYLK,
                "platform": "ios",
                "token": token,
                "device-id": f"d{size}-{n}",
            }
            client.http.post(
                f"/v2/tokens/{account}-{size}", headers=HEADERS, body=json.dumps(device)
            )
        samples = []
        for attempt in range(5):
            for n in range(size):
                apns.script(f"{n + 1:064x}", Delay(rtt))
            started = time.perf_counter()
            response = client.http.post(
                f"/v2/tokens/{account}-{size}/push",
                headers=HEADERS,
                body=json.dumps({**body, "call-id": f"fan-{size}-{attempt}"}),
            )
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.body
        walls[size] = statistics.median(samples)
    return walls


def cold_start(config_dir: Path, data_dir: Path) -> dict[str, float]:
    code = (
        "import time, resource; t=time.perf_counter(); import app; from chalicelib import runtime; "
        "runtime.get().config.get(); "
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
    )
    env = {**os.environ, "CONFIG_DIR": str(config_dir), "DATA_DIR": str(data_dir)}
    times, rss = [], []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, megabytes = map(float, out.stdout.split())
        times.append(seconds * 1000)
        rss.append(megabytes)
    return {"ms": statistics.median(times), "rss_mb": statistics.median(rss)}


def main() -> None:
    count = int(os.environ.get("BENCH_COUNT", "300"))
    rtt = float(os.environ.get("BENCH_RTT", "0.02"))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        creds = make_credentials(base / "creds")
        topics = (SYLK, f"{SYLK}.voip", LINPHONE, f"{LINPHONE}.voip")
        with FakeApns(creds, topics=topics) as apns, FakeFcm(creds) as fcm:
            config_dir = base / "config"
            config_dir.mkdir()
            account = write_service_account(creds, base / "sa.json", fcm.token_uri)
            (config_dir / "general.ini").write_text("[server]\n[applications]\n")
            (config_dir / "applications.ini").write_text(
                applications_ini(creds, apns, fcm, account)
            )
            runtime.reset(settings_for(config_dir))
            with Client(app) as client:
                push = warm_push(client, creds, apns, count)
                walls = fan_out(client, apns, rtt)
            cold = cold_start(config_dir, base / "data")
    one = walls[1]
    lines = [
        "# Benchmark results (one run; ratios are what to compare)",
        "",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores.",
        "",
        "## Warm v1 push, CPU of the caller per push",
        f"- through the Chalice handler: {push['ours_ms']:.3f} ms",
        f"- bare httpx HTTP/2 send of the same notification: {push['bare_ms']:.3f} ms",
        f"- ratio: **{push['ratio']:.2f}x** a bare send",
        "",
        f"## v2 fan-out wall time, fake APNs answering after {rtt * 1000:.0f} ms",
        *[
            f"- {n} devices: {walls[n] * 1000:.1f} ms = **{walls[n] / one:.2f}x** one push"
            for n in walls
        ],
        "",
        "## Cold start (fresh interpreter: import app + load config; .pyc present)",
        f"- {cold['ms']:.0f} ms, max RSS {cold['rss_mb']:.0f} MB",
    ]
    report = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
