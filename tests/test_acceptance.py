"""As an operator runs it: `chalice local` (what `make serve` starts) on a real port, driven by
the pushclient command line that OpenSIPS calls."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import SYLK

ROOT = Path(__file__).resolve().parent.parent
PUSHCLIENT = [sys.executable, str(ROOT / "bin" / "pushclient")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(config_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CONFIG_DIR": str(config_dir), "DATA_DIR": str(config_dir.parent / "data")}
    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "local", "--no-autoreload", "--port", str(port), "--stage", "local"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/", timeout=1):
                    break
            except OSError:
                assert server.poll() is None, "chalice local exited"
                assert time.monotonic() < deadline, "chalice local did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def pushclient(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PUSHCLIENT, *args], check=False, capture_output=True, text=True, timeout=30
    )


def test_opensips_command_line_against_chalice_local(served: str, apns: FakeApns) -> None:
    token = "ab" * 32
    done = pushclient(
        f"--url={served}/push",
        "--platform=ios",
        f"--appid={SYLK}",
        f"--token={token}-{'cd' * 32}",
        "--deviceid=<urn:uuid:5b4d6c1e-0000-4000-8000-000000000001>",
        "--callid=accept-1@example.com",
        '--from="alice@example.com"',
        '--from_name="Alice"',
        "--to=bob@example.com",
        "--mediatype=audio, video",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "response 200 OK" in done.stdout
    [received] = apns.received
    assert received.token == token
    assert received.json["media-type"] == "video"
    assert received.json["from_display_name"] == "Alice"


def test_v2_walk_through_against_chalice_local(served: str, apns: FakeApns, fcm: FakeFcm) -> None:
    account = ["--url", served, "--account", "carol@example.com"]
    added = pushclient(
        *account,
        "add",
        "--platform",
        "ios",
        "--appid",
        SYLK,
        "--token",
        "ef" * 32,
        "--deviceid",
        "iphone",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    added = pushclient(
        *account,
        "add",
        "--platform",
        "android",
        "--appid",
        SYLK,
        "--token",
        "fcm-x",
        "--deviceid",
        "pixel",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    pushed = pushclient(
        *account,
        "push",
        "--callid",
        "v2-1",
        "--from",
        "dave@example.com",
        "--to",
        "carol@example.com",
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert [r.token for r in apns.received] == ["ef" * 32]
    assert [r.token for r in fcm.received] == ["fcm-x"]
    removed = pushclient(*account, "remove", "--appid", SYLK, "--deviceid", "pixel")
    assert removed.returncode == 0
    again = pushclient(*account, "remove", "--appid", SYLK, "--deviceid", "pixel")
    assert again.returncode == 1
    assert "device not found" in again.stdout


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_unknown_routes_and_wrong_methods_in_the_envelope_under_chalice_local(served: str) -> None:
    status, answer = fetch(f"{served}/pushes")
    assert (status, answer["code"]) == (404, 404)
    assert "POST /push" in answer["data"]["routes"]
    status, answer = fetch(f"{served}/push")
    assert (status, answer["code"], answer["data"]["allowed"]) == (405, 405, ["POST"])
    status, answer = fetch(f"{served}/v2/tokens/a@example.com/push", "PUT")
    assert (status, answer["code"]) == (405, 405)
