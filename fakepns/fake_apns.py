"""A fake APNs provider API (HTTP/2 only) with scriptable per-device outcomes.

Checks in order: method/path, auth (certificate if the TLS client sent one,
else the JWT), headers, topic, payload; then the device token's script.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .actions import Action, Delay, Drop, GoAway, Hang, Request, Reset, Response
from .apns_auth import ProviderTokenVerifier, TokenState
from .apns_validation import (
    ApnsError,
    check_headers,
    check_payload,
    effective_push_type,
    is_apns_id,
    parse_device_path,
    resolve_topic,
    split_topic,
)
from .connection import ServerConnection
from .credentials import TestCredentials
from .fake_base import FakeServer
from .h2server import H2Server, PeerCert
from .tls import ClientAuth, server_context

__all__ = [
    "Attempt",
    "Delay",
    "Drop",
    "FakeApns",
    "GoAway",
    "Hang",
    "Received",
    "Reply",
    "Reset",
]

AuthKind = Literal["certificate", "token"]
DEFAULT_TOPICS = ("com.example.sylk", "com.example.sylk.voip")
# Streams a token connection may use before / after its first valid token.
UNAUTHENTICATED_STREAMS = 1
AUTHENTICATED_STREAMS = 1000


@dataclass(frozen=True)
class Reply:
    """A scripted APNs answer. `timestamp` (ms) is for 410; None means now."""

    status: int
    reason: str = ""
    retry_after: int | None = None
    timestamp: int | None = None


Outcome = Reply | Hang | Delay | Reset | GoAway | Drop
_OUTCOME_TYPES = (Reply, Hang, Delay, Reset, GoAway, Drop)


@dataclass(frozen=True)
class Received:
    """A push the fake answered with 200."""

    token: str
    headers: dict[str, str]
    body: bytes
    json: Any
    connection_id: int
    time: float
    auth: AuthKind
    topic: str = ""
    push_type: str = ""
    apns_id: str = ""


@dataclass(frozen=True)
class Attempt:
    """Any request, whatever its fate. status/reason are None unless a reply was sent."""

    token: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    connection_id: int
    time: float
    auth: AuthKind
    outcome: Literal["reply", "hang", "reset", "goaway", "drop"]
    status: int | None = None
    reason: str | None = None
    apns_id: str = ""
    topic: str = ""
    push_type: str = ""


@dataclass
class _ConnState:
    tokens: TokenState = field(default_factory=TokenState)
    requests: int = 0
    streams_raised: bool = False


@dataclass
class _Call:
    """One request being processed, with what has been learnt about it so far."""

    conn: ServerConnection
    request: Request
    state: _ConnState
    time: float
    auth: AuthKind
    apns_id: str
    token: str | None = None
    topic: str = ""


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _cert_bundle(conn: ServerConnection) -> str | None:
    """The app a provider certificate belongs to: UID, else the CN after ': '."""
    subject = conn.peer_subject()
    if "userId" in subject:
        return subject["userId"]
    common_name = subject.get("commonName", "")
    return common_name.split(": ", 1)[1] if ": " in common_name else None


class FakeApns(FakeServer[Received, Attempt, Outcome]):
    """Behaves like api.push.apple.com for the checks listed in pns-protocols.md 5.1.

    `topics` lists the apps (bundle IDs, or full topics) pushes may go to.
    enforce_cert_topic=True also limits a certificate connection to the app named
    in the certificate, as APNs does; it is off by default because the test
    credentials hold a single provider certificate (for com.example.sylk).
    `clock` drives provider-token ages, so tests can move time without sleeping.
    """

    _outcome_types = _OUTCOME_TYPES
    _reply_type = Reply
    _ok = Reply(200)
    _kind = "APNs"

    def __init__(
        self,
        creds: TestCredentials,
        *,
        client_auth: ClientAuth = "optional",
        port: int = 0,
        topics: Iterable[str] = DEFAULT_TOPICS,
        untrusted: bool = False,
        enforce_cert_topic: bool = False,
        sandbox: bool = False,
        clock: Callable[[], float] = time.time,
        token_update_interval: float = 1200.0,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        super().__init__()
        # Topics may be bundle IDs or full topics; what matters is the bundle.
        self._bundles = frozenset(split_topic(t)[0] for t in topics)
        self._enforce_cert_topic = enforce_cert_topic
        self._sandbox = sandbox
        self._on_attempt = on_attempt
        self._verifier = ProviderTokenVerifier(clock, token_update_interval)
        self._verifier.add_key(creds.apns_key_id, creds.apns_team_id, creds.apns_p8)
        self._conn_states: dict[int, _ConnState] = {}
        self._server = H2Server(
            self._handle,
            server_context(creds, client_auth=client_auth, untrusted=untrusted),
            port=port,
            max_concurrent_streams=self._initial_streams,
            on_disconnect=self._forget_connection,
            name="fake-apns",
        )

    # -- test controls ----------------------------------------------------------

    def fail_randomly(
        self,
        fraction: float,
        status: int = 503,
        reason: str = "ServiceUnavailable",
        seed: int | None = None,
    ) -> None:
        """Answer `fraction` of otherwise valid, unscripted pushes with an error."""
        self._random.configure(fraction, Reply(status, reason), seed)

    def hang_randomly(self, fraction: float, seed: int | None = None) -> None:
        """Accept `fraction` of otherwise valid, unscripted pushes and never answer them: a
        PNS that takes the stream and hangs, so only the client's read timeout ends it."""
        self._random.configure(fraction, Hang(), seed)

    def add_signing_key(self, key_id: str, team_id: str, p8: Path) -> None:
        """Accept provider tokens from another .p8 key (e.g. a second team)."""
        self._verifier.add_key(key_id, team_id, p8)

    # -- server side (event loop thread) ----------------------------------------

    def _initial_streams(self, peer_cert: PeerCert) -> int:
        return AUTHENTICATED_STREAMS if peer_cert else UNAUTHENTICATED_STREAMS

    def _forget_connection(self, conn: ServerConnection) -> None:
        self._conn_states.pop(conn.id, None)

    async def _handle(self, conn: ServerConnection, request: Request) -> Action:
        state = self._conn_states.setdefault(conn.id, _ConnState())
        state.requests += 1
        given_id = request.header("apns-id")
        call = _Call(
            conn=conn,
            request=request,
            state=state,
            time=time.time(),
            auth="certificate" if conn.client_cert_presented else "token",
            apns_id=given_id if given_id and is_apns_id(given_id) else str(uuid.uuid4()),
        )
        error = self._validate(call)
        if error is not None:
            return self._reply(call, Reply(error.status, error.reason))
        assert call.token is not None
        outcome = self._scripts.pop(call.token) or self._random.draw()
        return await self._apply(call, outcome)

    def _validate(self, call: _Call) -> ApnsError | None:
        request = call.request
        token = parse_device_path(request)
        if isinstance(token, ApnsError):
            return token
        call.token = token
        if call.auth == "token":
            auth_error = self._verifier.check(call.state.tokens, request.header("authorization"))
            if auth_error is not None:
                return ApnsError(auth_error.status, auth_error.reason)
            if not call.state.streams_raised:
                call.state.streams_raised = True
                call.conn.set_max_concurrent_streams(AUTHENTICATED_STREAMS)
        header_error = check_headers(request)
        if header_error is not None:
            return header_error
        cert_bundle = _cert_bundle(call.conn) if call.auth == "certificate" else None
        topic = resolve_topic(
            request,
            self._bundles,
            default_bundle=cert_bundle,
            required_bundle=cert_bundle if self._enforce_cert_topic else None,
        )
        if isinstance(topic, ApnsError):
            return topic
        call.topic = topic
        return check_payload(request.body, effective_push_type(request))

    def _reply(self, call: _Call, reply: Reply) -> Response:
        headers: list[tuple[str, str]] = [("apns-id", call.apns_id)]
        if self._sandbox:
            headers.append(("apns-unique-id", str(uuid.uuid4())))
        body = b""
        if reply.status == 200:
            self._record_success(call)
        else:
            document: dict[str, Any] = {"reason": reply.reason}
            if reply.status == 410:
                document["timestamp"] = reply.timestamp or int(time.time() * 1000)
            body = json.dumps(document).encode()
            headers.append(("content-type", "application/json"))
        if reply.retry_after is not None:
            headers.append(("retry-after", str(reply.retry_after)))
        self._record(call, "reply", reply.status, reply.reason or None)
        with self._lock:
            every = self._goaway_every
        goaway = GoAway("Shutdown") if every and call.state.requests % every == 0 else None
        return Response(reply.status, tuple(headers), body, then_goaway=goaway)

    def _record_success(self, call: _Call) -> None:
        request = call.request
        assert call.token is not None
        self._received.append(
            Received(
                token=call.token,
                headers=request.header_dict(),
                body=request.body,
                json=_parse_json(request.body),
                connection_id=call.conn.id,
                time=call.time,
                auth=call.auth,
                topic=call.topic,
                push_type=effective_push_type(request),
                apns_id=call.apns_id,
            )
        )

    def _record(
        self,
        call: _Call,
        outcome: Literal["reply", "hang", "reset", "goaway", "drop"],
        status: int | None,
        reason: str | None,
    ) -> None:
        request = call.request
        attempt = Attempt(
            token=call.token,
            method=request.method,
            path=request.path,
            headers=request.header_dict(),
            body=request.body,
            json=_parse_json(request.body),
            connection_id=call.conn.id,
            time=call.time,
            auth=call.auth,
            outcome=outcome,
            status=status,
            reason=reason,
            apns_id=call.apns_id,
            topic=call.topic or (request.header("apns-topic") or ""),
            push_type=effective_push_type(request),
        )
        self._attempts.append(attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt)
