"""The full soak: 1,000 pushes while the fake APNs fails a third of them at random, through
the in-process scheduler and through SQS on a moto server. Run: `make soak`."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.soak_harness import (  # noqa: E402
    SoakResult,
    fake_config,
    moto_server,
    run_soak,
    soak_settings,
    sqs_pump,
)
from chalicelib.retry.idempotency import create_idempotency_table  # noqa: E402
from chalicelib.retry.sqs import create_queues  # noqa: E402
from fakepns.credentials import make_credentials  # noqa: E402
from fakepns.fake_apns import FakeApns  # noqa: E402
from fakepns.fake_fcm import FakeFcm  # noqa: E402
from fakepns.server_config import LINPHONE, SYLK  # noqa: E402


def line(name: str, r: SoakResult) -> str:
    return (
        f"- {name}: {r.sent} sent, {r.delivered} delivered, {r.expired} expired, "
        f"{r.duplicates} duplicates, {r.lost} lost, {r.attempts} attempts, {r.seconds:.1f} s"
    )


def main() -> None:
    count = int(os.environ.get("SOAK_COUNT", "1000"))
    with moto_server(), tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        creds = make_credentials(base / "creds")
        topics = (SYLK, f"{SYLK}.voip", LINPHONE, f"{LINPHONE}.voip")
        with FakeApns(creds, topics=topics) as apns, FakeFcm(creds) as fcm:
            config = fake_config(base, creds, apns, fcm)
            local = run_soak(
                apns, soak_settings(config, RETRY_DELAY_SCALE="0.05"), count, timeout=300
            )
            apns.reset()
            sqs = boto3.client("sqs")
            name = f"soak-{uuid.uuid4().hex[:8]}"
            url, _ = create_queues(sqs, name)
            create_idempotency_table(boto3.client("dynamodb"), f"{name}-idem")
            settings = soak_settings(
                config, RETRY_QUEUE="sqs", RETRY_QUEUE_URL=url, IDEMPOTENCY_TABLE=f"{name}-idem"
            )
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
