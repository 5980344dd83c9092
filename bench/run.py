"""Benchmarks reported as ratios measured in one run (the machines are shared and noisy).

- warm push: CPU of one v1 push through the Lambda handler (an API Gateway event in, the
  answer out) vs a bare httpx HTTP/2 send of the same notification to the same fake APNs;
- fan-out: wall time of a v2 push to 1, 10 and 50 devices relative to one push, with the
  fake answering each push after a simulated round trip;
- cold start: a fresh interpreter importing the app and loading the config, against the
  import time of the libraries it cannot start without.

The fake APNs runs in its own process, so its CPU neither counts nor competes for our GIL.
Run: `make bench` prints the result and writes it to .run/bench/results.md (untracked); the
log lines of the pushes go to .run/bench/bench.log. `make bench RECORD=1` writes the result
to bench/results.md, the recorded run the README quotes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from chalice.test import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import app  # noqa: E402
from chalicelib import api  # noqa: E402
from fakepns.credentials import (  # noqa: E402
    TestCredentials,
    make_credentials,
)
from fakepns.fake_apns import Delay, FakeApns  # noqa: E402
from fakepns.fake_fcm import FakeFcm  # noqa: E402
from fakepns.server_config import LINPHONE, SYLK, settings_for, write_config  # noqa: E402

from . import cost  # noqa: E402
from .lambda_events import PUSH, LambdaContext, api_event  # noqa: E402

TOPICS = (SYLK, f"{SYLK}.voip", LINPHONE, f"{LINPHONE}.voip")
HEADERS = {"Content-Type": "application/json"}
# what the app cannot start without: its HTTP/2 transport, models, framework, telemetry
FLOOR = (
    "import httpcore, h2.connection, pydantic, chalice.app, aws_lambda_powertools.logging, "
    "aws_lambda_powertools.metrics; from pydantic import BaseModel"
)
APP = "import app; from chalicelib import api; api.current_runtime().config.get()"


def device_token(n: int) -> str:
    return f"{n + 1:064x}"


def _serve_apns(creds: TestCredentials, rtt: float, devices: int, pipe: Connection) -> None:
    """Child process: a fake APNs whose device tokens answer after `rtt`."""
    with FakeApns(creds, topics=TOPICS) as apns:
        for n in range(devices):
            apns.script(device_token(n), *[Delay(rtt)] * 100)
        pipe.send(apns.url)
        pipe.recv()  # until the parent is done


@contextmanager
def apns_process(creds: TestCredentials, rtt: float, devices: int) -> Iterator[str]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve_apns, args=(creds, rtt, devices, child), daemon=True
    )
    process.start()
    try:
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(5)


def cpu_ms(calls: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Median CPU of each call in ms, the calls interleaved so drift hits them alike."""
    for fn in calls.values():
        for _ in range(30):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(count):
        for name, fn in calls.items():
            started = time.process_time()
            fn()
            samples[name].append(time.process_time() - started)
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def warm_push(creds: TestCredentials, apns_url: str, count: int) -> dict[str, float]:
    event, context = api_event("/push", json.dumps(PUSH)), LambdaContext()
    last: dict[str, Any] = {}

    def ours() -> None:
        response = app(event, context)
        assert response["statusCode"] == 200, response["body"]
        last.update(response)

    ours()
    tls = ssl.create_default_context(cafile=str(creds.ca_cert))
    tls.load_cert_chain(str(creds.client_combined))
    bare_client = httpx.Client(http2=True, verify=tls)
    payload = json.dumps({"event": "incoming_session", "call-id": "call-1", "to_uri": "b"}).encode()
    headers = {
        "apns-push-type": "voip",
        "apns-topic": f"{SYLK}.voip",
        "apns-priority": "10",
        "apns-expiration": "0",
        "apns-id": json.loads(last["body"])["data"]["apns-id"],
    }
    url = f"{apns_url}/3/device/{PUSH['token']}"

    def bare() -> None:
        assert bare_client.post(url, content=payload, headers=headers).status_code == 200

    result = cpu_ms({"ours": ours, "bare": bare}, count)
    return {
        "ours_ms": result["ours"],
        "bare_ms": result["bare"],
        "ratio": result["ours"] / result["bare"],
    }


