"""Tests of the pushclient CLI against a real local HTTP server (stdlib http.server)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import pushclient
from tools.pushclient import main

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin" / "pushclient"
ENVELOPE_OK = '{"code": 200, "description": "push notification response", "data": {}}'


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Scripted:
    status: int
    body: str
    delay: float = 0.0


@dataclass
class MockServer:
    base: str
    requests: list[Recorded] = field(default_factory=list)
    answers: list[Scripted] = field(default_factory=list)

    @property
    def push_url(self) -> str:
        return f"{self.base}/push"

    def answer(self, status: int, body: str = "", delay: float = 0.0) -> None:
        self.answers.append(Scripted(status, body, delay))

    def next_answer(self) -> Scripted:
        return self.answers.pop(0) if self.answers else Scripted(200, ENVELOPE_OK)

    @property
    def only(self) -> Recorded:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]


def _handler(server: MockServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            server.requests.append(
                Recorded(
                    self.command,
                    self.path,
                    {key.lower(): value for key, value in self.headers.items()},
                    raw,
                )
            )
            scripted = server.next_answer()
            if scripted.delay:
                time.sleep(scripted.delay)
            payload = scripted.body.encode()
            try:
                self.send_response(scripted.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test)

        do_POST = _handle
        do_DELETE = _handle
        do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(pushclient.API_KEY_ENV, raising=False)


@pytest.fixture
def server() -> Iterator[MockServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    mock = MockServer(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler(mock)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield mock
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def refused_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def opensips_args(url: str, **overrides: str) -> list[str]:
    """The v1 command line OpenSIPS builds (reference 8.1), as the exec'ing shell passes it."""
    options = {
        "platform": "ios",
        "appid": "com.example.phone",
        "from_name": '"Alice"',
        "mediatype": '"audio, video"',
        "event": "incoming_session",
        "token": "AAA-BBB",
        "deviceid": "<urn:uuid:0a1b2c3d>",
        "callid": "call-1@pbx",
        "from": "alice@example.com",
        "to": "bob@example.com",
    }
    options.update(overrides)
    return ["--url", url, *(f"--{key}={value}" for key, value in options.items())]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# v1


def test_v1_opensips_incoming_session_exact_request(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(opensips_args(server.push_url), capsys)

    assert code == 0
    request = server.only
    assert request.method == "POST"
    assert request.path == "/push"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "platform": "ios",
        "app-id": "com.example.phone",
        "token": "AAA",
        "media-type": "video",
        "event": "incoming_session",
        "from": "alice@example.com",
        "from-display-name": "Alice",
        "to": "bob@example.com",
        "device-id": "<urn:uuid:0a1b2c3d>",
        "call-id": "call-1@pbx",
        "silent": "1",
    }
    assert out.splitlines() == [
        f"incoming_session push for call-1@pbx to {server.push_url} response 200 OK: "
        "push notification response",
        ENVELOPE_OK,
    ]


def test_v1_opensips_cancel_uses_second_token_part(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = opensips_args(server.push_url, event="cancel", **{"from": '"alice@example.com"'})
    code, out, _ = run(argv, capsys)

    assert code == 0
    assert server.only.json == {
        "platform": "ios",
        "app-id": "com.example.phone",
        "token": "BBB",
        "media-type": "video",
        "event": "cancel",
        "from": "alice@example.com",
        "from-display-name": "Alice",
        "to": "bob@example.com",
        "device-id": "<urn:uuid:0a1b2c3d>",
        "call-id": "call-1@pbx",
        "silent": "1",
    }
    assert out.startswith(f"cancel push for call-1@pbx to {server.push_url} response 200 OK: ")


def test_v1_defaults_and_space_separated_options(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--url", server.push_url,
        "--platform", "android",
        "--appid", "com.example.phone",
        "--token", "fcm:APA91b-xy_z",
        "--deviceid", "dev-1",
        "--callid", "c1",
        "--from", "carol@example.com",
        "--to", "dave@example.com",
    ]  # fmt: skip
    code, _, _ = run(argv, capsys)

    assert code == 0
    assert server.only.json == {
        "platform": "android",
        "app-id": "com.example.phone",
        "token": "fcm:APA91b-xy_z",
        "media-type": "audio",
        "event": "incoming_session",
        "from": "carol@example.com",
        "from-display-name": "carol@example.com",
        "to": "dave@example.com",
        "device-id": "dev-1",
        "call-id": "c1",
        "silent": "1",
    }
    assert "x-api-key" not in server.only.headers


def test_v1_empty_display_name_falls_back_to_from(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(opensips_args(server.push_url, from_name='""', silent="0"), capsys)
    assert code == 0
    assert server.only.json["from-display-name"] == "alice@example.com"
    assert server.only.json["silent"] == "0"


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ('"audio, video"', "video"),
        ("audio, video", "video"),
        ("video", "video"),
        ("audio", "audio"),
        ('"audio"', "audio"),
        ("chat", "chat"),
        ("file-transfer", "file-transfer"),
    ],
)
def test_v1_media_type(
    server: MockServer, capsys: pytest.CaptureFixture[str], given: str, sent: str
) -> None:
    assert run(opensips_args(server.push_url, mediatype=given), capsys)[0] == 0
    assert server.only.json["media-type"] == sent


