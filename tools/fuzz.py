"""`make fuzz`: schemathesis against a running rtc-pushserver's own `/openapi.json`.

Starts the fake APNs and FCM with freshly generated credentials, the API as `make serve`
runs it (tools.serve, chalice's local server) on a free port with a config pointing at them,
then runs schemathesis with every check and prints its summary. The exit status is
schemathesis': 0 when no server error and no response that breaks the schema was found.

    python -m tools.fuzz [--max-examples 300] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fakepns.credentials import make_credentials
from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK, write_config

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API exited with status {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the API did not answer {url} within {timeout:.0f} s")


def schemathesis_command(url: str, max_examples: int, seed: int) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--request-timeout",
        "10",
        "--no-color",
    ]


def run(max_examples: int, seed: int, work: Path) -> int:
    """Fakes, API and schemathesis in `work`; returns schemathesis' exit status."""
    creds = make_credentials(work / "credentials")
    topics = (SYLK, f"{SYLK}.voip", LINPHONE, f"{LINPHONE}.voip")
    with FakeApns(creds, client_auth="optional", topics=topics) as apns, FakeFcm(creds) as fcm:
        config = write_config(work, creds, apns.url, fcm)
        port = free_port()
        env = {
            **os.environ,
            "CONFIG_DIR": str(config),
            "DATA_DIR": str(work / "data"),
            "LOG_FORMAT": "json",
        }
        with (work / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "tools.serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                wait_until_up(f"{url}/", server)
                command = schemathesis_command(url, max_examples, seed)
                # in `work`: schemathesis keeps its cache in the current directory
                return subprocess.run(command, check=False, cwd=work).returncode
            finally:
                server.terminate()
                server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz", description=__doc__)
    parser.add_argument("--max-examples", type=int, default=300, help="per operation")
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtc-fuzz-") as work:
        return run(args.max_examples, args.seed, Path(work))


if __name__ == "__main__":
    sys.exit(main())
