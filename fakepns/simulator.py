"""Run fake APNs and FCM locally and print every notification they receive.

    python -m fakepns.simulator --dir DIR --apns-port 8401 --fcm-port 8402

Credentials are generated into DIR once and reused on restart, under stable
names a committed configuration can point at: DIR/ca.pem, DIR/apns-cert.pem
(certificate + key), DIR/apns-token.p8 and DIR/fcm-service-account.json (its
token_uri is rewritten to this run's fake FCM). Accepted notifications are
also appended to DIR/received.jsonl. Stops on SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from chalicelib.audit import mask

from .credentials import (
    APNS_BUNDLE_ID,
    TestCredentials,
    load_credentials,
    make_credentials,
    write_service_account,
)
from .fake_apns import Attempt, FakeApns
from .fake_fcm import FakeFcm, FcmAttempt

SERVICE_ACCOUNT_FILE = "fcm-service-account.json"
RECEIVED_FILE = "received.jsonl"
BUNDLES = (APNS_BUNDLE_ID, "com.example.linphone")
TOPICS = tuple(t for bundle in BUNDLES for t in (bundle, f"{bundle}.voip"))


def _short(token: str | None) -> str:
    # the server's own mask: its logs, its answers and this line name a push's token alike
    return mask(token) if token else "-"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


class NotificationLog:
    """Prints one line per request and appends accepted ones to a JSON-lines file.

    Called from both fakes' server threads, hence the lock.
    """

    def __init__(self, path: Path, out: TextIO = sys.stdout) -> None:
        self._path = path
        self._out = out
        self._lock = threading.Lock()

    def apns(self, attempt: Attempt) -> None:
        what = f"{attempt.push_type} {attempt.topic or '-'} token={_short(attempt.token)}"
        if attempt.status == 200:
            payload = attempt.json if attempt.json is not None else attempt.body.decode("replace")
            self._emit(
                f"APNs  <- {what} {_compact(payload)}",
                {
                    "service": "apns",
                    "time": attempt.time,
                    "token": attempt.token,
                    "topic": attempt.topic,
                    "push_type": attempt.push_type,
                    "auth": attempt.auth,
                    "headers": attempt.headers,
                    "payload": payload,
                },
            )
        else:
            result = f"{attempt.status} {attempt.reason}" if attempt.status else attempt.outcome
            self._emit(f"APNs  !! {result} {what}", None)

    def fcm(self, attempt: FcmAttempt) -> None:
        message = attempt.message or {}
        kind = "data" if "data" in message else "notification"
        what = f"{kind} target={_short(attempt.target)}"
        if attempt.status == 200:
            shown = message.get("data", message.get("notification", {}))
            self._emit(
                f"FCM   <- {what} {_compact(shown)}",
                {
                    "service": "fcm",
                    "time": attempt.time,
                    "target": attempt.target,
                    "headers": attempt.headers,
                    "message": message,
                },
            )
        else:
            result = f"{attempt.status} {attempt.error_code or ''}".strip()
            self._emit(f"FCM   !! {result or attempt.outcome} {what}", None)

    def _emit(self, line: str, record: dict[str, Any] | None) -> None:
        with self._lock:
            print(f"{time.strftime('%H:%M:%S')} {line}", file=self._out, flush=True)
            if record is not None:
                with self._path.open("a", encoding="utf-8") as sink:
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakepns.simulator", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="credentials + received.jsonl")
    parser.add_argument("--apns-port", type=int, default=8401)
    parser.add_argument("--fcm-port", type=int, default=8402)
    parser.add_argument("--project-id", default="rtc-test", help="FCM project id")
    parser.add_argument("-v", "--verbose", action="store_true", help="log TLS failures etc.")
    return parser.parse_args(argv)


def _credentials(directory: Path) -> TestCredentials:
    existing = load_credentials(directory)
    if existing is not None:
        return existing
    return make_credentials(directory)


def _banner(creds: TestCredentials, apns: FakeApns, fcm: FakeFcm, account: Path) -> str:
    return "\n".join(
        [
            f"fake APNs  {apns.url}   topics: {', '.join(TOPICS)}",
            f"fake FCM   {fcm.send_url}",
            f"CA certificate        {creds.ca_cert}",
            f"APNs certificate      {creds.client_combined}   (cert + key)",
            f"APNs token key (.p8)  {creds.apns_p8}   key_id={creds.apns_key_id} "
            f"team_id={creds.apns_team_id}",
            f"FCM service account   {account}   token_uri={fcm.token_uri}",
            f"received log          {creds.dir / RECEIVED_FILE}",
            "Ctrl-C to stop.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    directory: Path = args.dir.resolve()
    creds = _credentials(directory)
    log = NotificationLog(directory / RECEIVED_FILE)
    apns = FakeApns(creds, port=args.apns_port, topics=TOPICS, on_attempt=log.apns)
    fcm = FakeFcm(creds, port=args.fcm_port, project_id=args.project_id, on_attempt=log.fcm)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        apns.start()
        fcm.start()
        account = write_service_account(
            creds, directory / SERVICE_ACCOUNT_FILE, fcm.token_uri, args.project_id
        )
        print(_banner(creds, apns, fcm, account), flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        fcm.stop()
        apns.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
