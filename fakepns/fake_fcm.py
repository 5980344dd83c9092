"""A fake FCM HTTP v1 API plus its OAuth token endpoint, on one TLS server.

Speaks HTTP/2 and HTTP/1.1 (as fcm.googleapis.com does). Send checks in
order: OAuth bearer, project, body rules; then the target's script.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .actions import Action, Delay, Drop, GoAway, Hang, Request, Reset, Response
from .connection import ServerConnection
from .credentials import GOOGLE_TOKEN_AUDIENCE, TestCredentials, service_account_key_id
from .fake_base import FakeServer
from .fcm_errors import JSON_TYPE, Reply, error_body
from .fcm_oauth import AccessTokenIssuer
from .fcm_validation import ParsedSend, parse_send
from .h2server import H2Server
from .tls import server_context

__all__ = [
    "Delay",
    "Drop",
    "FakeFcm",
    "FcmAttempt",
    "FcmReceived",
    "GoAway",
    "Hang",
    "Received",
    "Reply",
    "Reset",
]

_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
_NOT_FOUND_PAGE = (
    b"<!DOCTYPE html>\n<html lang=en><title>Error 404 (Not Found)!!1</title>"
    b"<p><b>404.</b> That's an error.<p>The requested URL was not found on this server.</html>\n"
)

Outcome = Reply | Hang | Delay | Reset | GoAway | Drop
_OUTCOME_TYPES = (Reply, Hang, Delay, Reset, GoAway, Drop)
OutcomeKind = Literal["reply", "hang", "reset", "goaway", "drop"]


@dataclass(frozen=True)
class FcmReceived:
    """A message the fake accepted for delivery (200, not validate_only)."""

    token: str | None  # None when the target is a topic / condition / fid
    headers: dict[str, str]
    message: dict[str, Any]
    connection_id: int
    time: float
    target_kind: str
    target: str
    name: str
    http_version: str


Received = FcmReceived


@dataclass(frozen=True)
class FcmAttempt:
    """Any request to the send endpoint, whatever its fate."""

    path: str
    headers: dict[str, str]
    body: bytes
    message: dict[str, Any] | None
    target: str | None
    connection_id: int
    time: float
    outcome: OutcomeKind
    status: int | None = None
    error_code: str | None = None


class FakeFcm(FakeServer[FcmReceived, FcmAttempt, Outcome]):
    """fcm.googleapis.com + oauth2.googleapis.com/token for tests (pns-protocols.md 5.2)."""

    _outcome_types = _OUTCOME_TYPES
    _reply_type = Reply
    _ok = Reply(200)
    _kind = "FCM"

    def __init__(
        self,
        creds: TestCredentials,
        *,
        port: int = 0,
        project_id: str = "rtc-test",
        untrusted: bool = False,
        clock: Callable[[], float] = time.time,
        on_attempt: Callable[[FcmAttempt], None] | None = None,
    ) -> None:
        super().__init__()
        self.project_id = project_id
        self._on_attempt = on_attempt
        self._issuer = AccessTokenIssuer.from_pem(
            creds.service_account_key.read_bytes(), service_account_key_id(creds), clock
        )
        self._requests_per_conn: dict[int, int] = {}
        self._server = H2Server(
            self._handle,
            server_context(creds, untrusted=untrusted, alpn=("h2", "http/1.1")),
            port=port,
            allow_http1=True,
            on_disconnect=self._forget_connection,
            name="fake-fcm",
        )

    @property
    def send_url(self) -> str:
        return f"{self.url}/v1/projects/{self.project_id}/messages:send"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    # -- test controls --------------------------------------------------------------

    def fail_randomly(
        self,
        fraction: float,
        reply: Reply | None = None,
        seed: int | None = None,
    ) -> None:
        """Answer `fraction` of valid, unscripted sends with `reply` (default UNAVAILABLE)."""
        self._random.configure(fraction, reply or Reply.unavailable(), seed)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far: the next send gets 401."""
        self._issuer.expire_all()

    def reset(self) -> None:
        """Forget records, scripts, failure modes and counters (tokens stay valid)."""
        super().reset()
        self._issuer.reset_count()

    # -- observations ---------------------------------------------------------------

    @property
    def token_requests(self) -> int:
        return self._issuer.requests

    # -- server side (event loop thread) ----------------------------------------------

    def _forget_connection(self, conn: ServerConnection) -> None:
        self._requests_per_conn.pop(conn.id, None)

    async def _handle(self, conn: ServerConnection, request: Request) -> Action:
        self._requests_per_conn[conn.id] = self._requests_per_conn.get(conn.id, 0) + 1
        path = request.path.split("?", 1)[0]
        if path == "/token":
            return self._token(request)
        match = _SEND_PATH.fullmatch(path)
        if match is None:
            # Includes the legacy /fcm/send and /batch APIs, which Google shut down.
            return Response(404, (("content-type", "text/html; charset=UTF-8"),), _NOT_FOUND_PAGE)
        return await self._send(conn, request, match.group(1))

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return _json_response(405, {"error": "invalid_request", "error_description": "POST"})
        answer = self._issuer.exchange(request.body, {GOOGLE_TOKEN_AUDIENCE, self.token_uri})
        return _json_response(answer.status, answer.document, (("cache-control", "no-store"),))

    async def _send(self, conn: ServerConnection, request: Request, project: str) -> Action:
        call = _Call(conn, request, time.time())
        problem = self._check_request(request, project)
        if isinstance(problem, Reply):
            return self._reply(call, problem)
        call.parsed = problem
        outcome = self._scripts.pop(problem.target) or self._random.draw()
        return await self._apply(call, outcome)

    def _check_request(self, request: Request, project: str) -> ParsedSend | Reply:
        if request.method != "POST":
            return Reply(404, None, "Method not found.")
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not self._issuer.is_valid(token.strip()):
            return Reply.unauthenticated()
        if project != self.project_id:
            return Reply(
                403,
                None,
                f"Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}' "
                f"(or it may not exist).",
            )
        return parse_send(request.body)

    def _reply(self, call: _Call, reply: Reply) -> Response:
        headers: list[tuple[str, str]] = []
        if reply.status == 200:
            body = json.dumps({"name": self._accept(call)}, indent=2).encode()
        else:
            body = error_body(reply)
            if reply.status == 401 and reply.error_code is None:
                headers.append(("www-authenticate", 'Bearer realm="https://accounts.google.com/"'))
        if reply.retry_after is not None:
            headers.append(("retry-after", str(reply.retry_after)))
        self._record(call, "reply", reply.status, reply.error_code)
        with self._lock:
            every = self._goaway_every
        count = self._requests_per_conn.get(call.conn.id, 0)
        goaway = GoAway("Shutdown") if every and count % every == 0 else None
        return _json_response(reply.status, body, tuple(headers), goaway)

    def _accept(self, call: _Call) -> str:
        """Record a delivered message and return its resource name."""
        parsed = call.parsed
        assert parsed is not None
        if parsed.validate_only:
            return f"projects/{self.project_id}/messages/fake_message_id"
        message_id = f"0:{int(call.time * 1000)}%{uuid.uuid4().hex[:16]}"
        name = f"projects/{self.project_id}/messages/{message_id}"
        self._received.append(
            FcmReceived(
                token=parsed.target if parsed.target_kind == "token" else None,
                headers=call.request.header_dict(),
                message=parsed.message,
                connection_id=call.conn.id,
                time=call.time,
                target_kind=parsed.target_kind,
                target=parsed.target,
                name=name,
                http_version=call.request.http_version,
            )
        )
        return name

    def _record(
        self, call: _Call, outcome: OutcomeKind, status: int | None, error_code: str | None
    ) -> None:
        parsed = call.parsed
        attempt = FcmAttempt(
            path=call.request.path,
            headers=call.request.header_dict(),
            body=call.request.body,
            message=parsed.message if parsed else None,
            target=parsed.target if parsed else None,
            connection_id=call.conn.id,
            time=call.time,
            outcome=outcome,
            status=status,
            error_code=error_code,
        )
        self._attempts.append(attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt)


class _Call:
    """One send request being processed."""

    def __init__(self, conn: ServerConnection, request: Request, at: float) -> None:
        self.conn = conn
        self.request = request
        self.time = at
        self.parsed: ParsedSend | None = None


def _json_response(
    status: int,
    body: bytes | dict[str, Any],
    headers: tuple[tuple[str, str], ...] = (),
    goaway: GoAway | None = None,
) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, (("content-type", JSON_TYPE), *headers), data, then_goaway=goaway)
