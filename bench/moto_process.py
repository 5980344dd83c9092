"""moto's server in a process of its own: its own interpreter lock and core, so the time it
spends in SQS and DynamoDB calls is not taken from the consumer, the API handler and the fake
PNS of the benchmark process (which would otherwise all wait on one lock with it).

Two defects of moto 5.2 are worked around there, unless `as_is` asks for moto as released
(to measure what it costs): its SQS walks the whole queue per message handed out
(bench/moto_sqs_scans.py), and its backends are not thread-safe, so requests are served one
at a time (each on its own connection). Without that a DeleteMessage, rebuilding the queue's
list of messages while a SendMessage appends to it, loses the message sent, and a
ReceiveMessage fails when another request changes the set of in-flight messages it walks.

This module imports only moto, so the child starts without the app.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

# What a report says of the moto it ran against
WORKAROUNDS = (
    "moto 5.2 with two of its defects worked around (bench/moto_process.py): requests served "
    "one at a time (its backends are not thread-safe: concurrent SQS calls lose messages) and "
    "its per-message whole-queue walks made one walk per call (bench/moto_sqs_scans.py)"
)


def _serve(conn: Connection, as_is: bool) -> None:
    """The child: moto on a free loopback port until the parent says stop or goes away."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    moto = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            return moto(environ, start_response)

    if not as_is:
        from bench import moto_sqs_scans

        moto_sqs_scans.apply()
    app = moto if as_is else one_at_a_time
    server = make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[:2])
    with suppress(EOFError):  # the parent went away without a word
        conn.recv()
    server.shutdown()


@contextmanager
def moto_in_child_process(*, as_is: bool = False) -> Iterator[str]:
    """Start moto in a spawned child process; yield its endpoint URL; stop it on exit."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, as_is), name="moto", daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("moto did not start within 60 s")
        host, port = parent.recv()
        yield f"http://{host}:{port}"
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
