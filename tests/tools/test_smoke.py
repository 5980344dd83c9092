"""tools/smoke.py against a real running instance (chalice local) with the fake PNSs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tools import smoke


@contextmanager
def serving(env: dict[str, str], stage: str = "local") -> Iterator[str]:
    """`chalice local` of `stage` on a free port with `env` added; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chalice = Path(sys.executable).parent / "chalice"
    args = [str(chalice), "local", "--no-autoreload", "--port", str(port), "--stage", stage]
    server = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_healthy_instance_passes(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving({"CONFIG_DIR": str(config_dir), "DATA_DIR": str(tmp_path / "d")}) as url:
        assert smoke.main([url]) == 0
    verdict = capsys.readouterr().out.strip()
    assert verdict == f"smoke OK {url}: / 0.1.0; /health ok, 4 apps available; unknown app 404"


def test_an_instance_with_bad_settings_fails_naming_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the prod stage's environment as committed: no table or queue named until `make infra`
    with serving({}, stage="prod") as url:
        assert smoke.main([url]) == 1
    verdict = capsys.readouterr().out.strip()
    assert verdict.startswith(f"smoke FAILED {url}: GET /: 503 settings not usable: TOKENS_TABLE")


def test_an_unavailable_app_or_no_answer_fails(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = config_dir / "applications.ini"
    ini.write_text(ini.read_text().replace("firebase_authorization_file = ", "x = ", 1))
    with serving({"CONFIG_DIR": str(config_dir), "DATA_DIR": str(tmp_path / "d")}) as url:
        assert smoke.main([url]) == 1
    assert "GET /health: 200 degraded" in capsys.readouterr().out
    assert smoke.main([url]) == 1  # stopped
    assert "GET /: no answer" in capsys.readouterr().out
