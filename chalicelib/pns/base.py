"""What every push service shares: the outcome of a push and the send loop.

A service describes one exchange as a generator (sans-IO): it yields the request to send and
receives the response or the transport error, so the same policy (refresh credentials, retry
once on a fresh connection) drives both the sync client (one push) and the async client
(fan-out over multiplexed HTTP/2 streams).

A single push goes over one lean HTTP/2 connection (connection.py: h2 over a TLS socket,
all of a push's frames in one write); concurrent sends go through an httpcore async pool, the
transport under httpx, used directly because a push needs none of httpx's request and
response models, cookies or redirects.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import certifi
import httpcore

if TYPE_CHECKING:
    import asyncio

from .. import credentials
from ..config import AppConfig
from ..notification import Notification
from ..settings import PnsTimeouts
from .connection import Http2Connection

# Set from the container's settings (pns.configure) before any service is built.
timeouts = PnsTimeouts()
MAX_CONCURRENT_SENDS = 100


class Verdict(StrEnum):
    DELIVERED = "delivered"
    DEAD_TOKEN = "dead-token"  # the token will never work again: forget it
    RETRY = "retry"  # worth trying again later
    REJECTED = "rejected"  # the PNS refused this push; retrying will not help


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: int  # the PNS HTTP status; 0 when it did not answer
    reason: str
    url: str
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    apns_id: str | None = None
    latency_ms: float | None = None  # from sending to this outcome, this push alone


@dataclass(frozen=True)
class Prepared:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """A PNS answer: status, lower-case headers, body."""

    status: int
    headers: dict[str, str]
    content: bytes

    @classmethod
    def of(cls, response: httpcore.Response) -> Reply:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
        return cls(response.status, headers, response.content)


# No answer at all: the connection failed, was reset or closed (GOAWAY), or timed out.
TRANSPORT_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.TimeoutException,
    httpcore.ConnectionNotAvailable,
)
TransportError = (
    httpcore.NetworkError
    | httpcore.ProtocolError
    | httpcore.TimeoutException
    | httpcore.ConnectionNotAvailable
)
Exchange = Generator[Prepared, "Reply | TransportError", Outcome]


def json_body(reply: Reply) -> dict[str, Any]:
    if not reply.content:
        return {}
    try:
        value = json.loads(reply.content)
    except ValueError:
        return {"text": reply.content[:500].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"value": value}


def retry_after(reply: Reply) -> float | None:
    value = reply.headers.get("retry-after")
    if value and value.strip().isdigit():
        return float(value)
    return None


def ssl_context(
    app: AppConfig, certificate: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Verify the server always; present a client certificate when given."""
    cafile = credentials.as_file(app.tls_ca_file) if app.tls_ca_file else None
    context = ssl.create_default_context(
        cafile=cafile or os.environ.get("SSL_CERT_FILE") or certifi.where()
    )
    if certificate:
        key_file = credentials.as_file(key) if key else None
        context.load_cert_chain(credentials.as_file(certificate), key_file)
    return context


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


