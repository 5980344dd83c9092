"""An HTTP/2-over-TLS test server running its own event loop in a background thread.

The listener accepts plain TCP and then upgrades to TLS itself, so every TCP
connection is counted, including those whose handshake fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from .actions import GoAway
from .connection import Handler, ServerConnection, ServerStats
from .h1conn import H1ServerConnection
from .h2conn import H2ServerConnection

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_T = TypeVar("_T")

PeerCert = dict[str, Any] | None
StreamLimit = int | Callable[[PeerCert], int]


class H2Server:
    """Serve `handler` over HTTP/2 + TLS on 127.0.0.1 (port 0 = any free port).

    `max_concurrent_streams` may depend on the client certificate (None if the
    client sent none). stop() then start() rebinds the same port, so tests can
    take a server down and bring it back.
    """

    def __init__(
        self,
        handler: Handler,
        ssl_context: ssl.SSLContext,
        *,
        port: int = 0,
        max_concurrent_streams: StreamLimit = 1000,
        allow_http1: bool = False,
        on_connect: Callable[[ServerConnection], None] | None = None,
        on_disconnect: Callable[[ServerConnection], None] | None = None,
        name: str = "h2server",
    ) -> None:
        self._handler = handler
        self._ssl_context = ssl_context
        self._port = port
        self._stream_limit = max_concurrent_streams
        self._allow_http1 = allow_http1
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._name = name
        self.stats = ServerStats()
        self._ids = itertools.count(1)  # connection ids stay unique across restarts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: asyncio.Server | None = None
        self._connections: dict[int, ServerConnection] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._accept_tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle (test thread) --------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already running")
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_quiet_exception_handler)
        thread = threading.Thread(target=_run_loop, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self.call(self._open())
        except BaseException:
            self._halt_loop()
            raise
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            self.call(self._close())
        finally:
            self._halt_loop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"{self._name} has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run `coro` on the server loop and wait for its result (from another thread)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"{self._name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def disconnect_all(self, goaway: GoAway | None = None) -> None:
        """Close every open connection: with GOAWAY if given, else a TCP abort."""
        if self._loop is not None:
            self.call(self._disconnect_all(goaway))

    def _halt_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    # -- event loop side ----------------------------------------------------

    async def _open(self) -> None:
        self._listener = await asyncio.start_server(
            self._accept, HOST, self._port, reuse_address=True, backlog=512
        )
        self._port = self._listener.sockets[0].getsockname()[1]
        log.debug("%s listening on %s", self._name, self.url)

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for writer in list(self._writers):
            writer.transport.abort()
        # Aborted transports end the connection tasks by themselves; cancel stragglers.
        tasks = list(self._accept_tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._listener = None

    async def _disconnect_all(self, goaway: GoAway | None) -> None:
        for conn in list(self._connections.values()):
            if goaway is None:
                conn.abort()
            else:
                await conn.go_away(goaway)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._accept_tasks.add(task)
        self._writers.add(writer)
        self.stats.count_connection()
        conn_id = next(self._ids)
        try:
            conn = await self._handshake(conn_id, reader, writer)
            if conn is None:
                return
            self._connections[conn_id] = conn
            if self._on_connect is not None:
                self._on_connect(conn)
            try:
                await conn.serve()
            finally:
                del self._connections[conn_id]
                if self._on_disconnect is not None:
                    self._on_disconnect(conn)
        except asyncio.CancelledError:
            # Top of the connection's task: asyncio's stream callback would log a
            # cancelled task as an error, so end quietly instead.
            writer.transport.abort()
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._accept_tasks.discard(task)

    async def _handshake(
        self, conn_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> ServerConnection | None:
        try:
            await writer.start_tls(self._ssl_context, ssl_handshake_timeout=5.0)
        except (OSError, TimeoutError) as exc:
            self.stats.count_tls_failure()
            log.info("%s: TLS handshake failed (connection %d): %s", self._name, conn_id, exc)
            writer.transport.abort()
            return None
        ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol()
        peer_cert: PeerCert = ssl_object.getpeercert() or None
        if alpn == "h2":
            limit = self._stream_limit
            streams = limit(peer_cert) if callable(limit) else limit
            return H2ServerConnection(
                conn_id,
                reader,
                writer,
                handler=self._handler,
                stats=self.stats,
                peer_cert=peer_cert,
                max_concurrent_streams=streams,
            )
        if self._allow_http1 and alpn in (None, "http/1.1"):
            return H1ServerConnection(
                conn_id,
                reader,
                writer,
                handler=self._handler,
                stats=self.stats,
                peer_cert=peer_cert,
            )
        # OpenSSL lets the handshake finish without ALPN; refuse here instead.
        log.info("%s: connection %d did not negotiate h2 (ALPN %r)", self._name, conn_id, alpn)
        writer.close()
        return None


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Clients dropping connections mid-TLS is normal in these tests: keep it at DEBUG.
    exc = context.get("exception")
    level = logging.DEBUG if isinstance(exc, OSError) else logging.WARNING
    log.log(level, "event loop: %s", context.get("message"), exc_info=exc)