@pytest.mark.parametrize(
    "case",
    [
        ("ios", "AAA-BBB", "incoming_session", "AAA"),
        ("apple", "AAA-BBB", "cancel", "BBB"),
        ("apns", "AAA-BBB", "message", "AAA"),
        ("ios", "AAA#BBB", "incoming_session", "AAA"),
        ("ios", "AAA#BBB", "cancel", "BBB"),
        ("ios", "AAA", "cancel", "AAA"),
        ("firebase", "fcm-token-x", "incoming_session", "fcm-token-x"),
        ("android", "fcm-token-x", "cancel", "fcm-token-x"),
    ],
)
def test_v1_token_split(
    server: MockServer, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str, str]
) -> None:
    platform, token, event, sent = case
    argv = opensips_args(server.push_url, platform=platform, token=token, event=event)
    assert run(argv, capsys)[0] == 0
    assert server.only.json["token"] == sent


@pytest.mark.parametrize("description", ["accepted for delivery", "queued for retry"])
def test_v1_202_is_success_unlike_the_original(
    server: MockServer, capsys: pytest.CaptureFixture[str], description: str
) -> None:
    body = f'{{"code": 202, "description": "{description}", "data": {{}}}}'
    server.answer(202, body)
    code, out, _ = run(opensips_args(server.push_url), capsys)

    assert code == 0
    assert out == (
        f"incoming_session push for call-1@pbx to {server.push_url} response 202 Accepted: "
        f"{description}\n{body}\n"
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, '{"code": 400, "description": "field required: to", "data": ""}'),
        (500, '{"code": 500, "description": "internal error", "data": {}}'),
    ],
)
def test_v1_non_200_is_failure(
    server: MockServer, capsys: pytest.CaptureFixture[str], status: int, body: str
) -> None:
    server.answer(status, body)
    code, out, err = run(opensips_args(server.push_url), capsys)

    assert code == 1
    description = json.loads(body)["description"]
    assert err.startswith(f"incoming_session push for call-1@pbx to {server.push_url} failed: ")
    assert err.endswith(f" {status} {HTTPStatus(status).phrase}: {description}\n")
    assert out == body + "\n"
    assert "must be purged" not in out


