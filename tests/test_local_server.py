"""What someone at a terminal sees from `make serve` / `make run`: the config it found at
start, a port already taken in one line, and one readable line per push."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import logformat
from chalicelib.settings import Settings, SettingsError
from fakepns.fake_apns import FakeApns
from fakepns.server_config import SYLK
from tests.helpers import call
from tests.local_server import ROOT, free_port, local_server, serve_command
from tests.test_push_v1 import body


def fetch(url: str, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def settled(output: Path) -> list[str]:
    """The server's lines once it has written everything it will for the requests so far."""
    time.sleep(0.3)
    return output.read_text().splitlines()


def test_health_is_503_when_no_app_is_configured(client: Client, config_dir: Path) -> None:
    (config_dir / "applications.ini").unlink()
    status, answer = call(client, "GET", "/health")
    assert status == 503
    assert answer["description"] == "not ready: no apps configured in config (CONFIG_DIR)"


def test_a_wrong_config_dir_is_said_at_start(tmp_path: Path) -> None:
    output = tmp_path / "server.log"
    with local_server(tmp_path / "nonexistent", output) as url:
        start = output.read_text()
        status, answer = fetch(f"{url}/health")
    assert f"no apps configured: looked in {tmp_path / 'nonexistent'} (CONFIG_DIR)" in start
    assert status == 503
    assert answer["code"] == 503


def test_unusable_settings_are_said_at_start(tmp_path: Path, config_dir: Path) -> None:
    output = tmp_path / "server.log"
    with local_server(config_dir, output, LOG_FORMAT="xml") as url:
        start = output.read_text()
        status, answer = fetch(f"{url}/health")
    assert "settings not usable: LOG_FORMAT must be one of json, text, not 'xml'" in start
    assert "Traceback" not in start
    assert (status, answer["code"]) == (503, 503)


def test_a_taken_port_is_one_line_naming_who_holds_it(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        done = subprocess.run(
            serve_command(port),
            check=False,
            cwd=ROOT,
            env={**os.environ, "CONFIG_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"port {port} is already in use by pid {os.getpid()} ({' '.join(_cmdline())}): "
        "stop it, or set PORT to another port\n"
    )


def _cmdline() -> list[str]:
    return Path("/proc/self/cmdline").read_text().rstrip("\0").split("\0")


def test_a_push_is_one_readable_line(tmp_path: Path, config_dir: Path, apns: FakeApns) -> None:
    output = tmp_path / "server.log"
    with local_server(config_dir, output) as url:
        before = len(settled(output))
        status, _ = fetch(
            f"{url}/push", body(SYLK, "ios", "incoming_session", **{"call-id": "c-7"})
        )
        [line] = settled(output)[before:]
    assert status == 200
    assert not line.startswith("{")  # not JSON, and no EMF blob or access line after it
    assert " INFO    push delivered  " in line
    for field in ("app_id=com.example.sylk", "platform=apple", "call_id=c-7", "status=200"):
        assert field in line.split(), line
    assert "token=..." in line


def test_json_logs_when_asked(tmp_path: Path, config_dir: Path, apns: FakeApns) -> None:
    output = tmp_path / "server.log"
    with local_server(config_dir, output, LOG_FORMAT="json") as url:
        before = len(settled(output))
        fetch(f"{url}/push", body(SYLK, "ios", "incoming_session"))
        lines = [json.loads(line) for line in settled(output)[before:]]
    assert [line["message"] for line in lines if "message" in line] == ["push delivered"]
    assert any("_aws" in line for line in lines)  # the EMF metrics, as in Lambda


def test_an_unknown_log_format_names_the_accepted_ones() -> None:
    with pytest.raises(SettingsError, match="LOG_FORMAT must be one of json, text, not 'xml'"):
        Settings.from_env({"LOG_FORMAT": "xml"})


def test_a_text_line_keeps_every_field_and_the_traceback() -> None:
    record = {
        "level": "ERROR",
        "message": "unexpected error",
        "timestamp": "20:01:02",
        "service": "pushserver",
        "error_id": "e-1",
        "reason": 'said "no"',
        "exception": "Traceback (most recent call last):\nValueError: x",
    }
    assert logformat.text_line(record) == (
        '20:01:02 ERROR   unexpected error  error_id=e-1 reason="said \\"no\\""\n'
        "Traceback (most recent call last):\nValueError: x"
    )
