"""Remote HTTP logging (`log_remote_urls`) against a real local receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import api
from chalicelib.remote_log import poster
from fakepns.fake_apns import FakeApns
from fakepns.server_config import LINPHONE, settings_for
from tests.helpers import call
from tests.test_push_v1 import VOIP_TOKEN, body


class Receiver:
    """Records JSON posts; answers the scripted statuses, then 200 {"id": n}."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.answer_fields: dict[str, Any] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                data = json.loads(self.rfile.read(length))
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.posts.append((self.path, data))
                fields = {"id": len(receiver.posts), **receiver.answer_fields}
                answer = json.dumps(fields).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def logging_client(config_dir: Path, receiver: Receiver) -> Iterator[Client]:
    apps = (config_dir / "applications.ini").read_text()
    apps = apps.replace(
        "[linphone-ios]\n",
        f"[linphone-ios]\nlog_remote_urls = {receiver.url}/log1, {receiver.url}/log2\n"
        "log_remote_key = id\nlog_remote_timeout = 3\n",
    )
    (config_dir / "applications.ini").write_text(apps)
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        yield client


def test_every_push_is_posted_to_each_url_with_credentials_redacted(
    logging_client: Client, receiver: Receiver, apns: FakeApns, caplog: pytest.LogCaptureFixture
) -> None:
    status, answer = call(logging_client, "POST", "/push", body(LINPHONE, "ios", None))
    assert status == 200
    assert poster.drain()
    assert [path for path, _ in receiver.posts] == ["/log1", "/log2"]
    entry = receiver.posts[0][1]
    incoming = entry["request"]["incoming_body"]
    assert incoming["app_id"] == LINPHONE
    assert incoming["call_id"] == "call-1@example.com"
    assert incoming["sip_from"] == "alice@example.com"
    assert incoming["sip_to"] == "bob@example.com"
    headers = entry["request"]["outgoing_headers"]
    assert headers["authorization"] == "<redacted>"
    assert headers["apns-id"] == answer["data"]["apns-id"]
    assert json.loads(entry["request"]["outgoing_body"]) == apns.received[0].json
    assert entry["response"] == {
        "code": 200,
        "description": "",
        # the operator's own receiver gets the original's record: the whole token
        "push_url": answer["data"]["url"].replace(f"...{VOIP_TOKEN[-8:]}", VOIP_TOKEN),
    }
    assert entry["timestamp"] and entry["server_ip"]
    sent = apns.received[0].headers["authorization"].split()[1]
    assert sent not in json.dumps(entry)
    assert VOIP_TOKEN in json.dumps(entry)  # the device token itself is what operators search
    # log_remote_key: the receiver's answer field is logged
    sent_logs = [r for r in caplog.records if r.getMessage() == "remote log sent"]
    assert sorted(r.__dict__["remote_id"] for r in sent_logs) == [1, 2]


def test_a_failing_receiver_is_retried_and_never_slows_the_push(
    logging_client: Client, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    receiver.delay = 1.0
    started = time.monotonic()
    status, _ = call(logging_client, "POST", "/push", body(LINPHONE, "ios", None))
    assert status == 200
    assert time.monotonic() - started < 0.9  # the answer did not wait for the receiver
    assert poster.drain(timeout=10)
    assert [path for path, _ in receiver.posts] == ["/log1", "/log1", "/log2"]


@pytest.mark.parametrize("key", ["message", "call_id", "level", "msg"])
def test_a_receiver_key_named_like_a_log_field_is_logged_under_its_own_name(
    config_dir: Path, receiver: Receiver, apns: FakeApns, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    apps = (config_dir / "applications.ini").read_text()
    apps = apps.replace(
        "[linphone-ios]\n",
        f"[linphone-ios]\nlog_remote_urls = {receiver.url}/log\nlog_remote_key = {key}\n",
    )
    (config_dir / "applications.ini").write_text(apps)
    receiver.answer_fields = {key: "stored"}
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        for _ in range(2):  # the thread must survive the first answer
            assert call(client, "POST", "/push", body(LINPHONE, "ios", None))[0] == 200
            assert poster.drain()
    sent = [r for r in caplog.records if r.getMessage() == "remote log sent"]
    assert [r.__dict__[f"remote_{key}"] for r in sent] == ["stored", "stored"]