def fan_out(client: Client, sizes: tuple[int, ...]) -> dict[int, float]:
    walls: dict[int, float] = {}
    body = {k: v for k, v in PUSH.items() if k not in ("app-id", "platform", "token", "device-id")}
    for size in sizes:
        path = f"/v2/tokens/bench-{size}@example.com"
        for n in range(size):
            device = {
                "app-id": SYLK,
                "platform": "ios",
                "token": device_token(n),
                "device-id": f"d{n}",
            }
            client.http.post(path, headers=HEADERS, body=json.dumps(device))
        samples = []
        for attempt in range(7):
            started = time.perf_counter()
            call = json.dumps({**body, "call-id": f"fan-{size}-{attempt}"})
            response = client.http.post(f"{path}/push", headers=HEADERS, body=call)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.body
        walls[size] = statistics.median(samples)
    return walls


def cold_start(config_dir: Path, data_dir: Path, what: str = APP) -> dict[str, float]:
    """A fresh interpreter: `what` timed, and the peak RSS of its own address space."""
    code = (
        f"import time; t=time.perf_counter(); {what}; s=time.perf_counter()-t; "
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(s, int(hwm)/1024)"
    )
    env = {**os.environ, "CONFIG_DIR": str(config_dir), "DATA_DIR": str(data_dir)}
    times, rss = [], []
    for _ in range(9):
        command = [sys.executable, "-c", code]
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        seconds, megabytes = map(float, out.stdout.split()[-2:])
        times.append(seconds * 1000)
        rss.append(megabytes)
    return {"ms": statistics.median(times), "rss_mb": statistics.median(rss)}


def _host_arch_copy(base: Path) -> Path:
    """The project with its stages on this machine's architecture: the AWS stages build
    arm64 wheels, which an x86_64 machine cannot import."""
    project = base / "project"
    skip = shutil.ignore_patterns(".venv*", ".git", ".run", "__pycache__", ".*_cache", ".hyp*")
    shutil.copytree(ROOT, project, ignore=skip)
    config_file = project / ".chalice" / "config.json"
    config = json.loads(config_file.read_text())
    for scope in (config, *config["stages"].values()):
        scope.pop("lambda_architecture", None)
    config_file.write_text(json.dumps(config))
    return project


def packaged_cold_start(config_dir: Path) -> dict[str, float]:
    """Cold start from the Lambda zip as chalice packages it, then with bytecode added."""
    from tools.compile_package import compile_zip

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1"}
        chalice = Path(sys.executable).parent / "chalice"
        command = [str(chalice), "package", "--stage", "prod", str(base / "out")]
        subprocess.run(command, cwd=_host_arch_copy(base), env=env, check=True, capture_output=True)
        results = {}
        for variant in ("sources", "bytecode"):
            archive = base / "out" / "deployment.zip"
            if variant == "bytecode":
                compile_zip(archive)
            target = base / variant
            with zipfile.ZipFile(archive) as unpacked:
                unpacked.extractall(target)
            code = (
                "import sys, time; sys.path.insert(0, '.'); t=time.perf_counter(); "
                f"{APP}; print(time.perf_counter()-t)"
            )
            times = []
            for _ in range(7):
                run_env = {
                    **os.environ,
                    "CONFIG_DIR": str(config_dir),
                    "DATA_DIR": str(base / "data"),
                }
                out = subprocess.run(
                    [sys.executable, "-B", "-c", code],
                    cwd=target,
                    env=run_env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times.append(float(out.stdout.split()[-1]) * 1000)
            results[variant] = statistics.median(times)
    return results


def warm_rss(config_dir: Path) -> tuple[float, float]:
    """Peak RSS of a fresh process (bench/rss_probe.py) before and after 400 warm pushes."""
    env = {**os.environ, "CONFIG_DIR": str(config_dir), "DATA_DIR": str(config_dir.parent / "data")}
    command = [sys.executable, "-m", "bench.rss_probe"]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    before, after = map(float, out.stdout.split()[-2:])
    return before, after


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send everything written to stdout/stderr (log lines, EMF blobs, forked fakes) to
    `log`: thousands of push log lines would bury the result."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("w") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmarks, as ratios measured in one run.")
    parser.add_argument(
        "--record", action="store_true", help="write bench/results.md (tracked) instead"
    )
    args = parser.parse_args()
    out_dir = ROOT / ".run" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "bench.log"
    target = ROOT / "bench" / "results.md" if args.record else out_dir / "results.md"
    print(f"benchmarking (a few minutes); log lines in {log.relative_to(ROOT)}", flush=True)
    with output_to(log):
        report = measure()
    target.write_text(report)
    print(report)
    print(f"written to {target.relative_to(ROOT)}")


