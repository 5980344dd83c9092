"""SqliteTokenStore: the contract on a real file, plus what is SQLite's own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from chalicelib.errors import StorageUnavailable
from chalicelib.tokens.base import TokenStore
from chalicelib.tokens.sqlite import SqliteTokenStore
from tests.tokens.contract import (
    ACCOUNT,
    NewestRegistrationWinsContract,
    TokenStoreContract,
    device,
    run_together,
)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteTokenStore]:
    store = SqliteTokenStore(tmp_path / "tokens.sqlite3")
    yield store
    store.close()


class TestSqliteTokenStore(TokenStoreContract, NewestRegistrationWinsContract):
    @pytest.fixture
    def store(self, sqlite_store: SqliteTokenStore) -> Iterator[TokenStore]:
        yield sqlite_store


def test_is_a_token_store(tmp_path: Path) -> None:
    # Checked by mypy: the class satisfies the Protocol structurally.
    store: TokenStore = SqliteTokenStore(tmp_path / "t.sqlite3")
    assert store.devices(ACCOUNT) == []


def test_schema_and_directories_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "var" / "spool" / "tokens.sqlite3"
    store = SqliteTokenStore(path)
    assert not path.exists()  # constructing is free: nothing opened yet
    assert store.devices(ACCOUNT) == []
    assert path.is_file()
    store.close()


def test_wal_mode_and_persistence_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    stored = device()
    first = SqliteTokenStore(path)
    first.upsert(stored)
    first.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    second = SqliteTokenStore(path)
    assert second.devices(ACCOUNT) == [stored]
    second.close()


def test_20_threads_x_50_upserts(sqlite_store: SqliteTokenStore) -> None:
    """What `chalice local` does: every request in its own thread, sharing one store."""

    def worker(thread: int) -> None:
        for n in range(50):
            # Half the writes re-register an earlier device: upserts and inserts interleave.
            number = n if n % 2 else n // 2
            sqlite_store.upsert(device(device_id=f"t{thread:02}-d{number:02}", token=f"{n}"))
            if n % 10 == 0:
                sqlite_store.devices(ACCOUNT)

    run_together([partial(worker, thread) for thread in range(20)])
    stored = sqlite_store.devices(ACCOUNT)
    expected = {f"t{t:02}-d{d:02}" for t in range(20) for d in {*range(1, 50, 2), *range(25)}}
    assert {d.device_id for d in stored} == expected
    assert len(stored) == len(expected)


def test_two_stores_on_one_file_write_concurrently(tmp_path: Path) -> None:
    """Two connections (as two processes would have): busy_timeout makes writers wait."""
    path = tmp_path / "tokens.sqlite3"
    stores = [SqliteTokenStore(path), SqliteTokenStore(path)]

    def worker(index: int) -> None:
        for n in range(100):
            stores[index].upsert(device(device_id=f"s{index}-{n:03}"))

    run_together([partial(worker, index) for index in range(2)])
    assert len(stores[0].devices(ACCOUNT)) == 200
    for store in stores:
        store.close()


def test_unusable_path_is_storage_unavailable(tmp_path: Path) -> None:
    store = SqliteTokenStore(tmp_path)  # a directory, not a database file
    with pytest.raises(StorageUnavailable, match="Token storage is unavailable"):
        store.upsert(device())
    with pytest.raises(StorageUnavailable):
        store.devices(ACCOUNT)


def test_locked_database_is_storage_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite3"
    store = SqliteTokenStore(path)
    store.devices(ACCOUNT)  # create the schema
    locked = SqliteTokenStore(path, busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StorageUnavailable, match="locked"):
            locked.upsert(device())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    locked.upsert(device())
    assert len(store.devices(ACCOUNT)) == 1
    store.close()
    locked.close()
