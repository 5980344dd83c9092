"""moto's server in a process of its own: its own interpreter lock and core, so the time it
spends in SQS and DynamoDB calls is not taken from the consumer, the API handler and the fake
PNS of the benchmark process (which would otherwise all wait on one lock with it).

This module imports only moto, so the child starts without the app.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection


def _serve(conn: Connection) -> None:
    """The child: moto on a free loopback port until the parent says stop or goes away."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    conn.send(server.get_host_and_port())
    with suppress(EOFError):  # the parent went away without a word
        conn.recv()
    server.stop()


@contextmanager
def moto_in_child_process() -> Iterator[str]:
    """Start moto in a spawned child process; yield its endpoint URL; stop it on exit."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child,), name="moto", daemon=True)
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
