"""Start the API as `make serve` does (`python -m tools.serve`) on a free port, its terminal
output kept in a file for the tests to read."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "tools.serve", "--port", str(port)]


@contextmanager
def local_server(config_dir: Path, output: Path, **env: str) -> Iterator[str]:
    """The base URL of a running server; its stdout and stderr go to `output`."""
    port = free_port()
    environ = {
        **os.environ,
        "CONFIG_DIR": str(config_dir),
        "DATA_DIR": str(config_dir.parent / "data"),
        **env,
    }
    with output.open("w") as sink:
        server = subprocess.Popen(
            serve_command(port), cwd=ROOT, env=environ, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/", timeout=1):
                    break
            except urllib.error.HTTPError:
                break  # it answers, whatever it says
            except OSError:
                assert server.poll() is None, f"server exited: {output.read_text()}"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)