def measure() -> str:
    count = int(os.environ.get("BENCH_COUNT", "1000"))
    rtt = float(os.environ.get("BENCH_RTT", "0.02"))
    sizes = (1, 10, 50)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        creds = make_credentials(base / "creds")
        with FakeFcm(creds) as fcm:
            with apns_process(creds, 0.0, 0) as url:
                config_dir = write_config(base, creds, url, fcm)
                api.reset_runtime(settings_for(config_dir, CONFIG_CHECK_INTERVAL="2"))
                push = warm_push(creds, url, count)
                event, context = api_event("/push", json.dumps(PUSH)), LambdaContext()
                spent = cost.measure(lambda: app(event, context))
                rss = warm_rss(config_dir)
            with apns_process(creds, rtt, max(sizes)) as url:
                config_dir = write_config(base, creds, url, fcm)
                api.reset_runtime(settings_for(config_dir))
                with Client(app) as client:
                    walls = fan_out(client, sizes)
        cold = cold_start(config_dir, base / "data")
        packaged = packaged_cold_start(config_dir)
        floor = cold_start(config_dir, base / "data", FLOOR)
    one = walls[1]
    # a fan-out's floor: one round trip plus each push's CPU (the bare send's) in turn
    floor_50 = rtt + 50 * push["bare_ms"] / 1000
    lines = [
        "# Benchmark results (one run; ratios are what to compare)",
        "",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; "
        "the fake APNs in its own process.",
        "",
        "## Warm v1 push, CPU per push",
        f"- the Lambda handler (API Gateway event -> answer): {push['ours_ms']:.3f} ms",
        f"- bare httpx HTTP/2 send of the same notification: {push['bare_ms']:.3f} ms",
        f"- ratio: **{push['ratio']:.2f}x** a bare send",
        "",
        f"## v2 fan-out wall time, fake APNs answering after {rtt * 1000:.0f} ms",
        *[
            f"- {n} devices: {w * 1000:.1f} ms = **{w / one:.2f}x** one push"
            for n, w in walls.items()
        ],
        f"- 50 devices against one round trip plus 50 bare sends' CPU ({floor_50 * 1000:.1f} ms):"
        f" **{walls[50] / floor_50:.2f}x**",
        "",
        "## Memory",
        f"- peak RSS {rss[1]:.0f} MB after 400 warm pushes to APNs and FCM ({rss[0]:.0f} MB "
        "after the imports): a 128 MB Lambda holds it",
        "",
        "## Cold start (fresh interpreter: import app + load config; .pyc present)",
        f"- {cold['ms']:.0f} ms, peak RSS {cold['rss_mb']:.0f} MB",
        "- the libraries alone (httpcore + h2, pydantic, chalice, Powertools): "
        f"{floor['ms']:.0f} ms, peak RSS {floor['rss_mb']:.0f} MB; "
        f"ours is **{cold['ms'] / floor['ms']:.2f}x** that",
        "- from the Lambda zip (`chalice package`, imported without writing bytecode, as in "
        f"Lambda): {packaged['sources']:.0f} ms as packaged; {packaged['bytecode']:.0f} ms with "
        f"the bytecode `make package` adds (**{packaged['sources'] / packaged['bytecode']:.1f}x** "
        "faster)",
        "",
        *cost.report(spent, rtt * 1000),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
