"""Per-app remote HTTP logging (`log_remote_urls`): the original's payload after every push
attempt, credentials redacted, posted by a background thread so the push answer never waits
for it, and retried when the receiver fails.

In Lambda the thread runs while the container runs: a record still queued when an invocation
returns goes out at the next one (or is lost with the container, which the log says).
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from functools import cache
from typing import Any

import httpcore

from . import audit
from .answers import push_status
from .config import AppConfig
from .models import PushRequest
from .notification import Notification, encode
from .pns import Outcome

ATTEMPTS = 3
REDACTED = "<redacted>"
# the original's attribute names for the incoming request; ours differ for one
_INCOMING = (
    "app_id", "platform", "event", "token", "device_id", "call_id", "sip_from",
    "from_display_name", "sip_to", "media_type", "silent", "reason", "badge", "filename",
    "filetype", "account", "content", "content_type",
)  # fmt: skip
_RENAMED = {"sip_to": "to"}


@cache  # resolved once, on the first record, not at import (cold start)
def _server_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def record(
    app: AppConfig,
    request: PushRequest,
    notification: Notification,
    outcome: Outcome,
    apns_id: str | None,
) -> dict[str, Any]:
    """What the original posted: the request, what was sent, what the PNS answered."""
    headers = dict(notification.headers)
    if apns_id:
        headers["apns-id"] = apns_id
    if app.platform == "firebase" or app.apns_auth == "token":
        headers["authorization"] = REDACTED
    return {
        "request": {
            "incoming_body": {n: getattr(request, _RENAMED.get(n, n)) for n in _INCOMING},
            "outgoing_headers": headers,
            "outgoing_body": encode(notification.payload).decode(),
        },
        "response": {
            "code": push_status(outcome),
            "description": outcome.reason,
            "push_url": outcome.url,
        },
        "server_ip": _server_ip(),
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


class RemoteLog:
    """A queue of (app, record) drained by one daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[AppConfig, dict[str, Any]]] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pool: httpcore.ConnectionPool | None = None  # made by the thread: off cold start

    def submit(self, app: AppConfig, entry: dict[str, Any]) -> None:
        if not app.log_remote_urls:
            return
        try:
            self._queue.put_nowait((app, entry))
        except queue.Full:
            audit.log("remote log dropped: queue full", logging.ERROR, app_id=app.app_id)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="remote-log", daemon=True)
                self._thread.start()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted record was handled (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        self._pool = self._pool or httpcore.ConnectionPool()
        while True:
            app, entry = self._queue.get()
            try:
                body = json.dumps(entry, separators=(",", ":")).encode()
                for url in app.log_remote_urls:
                    self._post(app, url, body, entry)
            finally:
                self._queue.task_done()

    def _post(self, app: AppConfig, url: str, body: bytes, entry: dict[str, Any]) -> None:
        timeout = app.log_remote_timeout
        extensions = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        call_id = entry["request"]["incoming_body"]["call_id"]
        assert self._pool is not None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._pool.request(
                    "POST",
                    url,
                    headers=[("content-type", "application/json")],
                    content=body,
                    extensions=extensions,
                )
            except Exception as exc:  # any transport failure: try again, then give up loudly
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status < 500:
                    self._log_answer(app, url, call_id, response)
                    return
                error = f"HTTP {response.status}"
            if attempt < ATTEMPTS:
                time.sleep(0.5 * 2 ** (attempt - 1))
        audit.log("remote log failed", logging.WARNING, call_id=call_id, url=url, reason=error)

    @staticmethod
    def _log_answer(app: AppConfig, url: str, call_id: str, response: httpcore.Response) -> None:
        fields: dict[str, Any] = {"call_id": call_id, "url": url, "status": response.status}
        if app.log_remote_key:
            try:
                answer = json.loads(response.content)
                # namespaced: a key such as `message` must not clash with a log field
                fields[f"remote_{app.log_remote_key}"] = answer[app.log_remote_key]
            except (ValueError, KeyError, TypeError):
                fields["reason"] = f"key {app.log_remote_key} not found in the answer"
        audit.log(
            "remote log sent",
            call_id=call_id,
            **{k: v for k, v in fields.items() if k != "call_id"},
        )


poster = RemoteLog()
