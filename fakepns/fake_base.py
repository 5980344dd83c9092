"""What the fake APNs and the fake FCM share: lifecycle, scripting, records, counters."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, cast

from .actions import Action, Delay, GoAway, Hang, Reset, Response
from .h2server import H2Server
from .scripting import RandomFailures, Recorder, ScriptBook

ReceivedT = TypeVar("ReceivedT")
AttemptT = TypeVar("AttemptT")
OutcomeT = TypeVar("OutcomeT")


def action_kind(action: object) -> Literal["hang", "reset", "goaway", "drop"]:
    """How an attempt answered with no reply is recorded."""
    if isinstance(action, Hang):
        return "hang"
    if isinstance(action, Reset):
        return "reset"
    return "goaway" if isinstance(action, GoAway) else "drop"


class FakeServer(Generic[ReceivedT, AttemptT, OutcomeT]):
    """A push service fake on an H2Server; subclasses set `_server` and `_outcome_types`."""

    _server: H2Server
    _outcome_types: tuple[type, ...] = ()
    _reply_type: type = object
    _ok: Any = None  # the reply of an unscripted valid request
    _kind = "push service"
    # what each fake defines: the answer to send, and how an attempt is recorded
    _reply: Callable[[Any, Any], Response]
    _record: Callable[[Any, Any, Any, Any], None]

    def __init__(self) -> None:
        self._scripts: ScriptBook[OutcomeT] = ScriptBook()
        self._random: RandomFailures[OutcomeT] = RandomFailures()
        self._received: Recorder[ReceivedT] = Recorder()
        self._attempts: Recorder[AttemptT] = Recorder()
        self._lock = threading.Lock()
        self._goaway_every: int | None = None
        self._latency = 0.0

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

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
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    # -- test controls ----------------------------------------------------------

    def script(self, target: str, *outcomes: OutcomeT) -> None:
        """Queue outcomes for a token (FCM: or topic / condition), one per request; plain
        success once used up."""
        for outcome in outcomes:
            if not isinstance(outcome, self._outcome_types):
                raise TypeError(f"not an {self._kind} outcome: {outcome!r}")
        self._scripts.push(target, outcomes)

    def goaway_every(self, n: int | None) -> None:
        """After every n-th request on a connection, answer it then GOAWAY (None: off)."""
        with self._lock:
            self._goaway_every = n

    def latency(self, seconds: float) -> None:
        """Answer every request `seconds` after it arrived, whatever the answer: a simulated
        network round trip (streams of one connection wait side by side, not in turn)."""
        with self._lock:
            self._latency = seconds

    def disconnect_all(self, goaway_reason: str | None = None) -> None:
        """Close open connections: GOAWAY with that reason, or a TCP abort if None."""
        self._server.disconnect_all(GoAway(goaway_reason) if goaway_reason else None)

    def reset(self) -> None:
        """Forget records, scripts and failure modes (open connections stay open)."""
        self._received.clear()
        self._attempts.clear()
        self._scripts.clear()
        self._random.clear()
        self.goaway_every(None)
        self.latency(0.0)
        self._server.stats.reset()

    async def _apply(self, call: Any, outcome: OutcomeT | None) -> Action:
        """After the simulated round trip, if any, carry out the request's outcome."""
        if self._latency:
            await asyncio.sleep(self._latency)
        return await self._carry_out(call, outcome)

    async def _carry_out(self, call: Any, outcome: OutcomeT | None) -> Action:
        """Carry out a scripted outcome: a reply (None: success), a delay then what follows
        it, or a transport action (hang, reset, GOAWAY, drop), recorded as such."""
        if outcome is None or isinstance(outcome, self._reply_type):
            return self._reply(call, outcome if outcome is not None else self._ok)
        if isinstance(outcome, Delay):
            await asyncio.sleep(outcome.seconds)
            then = outcome.then
            if then is not None and not isinstance(then, self._outcome_types):
                raise TypeError(f"Delay.then is not an {self._kind} outcome: {then!r}")
            return await self._carry_out(call, cast(OutcomeT, then))
        self._record(call, action_kind(outcome), None, None)
        return cast(Action, outcome)

    # -- observations -----------------------------------------------------------

    @property
    def received(self) -> list[ReceivedT]:
        return self._received.snapshot()

    @property
    def attempts(self) -> list[AttemptT]:
        return self._attempts.snapshot()

    def wait_for_received(self, count: int, timeout: float = 5.0) -> list[ReceivedT]:
        return self._received.wait_for(count, timeout)

    @property
    def connections(self) -> int:
        return self._server.stats.connections

    @property
    def tls_failures(self) -> int:
        return self._server.stats.tls_failures

    @property
    def max_concurrent_streams_seen(self) -> int:
        return self._server.stats.max_concurrent_streams_seen
