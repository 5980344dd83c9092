"""Server side of one HTTP/1.1 connection (h11), for fakes that also speak HTTP/1.1.

FCM and Google's token endpoint accept HTTP/1.1; APNs does not, so only
servers built with allow_http1=True ever use this.
"""

from __future__ import annotations

import asyncio
import logging

import h11

from .actions import Action, Delay, Drop, GoAway, Hang, Request, Reset, Response
from .connection import ServerConnection

log = logging.getLogger(__name__)


class H1ServerConnection(ServerConnection):
    http_version = "HTTP/1.1"

    async def serve(self) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn)
                if request is None:
                    break
                self._stats.count_request(1)
                try:
                    action = await self._handler(self, request)
                except Exception:
                    log.exception("connection %d: handler failed", self.id)
                    action = Response(500)
                if not await self._perform(conn, action) or conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (OSError, h11.ProtocolError):
            pass  # broken client or connection: just close
        finally:
            self._writer.close()

    async def _read_request(self, conn: h11.Connection) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self._reader.read(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                headers = tuple((k.decode(), v.decode()) for k, v in head.headers)
                return Request(
                    method=head.method.decode(),
                    path=head.target.decode(),
                    authority=dict(headers).get("host", ""),
                    headers=headers,
                    body=bytes(body),
                    stream_id=0,
                    http_version=self.http_version,
                )
            else:
                return None  # ConnectionClosed or PAUSED

    async def _perform(self, conn: h11.Connection, action: Action) -> bool:
        """Carry out `action`; False when the connection must close."""
        if isinstance(action, Response):
            headers = [(k, v) for k, v in action.headers if k != "content-length"]
            headers.append(("content-length", str(len(action.body))))
            data = conn.send(h11.Response(status_code=action.status, headers=headers)) or b""
            if action.body:
                data += conn.send(h11.Data(data=action.body)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
            self._writer.write(data)
            await self._writer.drain()
            return action.then_goaway is None
        if isinstance(action, Hang):
            await asyncio.Event().wait()
        if isinstance(action, Drop):
            self.abort()
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
            then = action.then if action.then is not None else Response(200)
            if not isinstance(then, Response | Hang | Reset | GoAway | Drop | Delay):
                raise TypeError(f"Delay.then must be an Action, not {then!r}")
            return await self._perform(conn, then)
        return False  # Reset / GoAway: HTTP/1.1 can only close

    def set_max_concurrent_streams(self, value: int) -> None:
        pass  # one request at a time anyway

    async def go_away(self, action: GoAway) -> None:
        self._writer.close()