class PushService:
    """One app's warm HTTP/2 connection pools and the policy of one push exchange."""

    name = "PNS"

    def __init__(self, app: AppConfig, context: ssl.SSLContext) -> None:
        self.app = app
        self._context = context
        self._extensions: dict[str, Any] = {
            "timeout": {
                "connect": timeouts.connect,
                "read": timeouts.read,
                "write": timeouts.read,
                "pool": timeouts.read,
            }
        }
        self._connection: Http2Connection | None = None
        self._apool: httpcore.AsyncConnectionPool | None = None
        # pushes in flight per async pool (touched on the event loop only): a pool replaced
        # while some are is closed by the last of them
        self._in_flight: dict[httpcore.AsyncConnectionPool, int] = {}
        self._pool_lock = threading.Lock()
        self._stale_async = False

    # --- what each service defines -------------------------------------------------------
    def exchange(self, notification: Notification, apns_id: str | None) -> Exchange:
        raise NotImplementedError

    def warm_auth(self) -> None:
        """Refresh credentials before a fan-out, so no coroutine blocks the loop on it."""

    def auth_refusal(self) -> str | None:
        """Why the PNS refuses the app's credentials, asked without a push; None when it
        grants them or cannot be asked (APNs judges a key only with a push)."""
        return None

    # --- transport ---------------------------------------------------------------------------
    def _options(self, prepared: Prepared) -> dict[str, Any]:
        headers = list(prepared.headers.items())
        return {"headers": headers, "content": prepared.body, "extensions": self._extensions}

    def send(self, notification: Notification, apns_id: str | None = None) -> Outcome:
        """One push over the lean sync connection: the cheapest path for a single push."""
        started = time.perf_counter()
        exchange = self.exchange(notification, apns_id)
        step = _advance(exchange, None)
        while isinstance(step, Prepared):
            result: Reply | TransportError
            host, port, path = _split(step.url)
            with self._pool_lock:
                connection = self._connection
                if connection is None or (connection.host, connection.port) != (host, port):
                    if connection is not None:
                        connection.close()
                    connection = self._connection = Http2Connection(
                        host,
                        port,
                        self._context,
                        connect_timeout=timeouts.connect,
                        read_timeout=timeouts.read,
                        idle_reconnect=timeouts.idle_reconnect,
                    )
                try:
                    result = Reply(*connection.request(path, step.headers, step.body))
                except TRANSPORT_ERRORS as exc:
                    result = exc
            step = _advance(exchange, result)
        return _timed(step, started)

    async def send_async(self, notification: Notification, apns_id: str | None = None) -> Outcome:
        started = time.perf_counter()
        exchange = self.exchange(notification, apns_id)
        if self._apool is None:
            self._apool = httpcore.AsyncConnectionPool(
                ssl_context=self._context, http2=True, keepalive_expiry=timeouts.idle_reconnect
            )
        pool = self._apool
        self._in_flight[pool] = self._in_flight.get(pool, 0) + 1
        try:
            step = _advance(exchange, None)
            while isinstance(step, Prepared):
                result: Reply | TransportError
                try:
                    response = await pool.request("POST", step.url, **self._options(step))
                    result = Reply.of(response)
                except TRANSPORT_ERRORS as exc:
                    result = exc
                    stale = isinstance(exc, httpcore.TimeoutException)
                    self._stale_async = self._stale_async or stale
                step = _advance(exchange, result)
        finally:
            await self._release(pool)
        return _timed(step, started)

    async def _release(self, pool: httpcore.AsyncConnectionPool) -> None:
        left = self._in_flight.pop(pool) - 1
        if left:
            self._in_flight[pool] = left
        elif pool is not self._apool:  # replaced while this push was in flight
            await pool.aclose()

    async def _renew_stale_async(self) -> None:
        """A new pool for the sends from now on, after a read timeout. The stale one is not
        closed under pushes still in flight on it (other threads' batches): the PNS may have
        answered them already, and the transport error would send them a second time. The
        last of them closes it."""
        if self._stale_async and self._apool is not None:
            stale, self._apool, self._stale_async = self._apool, None, False
            if stale not in self._in_flight:
                await stale.aclose()

    def close(self) -> None:
        with self._pool_lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        if self._apool is not None and _loop is not None:
            import asyncio

            pool, self._apool = self._apool, None
            asyncio.run_coroutine_threadsafe(pool.aclose(), _loop).result(timeouts.read)


@functools.lru_cache(maxsize=256)
def _split(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an https URL (the config accepts no other); cached: a service
    sends to one URL per device token, or one URL in all (FCM)."""
    parts = urlsplit(url)
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return parts.hostname or "", parts.port or 443, path or "/"


def _advance(exchange: Exchange, result: Reply | TransportError | None) -> Prepared | Outcome:
    """The exchange's next request, or its outcome (it may end before sending anything,
    e.g. when no OAuth token can be had)."""
    try:
        return exchange.send(result)  # type: ignore[arg-type]  # send(None) starts it
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome


def _timed(outcome: Outcome, started: float) -> Outcome:
    """The outcome with the time this one push took (in a fan-out, not the whole batch's)."""
    return replace(outcome, latency_ms=round((time.perf_counter() - started) * 1000, 1))


def send_many(jobs: list[tuple[PushService, Notification, str | None]]) -> list[Outcome]:
    """Send concurrently: one connection per app, many streams, bounded concurrency.

    Safe to call from several threads at once (the retry consumer does, one thread per
    message): every call's sends run on the one event loop, so they share its connections
    and multiplex over them instead of waiting for each other.
    """
    import asyncio  # only fan-out needs it: kept off the cold start of v1 pushes

    for service in {id(s): s for s, _, _ in jobs}.values():
        service.warm_auth()

    async def run() -> list[Outcome]:
        for service in {id(s): s for s, _, _ in jobs}.values():
            await service._renew_stale_async()
        limit = asyncio.Semaphore(MAX_CONCURRENT_SENDS)

        async def one(service: PushService, n: Notification, apns_id: str | None) -> Outcome:
            async with limit:
                return await service.send_async(n, apns_id)

        return list(await asyncio.gather(*(one(*job) for job in jobs)))

    return asyncio.run_coroutine_threadsafe(run(), _event_loop()).result()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The container's event loop, running in its own thread from first use on."""
    import asyncio

    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="pns-loop", daemon=True).start()
        return _loop


def transport_outcome(service: str, url: str, error: TransportError) -> Outcome:
    """A push that got no answer: worth retrying later."""
    if isinstance(error, httpcore.TimeoutException):
        reason = f"timeout: {service} did not answer in time ({type(error).__name__})"
    else:
        reason = f"connection error: {type(error).__name__}: {error}".rstrip(": ")
    return Outcome(Verdict.RETRY, 0, reason, url)
