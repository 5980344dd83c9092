"""What every push service shares: the outcome of a push and the send loop.

A service describes one exchange as a generator (sans-IO): it yields the request to send and
receives the response or the transport error, so the same policy (refresh credentials, retry
once on a fresh connection) drives both the sync client (one push) and the async client
(fan-out over multiplexed HTTP/2 streams).
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import asyncio

from .. import credentials
from ..apps.base import Notification
from ..config import AppConfig

CONNECT_TIMEOUT = float(os.environ.get("PNS_CONNECT_TIMEOUT", "3"))
READ_TIMEOUT = float(os.environ.get("PNS_READ_TIMEOUT", "5"))
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

    @property
    def code(self) -> int:
        """The status reported to the caller for this push."""
        if self.verdict is Verdict.DELIVERED:
            return 200
        if self.verdict is Verdict.DEAD_TOKEN:
            return 410
        if self.verdict is Verdict.REJECTED and 400 <= self.status < 500:
            return self.status
        return 502 if self.verdict is Verdict.REJECTED else 503


@dataclass(frozen=True)
class Prepared:
    url: str
    headers: dict[str, str]
    body: bytes


Exchange = Generator[Prepared, "httpx.Response | httpx.TransportError", Outcome]


def json_body(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        value = json.loads(response.content)
    except ValueError:
        return {"text": response.text[:500]}
    return value if isinstance(value, dict) else {"value": value}


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value and value.strip().isdigit():
        return float(value)
    return None


def ssl_context(
    app: AppConfig, certificate: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Verify the server always; present a client certificate when given."""
    if app.tls_ca_file:
        context = ssl.create_default_context(cafile=credentials.as_file(app.tls_ca_file))
    else:
        context = httpx.create_ssl_context()
    if certificate:
        key_file = credentials.as_file(key) if key else None
        context.load_cert_chain(credentials.as_file(certificate), key_file)
    return context


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


class PushService:
    """One app's warm HTTP/2 clients and the policy of one push exchange."""

    name = "PNS"

    def __init__(self, app: AppConfig, context: ssl.SSLContext) -> None:
        self.app = app
        self._context = context
        self._timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._client_lock = threading.Lock()
        self._stale_async = False

    # --- what each service defines -------------------------------------------------------
    def exchange(self, notification: Notification, apns_id: str | None) -> Exchange:
        raise NotImplementedError

    def warm_auth(self) -> None:
        """Refresh credentials before a fan-out, so no coroutine blocks the loop on it."""

    # --- transport ---------------------------------------------------------------------------
    def send(self, notification: Notification, apns_id: str | None = None) -> Outcome:
        """One push over the sync client: the cheapest path for a single push."""
        exchange = self.exchange(notification, apns_id)
        prepared = next(exchange)
        while True:
            result: httpx.Response | httpx.TransportError
            with self._client_lock:
                if self._client is None:
                    self._client = httpx.Client(
                        http2=True, verify=self._context, timeout=self._timeout
                    )
                try:
                    result = self._client.post(
                        prepared.url, content=prepared.body, headers=prepared.headers
                    )
                except httpx.TransportError as exc:
                    result = exc
                    if isinstance(exc, httpx.TimeoutException):
                        # a hung connection would stall the next pushes: start afresh
                        self._client.close()
                        self._client = None
            try:
                prepared = exchange.send(result)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def send_async(self, notification: Notification, apns_id: str | None = None) -> Outcome:
        exchange = self.exchange(notification, apns_id)
        prepared = next(exchange)
        client = self._async_client()
        while True:
            result: httpx.Response | httpx.TransportError
            try:
                result = await client.post(
                    prepared.url, content=prepared.body, headers=prepared.headers
                )
            except httpx.TransportError as exc:
                result = exc
                self._stale_async = isinstance(exc, httpx.TimeoutException) or self._stale_async
            try:
                prepared = exchange.send(result)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def _async_client(self) -> httpx.AsyncClient:
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(
                http2=True, verify=self._context, timeout=self._timeout
            )
        return self._aclient

    async def _renew_stale_async(self) -> None:
        if self._stale_async and self._aclient is not None:
            await self._aclient.aclose()
            self._aclient, self._stale_async = None, False

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        if self._aclient is not None and _loop is not None:
            with _loop_lock:
                _loop.run_until_complete(self._aclient.aclose())
            self._aclient = None


def send_many(jobs: list[tuple[PushService, Notification, str | None]]) -> list[Outcome]:
    """Send concurrently: one connection per app, many streams, bounded concurrency."""
    import asyncio  # only fan-out needs it: kept off the cold start of v1 pushes

    global _loop
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

    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
        return _loop.run_until_complete(run())


def transport_outcome(service: str, url: str, error: httpx.TransportError) -> Outcome:
    """A push that got no answer: worth retrying later."""
    if isinstance(error, httpx.TimeoutException):
        reason = f"timeout: {service} did not answer in time ({type(error).__name__})"
    else:
        reason = f"connection error: {type(error).__name__}: {error}".rstrip(": ")
    return Outcome(Verdict.RETRY, 0, reason, url)


def now() -> float:
    return time.time()
