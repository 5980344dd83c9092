"""One lean HTTP/2 connection for single pushes: h2's state machine over a blocking TLS socket.

A warm push is one request on a connection that is already open, so what it costs is the
work around the socket. httpcore (still used for concurrent sends) writes the HEADERS, the
DATA and the END_STREAM frames of a request in three TLS writes, and goes through its request
models, pool bookkeeping and tracing on every call. Here a push is one `sendall` of all its
frames (with any pending acknowledgement), then reads until its stream ends.

Header compression: the headers that repeat on every push of an app (`:authority`,
`apns-topic`, `apns-push-type`, `apns-priority`, `content-type`, `authorization`) are HPACK
indexed, so after the first push they cost an index byte each, taken from a cache instead
of being encoded again (header_cache.py); the values that change per push (`:path` with the
device token, `apns-id`, `apns-expiration`, `content-length`) are sent as never-indexed
literals so they neither evict the repeating ones from the connection's 4 KB table nor
change the indexes the cache holds.

Why the `authorization` value may be indexed, although h2 by default marks it never-indexed:
never-indexed (RFC 7541, 7.1.3) protects a secret from a compression oracle, where someone
who can add their own guesses to the same compression context and see the size of the
encrypted frames learns when a guess matched. None of its conditions hold here. The context
is one TLS connection from this function to APNs or FCM that carries only requests this code
builds: a caller chooses a device token and values hashed into `apns-id`, never a header
name, so no guess can ever be compared with the `authorization` entry (HPACK matches a name
and its whole value together). Matching is all-or-nothing, not byte by byte as in DEFLATE,
so there is no prefix to recover either: a guess would have to be the entire token, an ES256
signature (APNs, rotated every 30 minutes) or an OAuth access token (FCM, about an hour).
h2's default is meant for HTTP Basic credentials and short cookies on connections that also
carry requests an attacker's page can trigger; a provider token on a private connection is
neither.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import httpcore

from .header_cache import CachedIndexEncoder

# The values that change from one push to the next: never indexed (see the module docstring)
PER_PUSH_HEADERS = frozenset({b":path", b"apns-id", b"apns-expiration", b"content-length"})
READ_SIZE = 65536
# Our receive window, raised once per connection as httpcore does, so that PNS answers never
# make us send a WINDOW_UPDATE of our own
RECEIVE_WINDOW = 2**24
LAST_STREAM_ID = 2**31 - 3  # client stream ids are odd and below 2**31: then reconnect

Header = tuple[bytes, bytes]


class Http2Connection:
    """A connection to one origin, opened on first use and again after it failed or idled.

    Not thread-safe: the caller serialises requests (PushService holds a lock around it).
    Errors are httpcore's exception types, so a push's exchange handles them alike whichever
    client carried it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        connect_timeout: float,
        read_timeout: float,
        idle_reconnect: float,
    ) -> None:
        self.host, self.port = host, port
        self._authority = f"{host}:{port}".encode() if port != 443 else host.encode()
        self._context = context
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle_reconnect = idle_reconnect
        self._sock: ssl.SSLSocket | None = None
        self._h2: h2.connection.H2Connection | None = None
        self._last_used = 0.0
        self._closing = False  # the server sent GOAWAY: no new streams on this connection

    # --- one request ---------------------------------------------------------------------------
    def request(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """POST `body` to `path`: the answer's status, lower-case headers and body."""
        try:
            sock, conn = self._ready()
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(stream_id, self._header_block(path, headers, body))
            self._send_body(sock, conn, stream_id, body)
            sock.sendall(conn.data_to_send())
            answer = self._response(sock, conn, stream_id)
        except h2.exceptions.StreamClosedError as exc:
            raise httpcore.RemoteProtocolError(f"stream closed: {exc}") from exc
        except h2.exceptions.ProtocolError as exc:
            self.close()
            raise httpcore.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        except TimeoutError as exc:
            self.close()  # a hung connection would stall the next pushes
            raise httpcore.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:  # reset, broken pipe, TLS alert
            self.close()
            raise httpcore.ReadError(f"{type(exc).__name__}: {exc}") from exc
        self._last_used = time.monotonic()
        return answer

    def _header_block(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> list[tuple[bytes, bytes]]:
        """Pseudo-headers first, names lower-case, values bytes: what h2 would check and
        normalise, built so here (its outbound checks are off: _CONFIG)."""
        block = [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", self._authority),
            (b":path", path.encode()),
        ]
        block += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        block.append((b"content-length", b"%d" % len(body)))
        return block

    def _send_body(
        self, sock: ssl.SSLSocket, conn: h2.connection.H2Connection, stream_id: int, body: bytes
    ) -> None:
        """Queue the body in DATA frames; write early only when flow control makes us wait."""
        if not body:
            conn.end_stream(stream_id)
            return
        sent = 0
        while sent < len(body):
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if room <= 0:
                sock.sendall(conn.data_to_send())
                self._read_events(sock, conn, time.monotonic() + self._read_timeout)
                continue
            chunk = body[sent : sent + room]  # the body itself when it fits (a push's does)
            sent += len(chunk)
            conn.send_data(stream_id, chunk, end_stream=sent == len(body))

    def _response(
        self, sock: ssl.SSLSocket, conn: h2.connection.H2Connection, stream_id: int
    ) -> tuple[int, dict[str, str], bytes]:
        deadline = time.monotonic() + self._read_timeout
        status, headers, content = 0, {}, bytearray()
        while True:
            for event in self._read_events(sock, conn, deadline):
                if getattr(event, "stream_id", None) != stream_id:
                    if isinstance(event, h2.events.ConnectionTerminated) and (
                        event.last_stream_id is None or event.last_stream_id < stream_id
                    ):
                        self.close()
                        raise httpcore.RemoteProtocolError(f"GOAWAY: {event.error_code!r}")
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    for name, value in event.headers or ():
                        if name == b":status":
                            status = int(value)
                        else:
                            headers[name.decode("latin-1")] = value.decode("latin-1")
                elif isinstance(event, h2.events.DataReceived):
                    content += event.data or b""
                    # acknowledged now, written with the next request (h2 only emits a
                    # WINDOW_UPDATE once half the window is used)
                    conn.acknowledge_received_data(event.flow_controlled_length or 0, stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    raise httpcore.RemoteProtocolError(f"stream reset: {event.error_code!r}")
                elif isinstance(event, h2.events.StreamEnded):
                    return status, headers, bytes(content)

    def _read_events(
        self, sock: ssl.SSLSocket, conn: h2.connection.H2Connection, deadline: float
    ) -> list[h2.events.Event]:
        """Read once and feed h2; control frames it must answer (SETTINGS, PING) go out now."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer within {self._read_timeout} s")
        sock.settimeout(remaining)
        data = sock.recv(READ_SIZE)
        if not data:
            self.close()
            raise httpcore.RemoteProtocolError("the server closed the connection")
        events = conn.receive_data(data)
        if any(isinstance(e, _ANSWERED_AT_ONCE) for e in events):
            sock.sendall(conn.data_to_send())
        if any(isinstance(e, h2.events.ConnectionTerminated) for e in events):
            self._closing = True
        return events

    # --- the connection ------------------------------------------------------------------------
    def _ready(self) -> tuple[ssl.SSLSocket, h2.connection.H2Connection]:
        """The open connection, after reading what the server sent while it idled; a new one
        when it is closed, closing, idle too long or out of stream ids."""
        sock, conn = self._sock, self._h2
        if sock is not None and conn is not None:
            if time.monotonic() - self._last_used <= self._idle_reconnect:
                self._read_idle(sock, conn)
                usable = self._sock is sock and not self._closing
                if usable and (conn.highest_outbound_stream_id or 0) < LAST_STREAM_ID:
                    return sock, conn
            self.close()
        return self._connect()

    def _read_idle(self, sock: ssl.SSLSocket, conn: h2.connection.H2Connection) -> None:
        """A GOAWAY, SETTINGS or PING that arrived between pushes, or a connection the server
        closed: learnt before sending, not from the push's failure."""
        if not sock.pending() and not select.select([sock], [], [], 0)[0]:
            return
        try:
            self._read_events(sock, conn, time.monotonic() + self._read_timeout)
        except (OSError, httpcore.RemoteProtocolError, h2.exceptions.ProtocolError):
            self.close()

    def _connect(self) -> tuple[ssl.SSLSocket, h2.connection.H2Connection]:
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # HTTP/2 alone: APNs speaks nothing else (set per connection: httpcore's async
            # pool sets its own offer on the same context)
            self._context.set_alpn_protocols(["h2"])
            sock = self._context.wrap_socket(raw, server_hostname=self.host)
        except TimeoutError as exc:
            raw.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError is an OSError: certificate refused, alert
            raw.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            raise httpcore.ConnectError(f"{self.host} does not speak HTTP/2 (ALPN)")
        conn = h2.connection.H2Connection(_CONFIG)
        conn.encoder = CachedIndexEncoder(never_indexed=PER_PUSH_HEADERS)
        # as httpcore: no server push, and h2's safe stream and header list limits
        conn.local_settings = h2.settings.Settings(client=True, initial_values=_SETTINGS)
        conn.initiate_connection()
        conn.increment_flow_control_window(RECEIVE_WINDOW)
        try:
            sock.settimeout(self._read_timeout)
            sock.sendall(conn.data_to_send())
        except OSError as exc:
            sock.close()
            raise httpcore.WriteError(f"{type(exc).__name__}: {exc}") from exc
        self._sock, self._h2, self._closing = sock, conn, False
        self._last_used = time.monotonic()
        return sock, conn

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._h2, self._closing = None, None, False


# The header block is built by _header_block alone, from values checked before a push is
# sent (the device token by the request models, the rest from the config and our code), so
# h2's per-header checks and normalisation of outbound blocks would only repeat them
_CONFIG = h2.config.H2Configuration(
    client_side=True,
    header_encoding=None,
    normalize_outbound_headers=False,
    validate_outbound_headers=False,
)
_SETTINGS = {
    h2.settings.SettingCodes.ENABLE_PUSH: 0,
    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
    h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
}
_ANSWERED_AT_ONCE = (h2.events.RemoteSettingsChanged, h2.events.PingReceived)
