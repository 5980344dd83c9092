"""As an operator runs it: `make serve` (chalice's local server) on a real port, driven by
the pushclient command line that OpenSIPS calls."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import SYLK
from tests.local_server import local_server

ROOT = Path(__file__).resolve().parent.parent
PUSHCLIENT = [sys.executable, str(ROOT / "bin" / "pushclient")]


@pytest.fixture
def served(config_dir: Path) -> Iterator[str]:
    with local_server(config_dir, config_dir.parent / "server.log") as url:
        yield url


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


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, b"<p>" if headers else None, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_unknown_routes_wrong_methods_and_content_types_in_the_envelope_under_make_serve(
    served: str,
) -> None:
    status, answer = fetch(f"{served}/pushes")
    assert (status, answer["code"]) == (404, 404)
    assert "POST /push" in answer["data"]["routes"]
    status, answer = fetch(f"{served}/v2/tokens", "POST")  # deeper than one segment
    assert (status, answer["code"], answer["data"]["path"]) == (404, 404, "/v2/tokens")
    assert "POST /push" in answer["data"]["routes"]
    status, answer = fetch(f"{served}/push")
    assert (status, answer["code"], answer["data"]["allowed"]) == (405, 405, ["POST"])
    status, answer = fetch(f"{served}/v2/tokens/a@example.com/push", "PUT")
    assert (status, answer["code"]) == (405, 405)
    status, answer = fetch(f"{served}/push", "POST", **{"Content-Type": "text/html"})
    assert (status, answer["code"]) == (415, 415)
