"""Where the CPU of a warm v1 push goes: cProfile of pushes through the Lambda handler.

Writes the top functions by own time and the TLS writes per push to the file named on the
command line (bench/profile-*.txt records one before and one after a change).
Run: `.venv/bin/python -m bench.profile_push bench/profile-after.txt`.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

from app import app
from chalicelib import api
from fakepns.credentials import make_credentials
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import settings_for, write_config

from .lambda_events import PUSH, LambdaContext, api_event
from .run import apns_process

PUSHES = 2000


def profile(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        creds = make_credentials(base / "creds")
        with FakeFcm(creds) as fcm, apns_process(creds, 0.0, 0) as url:
            config_dir = write_config(base, creds, url, fcm)
            api.reset_runtime(settings_for(config_dir, CONFIG_CHECK_INTERVAL="2"))  # as bench
            event, context = api_event("/push", json.dumps(PUSH)), LambdaContext()
            for _ in range(50):  # warm: connection, JWT, config, caches
                assert app(event, context)["statusCode"] == 200
            profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
            profiler.enable()
            for _ in range(PUSHES):
                app(event, context)
            profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    writes = sum(  # the TLS records' writes, whichever Python wrapper made them
        calls
        for (_, _, name), (_, calls, *_rest) in stats.stats.items()  # type: ignore[attr-defined]
        if name == "<method 'write' of '_ssl._SSLSocket' objects>"
    )
    text.write(f"# CPU of {PUSHES} warm v1 pushes through the Lambda handler\n")
    text.write(f"TLS writes per push: {writes / PUSHES:.2f}\n\n")
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(45)
    out.write_text(text.getvalue())
    print(text.getvalue()[:3000])


if __name__ == "__main__":
    profile(Path(sys.argv[1]))