def test_v1_410_asks_to_purge_the_token(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    body = '{"code": 410, "description": "push notification response", "data": {}}'
    server.answer(410, body)
    code, out, err = run(opensips_args(server.push_url), capsys)

    assert code == 1
    assert err == (
        f"incoming_session push for call-1@pbx to {server.push_url} failed: 410 Gone: "
        "push notification response\n"
    )
    assert out.splitlines() == [body, "Token AAA-BBB must be purged"]


def test_v1_connection_refused(refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"{refused_url}/push"
    code, out, err = run(opensips_args(url), capsys)

    assert (code, out) == (1, "")
    prefix = f"incoming_session push for call-1@pbx to {url} failed: connection error: "
    assert err.startswith(prefix)
    assert "refused" in err.lower()


def test_v1_timeout_option(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.answer(200, ENVELOPE_OK, delay=1.0)
    started = time.monotonic()
    code, _, err = run([*opensips_args(server.push_url), "--timeout=0.2"], capsys)

    assert code == 1
    assert time.monotonic() - started < 0.9
    assert "failed: connection error: " in err
    assert "timed out" in err


def test_v1_redirect_is_not_followed(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answer(307, "")
    code, _, err = run(opensips_args(server.push_url), capsys)

    assert code == 1
    assert "failed: HTTP 307 is not an rtc-pushserver answer (an empty body)" in err
    assert len(server.requests) == 1


def test_v1_missing_required_option_sends_nothing(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg for arg in opensips_args(server.push_url) if not arg.startswith("--token")]
    code, _, err = run(argv, capsys)

    assert code == 2
    assert "--token" in err
    assert server.requests == []


def test_v1_help_mentions_v2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "--mediatype" in out
    assert "{add,remove,push}" in out


def test_api_key_option_and_environment(
    server: MockServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run([*opensips_args(server.push_url), "--api-key=secret-1"], capsys)[0] == 0
    monkeypatch.setenv(pushclient.API_KEY_ENV, "secret-2")
    assert run(opensips_args(server.push_url), capsys)[0] == 0

    assert [r.headers.get("x-api-key") for r in server.requests] == ["secret-1", "secret-2"]


# --------------------------------------------------------------------------------------------
# v2


def test_v2_add(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    body = '{"code": 200, "description": "token stored", "data": {}}'
    server.answer(200, body)
    argv = [
        "--url", f"{server.base}/",
        "--account", "alice@example.com",
        "add",
        "--platform", "ios",
        "--appid", "com.example.phone",
        "--token", "AAA-BBB",
        "--deviceid", "dev-1",
    ]  # fmt: skip
    code, out, _ = run(argv, capsys)

    assert code == 0
    url = f"{server.base}/v2/tokens/alice%40example.com"
    assert out.splitlines() == [f"add POST {url} response 200 OK: token stored", body]
    request = server.only
    assert request.method == "POST"
    assert request.path == "/v2/tokens/alice%40example.com"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "platform": "ios",
        "app-id": "com.example.phone",
        "token": "AAA-BBB",
        "device-id": "dev-1",
        "silent": "1",
    }


def test_v2_add_with_user_agent_and_options_after_subcommand(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "add",
        "--url", server.base,
        "--account", "bob@example.com",
        "--platform=android",
        "--appid=com.example.phone",
        "--token=fcm-tok",
        "--deviceid=dev-2",
        "--silent=0",
        "--user_agent=Sylk 5.0",
    ]  # fmt: skip
    code, _, _ = run(argv, capsys)

    assert code == 0
    assert server.only.path == "/v2/tokens/bob%40example.com"
    assert server.only.json == {
        "platform": "android",
        "app-id": "com.example.phone",
        "token": "fcm-tok",
        "device-id": "dev-2",
        "silent": "0",
        "user-agent": "Sylk 5.0",
    }


def test_v2_remove(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--url", server.base,
        "--account", "alice@example.com",
        "remove", "--appid", "com.example.phone", "--deviceid", "dev-1",
    ]  # fmt: skip
    code, _, _ = run(argv, capsys)

    assert code == 0
    request = server.only
    assert request.method == "DELETE"
    assert request.path == "/v2/tokens/alice%40example.com"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"app-id": "com.example.phone", "device-id": "dev-1"}


def test_v2_push_to_all_devices_defaults(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--url", server.base,
        "--account", "alice@example.com",
        "push", "--callid", "c9", "--from", "bob@example.com", "--to", "alice@example.com",
    ]  # fmt: skip
    code, _, _ = run(argv, capsys)

    assert code == 0
    request = server.only
    assert request.method == "POST"
    assert request.path == "/v2/tokens/alice%40example.com/push"
    assert request.json == {
        "media-type": "audio",
        "event": "incoming_session",
        "from": "bob@example.com",
        "from-display-name": "bob@example.com",
        "to": "alice@example.com",
        "call-id": "c9",
        "badge": 1,
    }


def test_v2_push_to_one_device_with_all_fields(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--url", server.base,
        "--account", "alice@example.com",
        "push",
        "--deviceid", "dev/1 x",
        "--mediatype", '"audio, video"',
        "--event", "message",
        "--callid", "c10",
        "--from", '"bob@example.com"',
        "--from_name", '"Bob"',
        "--to", "alice@example.com",
        "--reason", "busy",
        "--badge", "3",
        "--filename", "a.png",
        "--filetype", "image/png",
        "--content", "hello",
        "--content_type", "text/plain",
    ]  # fmt: skip
    code, _, _ = run(argv, capsys)

    assert code == 0
    assert server.only.path == "/v2/tokens/alice%40example.com/push/dev%2F1%20x"
    assert server.only.json == {
        "media-type": "video",
        "event": "message",
        "from": "bob@example.com",
        "from-display-name": "Bob",
        "to": "alice@example.com",
        "call-id": "c10",
        "badge": 3,
        "reason": "busy",
        "filename": "a.png",
        "filetype": "image/png",
        "content": "hello",
        "content-type": "text/plain",
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, 0), (202, 0), (410, 0), (400, 1), (404, 1), (500, 1)],
)
def test_v2_exit_codes(
    server: MockServer, capsys: pytest.CaptureFixture[str], status: int, expected: int
) -> None:
    body = json.dumps({"code": status, "description": "scripted", "data": {}})
    server.answer(status, body)
    argv = [
        "--url", server.base,
        "--account", "alice@example.com",
        "remove", "--appid", "com.example.phone", "--deviceid", "dev-1",
    ]  # fmt: skip
    code, out, err = run(argv, capsys)

    assert code == expected
    assert out.splitlines()[-1] == body
    verdict = f" {status} {HTTPStatus(status).phrase}: scripted\n"
    assert (err if expected else out.splitlines(keepends=True)[0]).endswith(verdict)
    assert ("failed:" in err) == (expected == 1)


def test_v2_connection_refused(refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--url", refused_url,
        "--account", "alice@example.com",
        "push", "--callid", "c", "--from", "b@x", "--to", "a@x",
    ]  # fmt: skip
    code, out, err = run(argv, capsys)

    assert (code, out) == (1, "")
    assert err.startswith(
        f"push POST {refused_url}/v2/tokens/alice%40example.com/push failed: connection error: "
    )


def test_v2_requires_account(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--url", server.base, "remove", "--appid", "a", "--deviceid", "d"], capsys)
    assert code == 2
    assert "--account" in err
    assert server.requests == []


def test_either_url_form_for_both_interfaces(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(opensips_args(f"{server.base}/"), capsys)[0] == 0
    remove = ["remove", "--appid", "com.example.phone", "--deviceid", "dev-1"]
    assert run(["--url", server.push_url, "--account", "a@b", *remove], capsys)[0] == 0
    assert [r.path for r in server.requests] == ["/push", "/v2/tokens/a%40b"]


def test_an_answer_outside_the_envelope_names_the_url_called(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answer(403, '{"message": "Missing Authentication Token"}')
    url = f"{server.base}/stage/push"
    code, out, err = run(opensips_args(url), capsys)

    assert (code, out) == (1, "")
    assert err == (
        f"incoming_session push for call-1@pbx to {url} failed: HTTP 403 is not an "
        'rtc-pushserver answer ({"message": "Missing Authentication Token"}); expected the '
        "server's base URL or its /push URL as --url, e.g. http://localhost:8400 or "
        "http://localhost:8400/push\n"
    )


def test_v2_default_url_and_timeout() -> None:
    args = pushclient.build_v2_parser().parse_args(
        ["--account", "a@b", "remove", "--appid", "x", "--deviceid", "d"]
    )
    assert args.url == "http://localhost:8400"
    assert args.timeout == 5.0
    method, url, body = pushclient.v2_request(args)
    assert (method, url, body) == (
        "DELETE",
        "http://localhost:8400/v2/tokens/a%40b",
        {"app-id": "x", "device-id": "d"},
    )


@pytest.mark.parametrize(
    ("argv", "v2"),
    [
        (["--url", "u", "--account", "a", "push"], True),
        (["add", "--account", "a"], True),
        (["--url=u", "remove"], True),
        (["--url", "u", "--from_name", "push", "--token", "t"], False),
        (["--url", "u", "--platform=ios"], False),
        ([], False),
    ],
)
def test_interface_detection(argv: list[str], v2: bool) -> None:
    assert pushclient.is_v2(argv) is v2


# --------------------------------------------------------------------------------------------
# Entry points as separate processes


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in {"http_proxy", "https_proxy", "all_proxy", "pythonpath"}
    }
    env.pop(pushclient.API_KEY_ENV, None)
    return env


def test_bin_script_is_executable_with_python3_shebang() -> None:
    assert BIN.read_text().startswith("#!/usr/bin/env python3\n")
    assert BIN.stat().st_mode & stat.S_IXUSR


def test_bin_pushclient_subprocess_opensips_line(server: MockServer, tmp_path: Path) -> None:
    argv = opensips_args(server.push_url, event="cancel")
    result = subprocess.run(
        [sys.executable, str(BIN), *argv],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"cancel push for call-1@pbx to {server.push_url} response")
    assert server.only.json["token"] == "BBB"
    assert server.only.json["media-type"] == "video"


def test_bin_pushclient_runs_directly_from_repo_root(
    server: MockServer,
) -> None:
    server.answer(500, "boom")
    result = subprocess.run(
        ["bin/pushclient", *opensips_args(server.push_url)],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert (result.stdout, result.stderr) == (
        "",
        f"incoming_session push for call-1@pbx to {server.push_url} failed: HTTP 500 is not "
        "an rtc-pushserver answer (boom); expected the server's base URL or its /push URL as "
        "--url, e.g. http://localhost:8400 or http://localhost:8400/push\n",
    )


def test_bin_pushclient_copied_next_to_tools(server: MockServer, tmp_path: Path) -> None:
    shutil.copy2(BIN, tmp_path / "pushclient")
    (tmp_path / "tools").mkdir()
    for name in ("__init__.py", "pushclient.py"):
        shutil.copy2(REPO / "tools" / name, tmp_path / "tools" / name)
    argv = ["--url", server.base, "--account", "alice@example.com"]
    argv += ["remove", "--appid", "com.example.phone", "--deviceid", "dev-1"]
    result = subprocess.run(
        [sys.executable, str(tmp_path / "pushclient"), *argv],
        cwd="/",
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert server.only.method == "DELETE"
    assert server.only.path == "/v2/tokens/alice%40example.com"


def test_python_dash_m(server: MockServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.pushclient", *opensips_args(server.push_url)],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert server.only.json["token"] == "AAA"
