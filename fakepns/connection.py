"""What the HTTP/2 and HTTP/1.1 connection handlers share: identity, TLS peer, stats."""

from __future__ import annotations

import abc
import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .actions import Action, GoAway, Request


class ServerStats:
    """Counters read by the test thread while the server thread updates them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.tls_failures = 0
        self.requests = 0
        self.max_concurrent_streams_seen = 0

    def reset(self) -> None:
        with self._lock:
            self.connections = 0
            self.tls_failures = 0
            self.requests = 0
            self.max_concurrent_streams_seen = 0

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def count_tls_failure(self) -> None:
        with self._lock:
            self.tls_failures += 1

    def count_request(self, concurrent_streams: int) -> None:
        with self._lock:
            self.requests += 1
            self.max_concurrent_streams_seen = max(
                self.max_concurrent_streams_seen, concurrent_streams
            )


class ServerConnection(abc.ABC):
    """One accepted TLS connection. All methods run on the server's event loop."""

    http_version: str

    def __init__(
        self,
        conn_id: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        handler: Handler,
        stats: ServerStats,
        peer_cert: dict[str, Any] | None,
    ) -> None:
        self.id = conn_id
        self.peer_cert = peer_cert
        self.opened_at = time.time()
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._stats = stats

    @property
    def client_cert_presented(self) -> bool:
        return bool(self.peer_cert)

    def peer_subject(self) -> dict[str, str]:
        """The client certificate's subject as {attribute: value} (empty if none)."""
        subject: dict[str, str] = {}
        for rdn in (self.peer_cert or {}).get("subject", ()):
            for key, value in rdn:
                subject[str(key)] = str(value)
        return subject

    @abc.abstractmethod
    async def serve(self) -> None:
        """Handle requests until the connection ends."""

    @abc.abstractmethod
    def set_max_concurrent_streams(self, value: int) -> None:
        """Advertise a new SETTINGS_MAX_CONCURRENT_STREAMS (no-op for HTTP/1.1)."""

    @abc.abstractmethod
    async def go_away(self, action: GoAway) -> None:
        """Say goodbye (GOAWAY for HTTP/2) and close."""

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        self._writer.transport.abort()


Handler = Callable[[ServerConnection, Request], Awaitable[Action]]
