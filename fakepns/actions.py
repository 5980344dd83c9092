"""What a request handler can ask the server core to do with a stream.

The same classes double as scripted outcomes of the fakes (`Hang`, `Delay`,
`Reset`, `GoAway`, `Drop`); each fake adds its own protocol-specific `Reply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from h2.errors import ErrorCodes


@dataclass(frozen=True)
class Request:
    """One complete request. `headers` keeps order and repeats (no pseudo-headers)."""

    method: str
    path: str
    authority: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stream_id: int
    http_version: str

    def header(self, name: str) -> str | None:
        """The last value of header `name` (lowercase), or None."""
        value = None
        for key, val in self.headers:
            if key == name:
                value = val
        return value

    def header_dict(self) -> dict[str, str]:
        return dict(self.headers)


@dataclass(frozen=True)
class GoAway:
    """Send GOAWAY carrying JSON {"reason": reason}, then close the connection.

    By default last_stream_id is the highest stream the server has seen, so
    in-flight requests count as "maybe processed" and clients get an error.
    With retry_safe=True it is set below the triggering stream, which tells the
    client that this stream and later ones were not processed (httpx then
    retries them transparently on a new connection).
    """

    reason: str = "Shutdown"
    error_code: int = ErrorCodes.NO_ERROR
    retry_safe: bool = False


@dataclass(frozen=True)
class Response:
    """A reply. `then_goaway` sends GOAWAY right after it (same TCP write)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    then_goaway: GoAway | None = None


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (until the stream or connection ends)."""


@dataclass(frozen=True)
class Reset:
    """Answer with RST_STREAM (HTTP/1.1: close the connection)."""

    error_code: int = ErrorCodes.INTERNAL_ERROR


@dataclass(frozen=True)
class Drop:
    """Abort the TCP connection without any HTTP/2 goodbye."""


@dataclass(frozen=True)
class Delay:
    """Wait `seconds`, then do `then`.

    For scripted outcomes `then` is an outcome of the fake it is scripted on
    (None = that fake's normal success); for the core it must be an Action or
    None (= empty 200).
    """

    seconds: float
    then: object | None = field(default=None)


Action = Response | Hang | Reset | GoAway | Drop | Delay
