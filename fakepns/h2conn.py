"""Server side of one HTTP/2 connection, on the raw h2 state machine.

Raw h2 (not an ASGI server) so tests control SETTINGS, RST_STREAM and GOAWAY.
Everything here runs on the server's event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import h2.events
import h2.exceptions
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.settings import SettingCodes, Settings

from .actions import Action, Delay, Drop, GoAway, Hang, Request, Reset, Response
from .connection import Handler, ServerConnection, ServerStats

log = logging.getLogger(__name__)

# After GOAWAY, how long to wait for the peer to hang up before aborting.
GOAWAY_GRACE_SECONDS = 0.5


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class H2ServerConnection(ServerConnection):
    http_version = "HTTP/2"

    def __init__(
        self,
        conn_id: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        handler: Handler,
        stats: ServerStats,
        peer_cert: dict[str, Any] | None,
        max_concurrent_streams: int,
    ) -> None:
        super().__init__(conn_id, reader, writer, handler=handler, stats=stats, peer_cert=peer_cert)
        self._h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        # Replace (not update) the settings so the very first SETTINGS frame carries
        # our limit: APNs starts token connections at 1 stream.
        self._h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        self._streams: dict[int, _Stream] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._window_open = asyncio.Event()
        self._closing = False
        self._grace_task: asyncio.Task[None] | None = None

    # -- reading -----------------------------------------------------------

    async def serve(self) -> None:
        self._h2.initiate_connection()
        self._flush()
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                if self._closing:
                    continue  # GOAWAY sent: ignore the rest until the peer hangs up
                try:
                    events = self._h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    log.info("connection %d: protocol error from client: %s", self.id, exc)
                    self._flush()  # h2 has queued a GOAWAY
                    break
                client_left = False
                for event in events:
                    client_left = self._on_event(event) or client_left
                self._flush()
                if client_left:
                    break
        except OSError:
            pass  # reset by peer, TLS error: the connection is gone either way
        finally:
            await self._teardown()

    def _on_event(self, event: h2.events.Event) -> bool:
        """Apply one h2 event; True when the client ended the connection (GOAWAY)."""
        if isinstance(event, h2.events.RequestReceived) and event.stream_id:
            headers = [(_text(k), _text(v)) for k, v in event.headers or []]
            self._streams[event.stream_id] = _Stream(headers)
        elif isinstance(event, h2.events.DataReceived) and event.stream_id:
            stream = self._streams.get(event.stream_id)
            if stream is not None and event.data:
                stream.body += event.data
            if event.flow_controlled_length:
                # Give the window back at once: bodies are buffered in memory anyway.
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id:
            self._dispatch(event.stream_id)
        elif isinstance(event, h2.events.StreamReset) and event.stream_id:
            self._streams.pop(event.stream_id, None)
            task = self._tasks.pop(event.stream_id, None)
            if task is not None:
                task.cancel()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window_open.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            return True
        # PING is answered by h2 itself; PRIORITY is ignored, as APNs does.
        return False

    def _dispatch(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        pseudo = {k: v for k, v in stream.headers if k.startswith(":")}
        request = Request(
            method=pseudo.get(":method", ""),
            path=pseudo.get(":path", ""),
            authority=pseudo.get(":authority", ""),
            headers=tuple((k, v) for k, v in stream.headers if not k.startswith(":")),
            body=bytes(stream.body),
            stream_id=stream_id,
            http_version=self.http_version,
        )
        self._stats.count_request(len(self._streams))
        self._tasks[stream_id] = asyncio.create_task(self._run(request))

    # -- answering ---------------------------------------------------------

    async def _run(self, request: Request) -> None:
        sid = request.stream_id
        try:
            action = await self._handler(self, request)
            await self._perform(sid, action)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("connection %d stream %d: handler failed", self.id, sid)
            await self._send_response(sid, Response(500))
        finally:
            self._tasks.pop(sid, None)
            self._streams.pop(sid, None)

    async def _perform(self, sid: int, action: Action) -> None:
        if isinstance(action, Response):
            await self._send_response(sid, action, flush=action.then_goaway is None)
            if action.then_goaway is not None:
                await self._go_away(action.then_goaway, None)
        elif isinstance(action, Hang):
            await asyncio.Event().wait()  # until cancelled by RST_STREAM or teardown
        elif isinstance(action, Reset):
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.reset_stream(sid, action.error_code)
            self._flush()
        elif isinstance(action, GoAway):
            await self._go_away(action, sid)
        elif isinstance(action, Drop):
            self.abort()
        else:
            await asyncio.sleep(action.seconds)
            then = action.then if action.then is not None else Response(200)
            if not isinstance(then, Response | Hang | Reset | GoAway | Drop | Delay):
                raise TypeError(f"Delay.then must be an Action, not {then!r}")
            await self._perform(sid, then)

    async def _send_response(self, sid: int, response: Response, *, flush: bool = True) -> None:
        headers = [(":status", str(response.status)), *response.headers]
        if response.body and not any(k == "content-length" for k, _ in response.headers):
            headers.append(("content-length", str(len(response.body))))
        try:
            self._h2.send_headers(sid, headers, end_stream=not response.body)
            if response.body:
                await self._send_body(sid, response.body)
        except h2.exceptions.ProtocolError:
            pass  # the client reset the stream (or the connection closed) meanwhile
        if flush:
            self._flush()

    async def _send_body(self, sid: int, body: bytes) -> None:
        """Send DATA frames within the peer's flow-control windows."""
        offset = 0
        while offset < len(body):
            window = self._h2.local_flow_control_window(sid)
            size = min(window, self._h2.max_outbound_frame_size, len(body) - offset)
            if size <= 0:
                self._flush()
                self._window_open.clear()
                await self._window_open.wait()
                continue
            chunk = body[offset : offset + size]
            offset += size
            self._h2.send_data(sid, chunk, end_stream=offset == len(body))

    # -- closing -----------------------------------------------------------

    async def go_away(self, action: GoAway) -> None:
        await self._go_away(action, None)

    async def _go_away(self, action: GoAway, trigger_sid: int | None) -> None:
        if self._closing:
            return
        self._closing = True
        if action.retry_safe and trigger_sid is not None:
            last_stream_id = max(trigger_sid - 2, 0)
        else:
            last_stream_id = self._h2.highest_inbound_stream_id
        payload = json.dumps({"reason": action.reason}).encode()
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection(
                error_code=action.error_code,
                additional_data=payload,
                last_stream_id=last_stream_id,
            )
        self._flush()
        current = asyncio.current_task()
        for task in list(self._tasks.values()):
            if task is not current:
                task.cancel()  # nobody will answer them now
        self._grace_task = asyncio.create_task(self._abort_later())

    async def _abort_later(self) -> None:
        await asyncio.sleep(GOAWAY_GRACE_SECONDS)
        self.abort()

    def set_max_concurrent_streams(self, value: int) -> None:
        if self._closing:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: value})
        self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _teardown(self) -> None:
        self._closing = True
        tasks = [t for t in self._tasks.values() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._grace_task is not None:
            self._grace_task.cancel()
        self._streams.clear()
        self._writer.close()
