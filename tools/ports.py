"""Whether a local port is free, and if not, one line saying who holds it and what to change.

`python -m tools.ports PORT=8400 8401` exits 1 with that line for the first port taken, naming
the variable that moves it (a bare number has none): `make run` checks its ports before
starting anything.
"""

from __future__ import annotations

import errno
import socket
import sys

import psutil  # a well-kept cross-platform way to map a listening port to its process


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Bind as http.server does (SO_REUSEADDR): fails only while someone listens."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def holder(port: int) -> str | None:
    """`pid 123 (python -m tools.serve --port 8400)`, when this user may see the process."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:  # macOS lists other processes' sockets to root only
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return None
            try:
                command = " ".join(psutil.Process(conn.pid).cmdline())
            except psutil.Error:
                return f"pid {conn.pid}"
            return f"pid {conn.pid} ({command})"
    return None


def taken(port: int, variable: str | None) -> str:
    by = holder(port)
    who = f" by {by}" if by else ""
    move = f", or set {variable} to another port" if variable else ""
    return f"port {port} is already in use{who}: stop it{move}"


def main(argv: list[str]) -> int:
    for arg in argv:
        variable, _, value = arg.rpartition("=")
        if not is_free(int(value)):
            print(taken(int(value), variable or None), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
