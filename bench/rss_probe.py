"""Peak RSS of a process that imports the app and pushes 400 times to APNs and FCM, as a
warm Lambda container would (run by bench/run.py with CONFIG_DIR pointing at the fakes)."""

from __future__ import annotations

import json

import app

from .lambda_events import PUSH, LambdaContext, api_event


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def main() -> None:
    start = peak_rss_mb()
    for n in range(200):
        for platform, token in (("ios", "ab" * 32), ("android", "fcm-bench")):
            body = {**PUSH, "platform": platform, "token": token, "call-id": f"rss-{n}"}
            answer = app.app(api_event("/push", json.dumps(body)), LambdaContext())
            assert answer["statusCode"] == 200, answer["body"]
    print(start, peak_rss_mb())


if __name__ == "__main__":
    main()
