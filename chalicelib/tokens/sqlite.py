"""SQLite token store: the embedded default for local runs (one file, no server).

One connection shared by every thread behind a lock: `chalice local` serves each request in
its own thread, so a connection per thread would open (and leak) one per request, while SQLite
serialises writers anyway and each statement here takes microseconds. WAL lets other
processes (a CLI, a second worker) read while we write; busy_timeout makes them wait for the
write lock instead of failing at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import cast

from ..errors import StorageUnavailable
from ..models import Platform
from .base import Device

DEFAULT_BUSY_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS push_tokens (
    account          TEXT    NOT NULL,
    app_id           TEXT    NOT NULL,
    device_id        TEXT    NOT NULL,
    platform         TEXT    NOT NULL,
    token            TEXT    NOT NULL,
    background_token TEXT,
    silent           INTEGER NOT NULL,
    user_agent       TEXT,
    updated_at       REAL    NOT NULL,
    PRIMARY KEY (account, app_id, device_id)
) WITHOUT ROWID
"""

# The WHERE keeps a newer registration when an older one arrives late (same rule as the
# DynamoDB condition), so concurrent registrations converge on the newest.
_UPSERT = """
INSERT INTO push_tokens
    (account, app_id, device_id, platform, token, background_token, silent, user_agent,
     updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, app_id, device_id) DO UPDATE SET
    platform = excluded.platform,
    token = excluded.token,
    background_token = excluded.background_token,
    silent = excluded.silent,
    user_agent = excluded.user_agent,
    updated_at = excluded.updated_at
WHERE excluded.updated_at >= push_tokens.updated_at
"""

# BINARY collation compares UTF-8 bytes, i.e. code points: the same order as Python's sorted().
_SELECT = """
SELECT account, app_id, device_id, platform, token, background_token, silent, user_agent,
       updated_at
FROM push_tokens WHERE account = ? ORDER BY app_id, device_id
"""


class SqliteTokenStore:
    """Device tokens in one SQLite file; the schema is created on first use."""

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        """`busy_timeout`: seconds to wait for another connection's write lock."""
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def upsert(self, device: Device) -> None:
        # 0.0 is the dataclass default, i.e. "not stamped by the caller".
        updated_at = device.updated_at or time.time()
        self._execute(
            _UPSERT,
            (
                device.account,
                device.app_id,
                device.device_id,
                device.platform,
                device.token,
                device.background_token,
                int(device.silent),
                device.user_agent,
                updated_at,
            ),
        )

    def remove(self, account: str, app_id: str, device_id: str) -> bool:
        return (
            self._execute(
                "DELETE FROM push_tokens WHERE account = ? AND app_id = ? AND device_id = ?",
                (account, app_id, device_id),
            )
            > 0
        )

    def remove_if_token(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        # One statement, so a re-registration cannot slip between the check and the delete.
        return (
            self._execute(
                "DELETE FROM push_tokens"
                " WHERE account = ? AND app_id = ? AND device_id = ? AND token = ?",
                (account, app_id, device_id, token),
            )
            > 0
        )

    def forget_background_if(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        return (
            self._execute(
                "UPDATE push_tokens SET background_token = NULL"
                " WHERE account = ? AND app_id = ? AND device_id = ? AND background_token = ?",
                (account, app_id, device_id, token),
            )
            > 0
        )

    def devices(self, account: str) -> list[Device]:
        with self._lock:
            try:
                rows = self._connect().execute(_SELECT, (account,)).fetchall()
            except (sqlite3.OperationalError, OSError) as exc:
                raise _unavailable(exc) from exc
        return [
            Device(
                account=row[0],
                app_id=row[1],
                device_id=row[2],
                platform=cast(Platform, row[3]),
                token=row[4],
                background_token=row[5],
                silent=bool(row[6]),
                user_agent=row[7],
                updated_at=row[8],
            )
            for row in rows
        ]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _execute(self, sql: str, params: tuple[object, ...]) -> int:
        """Run one write statement (autocommit, so atomic on its own); rows changed."""
        with self._lock:
            try:
                return self._connect().execute(sql, params).rowcount
            except (sqlite3.OperationalError, OSError) as exc:
                raise _unavailable(exc) from exc

    def _connect(self) -> sqlite3.Connection:
        """The shared connection, opened on first use; call with the lock held."""
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit; every statement we run is a transaction.
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                self._initialise(connection)
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _initialise(self, connection: sqlite3.Connection) -> None:
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash may
        # lose the last commits, acceptable for devices that re-register.
        connection.execute("PRAGMA synchronous = NORMAL")
        # Switching to WAL while another connection is opening the same new file can fail
        # at once with "locked" without waiting on the busy handler: retry it ourselves.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)


def _unavailable(exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"Token storage is unavailable (SQLite: {exc})")
