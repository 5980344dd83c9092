"""The full soak: 1,000 pushes while the fake APNs fails a third of them at random, through
the in-process scheduler and through SQS on a moto server. Run: `make soak`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.soak_harness import (  # noqa: E402
    SoakResult,
    fake_stack,
    run_soak,
    soak_settings,
    sqs_pump,
    sqs_settings,
)


def line(name: str, r: SoakResult) -> str:
    return (
        f"- {name}: {r.sent} sent, {r.delivered} delivered, {r.expired} expired, "
        f"{r.duplicates} duplicates, {r.lost} lost, {r.attempts} attempts, {r.seconds:.1f} s"
    )


def main() -> None:
    count = int(os.environ.get("SOAK_COUNT", "1000"))
    with fake_stack() as (apns, config):
        local = run_soak(apns, soak_settings(config, RETRY_DELAY_SCALE="0.05"), count, timeout=300)
        apns.reset()
        settings, url, sqs = sqs_settings(config, "soak")
        remote = run_soak(apns, settings, count, pump=sqs_pump(url, sqs), timeout=600)
    report = "\n".join(
        [
            "# Soak (APNs fails 1/3 at random)",
            line("in-process scheduler", local),
            line("SQS on moto server", remote),
        ]
    )
    (ROOT / "bench" / "soak-results.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
