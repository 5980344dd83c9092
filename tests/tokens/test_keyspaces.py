"""KeyspacesTokenStore: the contract on a real CQL server (when one is given), and offline.

No CQL server can run on the development machines, so two runs of the contract exist:

* `TestKeyspacesTokenStore` runs against the server named by the environment (skipped without
  it): CQL_CONTACT_POINTS (comma-separated), CQL_KEYSPACE (must exist), optional CQL_PORT,
  CQL_USERNAME/CQL_PASSWORD, CQL_CA_FILE or CQL_TLS=1, CQL_SIGV4_REGION (Amazon Keyspaces:
  SigV4 + TLS on 9142), CQL_TABLE (default `push_tokens_contract`; it is wiped per test, so it
  may not be `push_tokens`).
* `TestKeyspacesTokenStoreOffline` runs against `FakeCqlSession`, an in-memory stand-in that
  executes exactly the statements of `build_statements`: it checks the store's own logic
  (account split, row mapping, conditional deletes, the mobile_devices flag), not CQL.

The rest checks what needs no server: statement text and consistency, mapping, driver errors,
connection options and failing fast.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.errors import ConfigError, InvalidRequest, StorageUnavailable
from chalicelib.tokens import keyspaces
from chalicelib.tokens.base import Device, TokenStore
from chalicelib.tokens.keyspaces import (
    KeyspacesTokenStore,
    build_statements,
    create_schema,
    device_params,
    open_session,
    row_to_device,
    schema_statements,
    split_account,
    to_storage_error,
)
from tests.tokens.contract import ACCOUNT, TokenStoreContract, device

pytest.importorskip(
    "cassandra"
)  # the optional extra: `pip install cassandra-driver cassandra-sigv4`

from cassandra import (
    ConsistencyLevel,
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra import InvalidRequest as CqlInvalidRequest
from cassandra.cluster import NoHostAvailable

KS = "sylk"
TABLE = "push_tokens"
Q = '"sylk"."push_tokens"'
F = '"sylk"."mobile_devices"'


class CallerStamps:
    """The original schema has no `updated_at` column, so the store reads it back as 0.0
    (`test_updated_at_is_not_stored`). The contract compares whole Devices; this wrapper puts
    back the `updated_at` each device was written with, so every *other* field is checked
    against what the store returns."""

    def __init__(self, store: KeyspacesTokenStore) -> None:
        self.inner = store
        self._stamps: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def upsert(self, device: Device) -> None:
        self.inner.upsert(device)
        with self._lock:
            self._stamps[(device.account, device.app_id, device.device_id)] = device.updated_at

    def remove(self, account: str, app_id: str, device_id: str) -> bool:
        return self.inner.remove(account, app_id, device_id)

    def remove_if_token(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        return self.inner.remove_if_token(account, app_id, device_id, token)

    def forget_background_if(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        return self.inner.forget_background_if(account, app_id, device_id, token)

    def devices(self, account: str) -> list[Device]:
        found = self.inner.devices(account)
        assert all(d.updated_at == 0.0 for d in found)
        with self._lock:
            return [
                replace(d, updated_at=self._stamps.get((account, d.app_id, d.device_id), 0.0))
                for d in found
            ]


# --- an in-memory CQL stand-in -------------------------------------------------------------


class FakePrepared:
    def __init__(self, cql: str) -> None:
        self.cql = cql
        self.consistency_level: int | None = None
        self.is_idempotent = False


class FakeResult:
    def __init__(self, rows: list[dict[str, Any]] | None = None, applied: bool = True) -> None:
        self.rows = rows or []
        self.was_applied = applied

    def one(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)


class FakeCqlSession:
    """Executes only the prepared statements of `build_statements` (anything else fails)."""

    def __init__(self, keyspace: str = KS, table: str = TABLE) -> None:
        statements = build_statements(keyspace, table)
        self.names = {stmt.cql: name for name, stmt in vars(statements).items()}
        # (username, domain) -> (device_id, app_id) -> row: Cassandra's key layout.
        self.tokens: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self.flags: dict[str, str] = {}
        self.prepared: dict[str, FakePrepared] = {}
        self.executed: list[tuple[str, int | None]] = []
        self.fail: BaseException | None = None
        self.fail_on: dict[str, BaseException] = {}  # statement name -> error
        self.before: dict[str, Callable[[], object]] = {}  # statement name -> hook
        self.fail_prepare: BaseException | None = None
        self._lock = threading.Lock()

    def prepare(self, cql: str) -> FakePrepared:
        if self.fail_prepare is not None:
            raise self.fail_prepare
        stmt = FakePrepared(cql)
        self.prepared[self.names[cql]] = stmt
        return stmt

    def execute(self, stmt: FakePrepared, params: Sequence[Any] = ()) -> FakeResult:
        if self.fail is not None:
            raise self.fail
        name = self.names[stmt.cql]
        if name in self.fail_on:
            raise self.fail_on[name]
        if name in self.before:
            self.before.pop(name)()
        with self._lock:
            self.executed.append((name, stmt.consistency_level))
            return getattr(self, f"_{name}")(*params)  # type: ignore[no-any-return]

    def _upsert(
        self, username: str, domain: str, device_id: str, app_id: str, *rest: Any
    ) -> FakeResult:
        columns = ("background_token", "device_token", "platform", "silent", "user_agent")
        row = {"device_id": device_id, "app_id": app_id, **dict(zip(columns, rest, strict=True))}
        self.tokens.setdefault((username, domain), {})[(device_id, app_id)] = row
        return FakeResult()

    def _flag(self, key: str, value: str) -> FakeResult:
        self.flags[key] = value
        return FakeResult()

    def _unflag(self, key: str) -> FakeResult:
        self.flags.pop(key, None)
        return FakeResult()

    def _select(self, username: str, domain: str) -> FakeResult:
        rows = self.tokens.get((username, domain), {})
        return FakeResult([dict(rows[key]) for key in sorted(rows)])  # clustering order

    def _any_left(self, username: str, domain: str) -> FakeResult:
        return FakeResult(self._select(username, domain).rows[:1])

    def _delete(self, username: str, domain: str, device_id: str, app_id: str) -> FakeResult:
        rows = self.tokens.get((username, domain), {})
        return FakeResult(applied=rows.pop((device_id, app_id), None) is not None)

    def _delete_if_token(
        self, username: str, domain: str, device_id: str, app_id: str, token: str
    ) -> FakeResult:
        rows = self.tokens.get((username, domain), {})
        row = rows.get((device_id, app_id))
        if row is None or row["device_token"] != token:
            return FakeResult(applied=False)
        del rows[(device_id, app_id)]
        return FakeResult()

    def _forget_background_if(
        self, username: str, domain: str, device_id: str, app_id: str, token: str
    ) -> FakeResult:
        row = self.tokens.get((username, domain), {}).get((device_id, app_id))
        if row is None or row["background_token"] != token:
            return FakeResult(applied=False)
        row["background_token"] = None
        return FakeResult()


@pytest.fixture
def fake() -> FakeCqlSession:
    return FakeCqlSession()


@pytest.fixture
def fake_store(fake: FakeCqlSession) -> KeyspacesTokenStore:
    return KeyspacesTokenStore([], KS, session=fake)


class TestKeyspacesTokenStoreOffline(TokenStoreContract):
    @pytest.fixture
    def store(self, fake_store: KeyspacesTokenStore) -> Iterator[TokenStore]:
        yield CallerStamps(fake_store)


# --- the contract against a real CQL server ------------------------------------------------

CQL_HOSTS = [h.strip() for h in os.environ.get("CQL_CONTACT_POINTS", "").split(",") if h.strip()]
CQL_KEYSPACE = os.environ.get("CQL_KEYSPACE", "")
CQL_TABLE = os.environ.get("CQL_TABLE", "push_tokens_contract")
CQL_REGION = os.environ.get("CQL_SIGV4_REGION") or None
NO_SERVER = "set CQL_CONTACT_POINTS and CQL_KEYSPACE to run the contract on a CQL server"


@pytest.fixture(scope="module")
def cql_session() -> Iterator[Any]:
    if not (CQL_HOSTS and CQL_KEYSPACE):
        pytest.skip(NO_SERVER)
    if CQL_TABLE == "push_tokens":
        pytest.fail("CQL_TABLE is wiped by every test: name a dedicated table, not push_tokens")
    port = os.environ.get("CQL_PORT")
    cluster, session = open_session(
        CQL_HOSTS,
        port=int(port) if port else None,
        region=CQL_REGION,
        sigv4=CQL_REGION is not None,
        username=os.environ.get("CQL_USERNAME"),
        password=os.environ.get("CQL_PASSWORD"),
        ca_file=os.environ.get("CQL_CA_FILE"),
        tls=os.environ.get("CQL_TLS") == "1",
        request_timeout=30.0,
    )
    try:
        create_schema(session, CQL_KEYSPACE, CQL_TABLE)
        yield session
    finally:
        cluster.shutdown()


def wipe(session: Any) -> None:
    """Delete every partition of the test table and the flag rows of those accounts."""
    table = f'"{CQL_KEYSPACE}"."{CQL_TABLE}"'
    flags = f'"{CQL_KEYSPACE}"."mobile_devices"'
    partitions = {
        (row.username, row.domain)
        for row in session.execute(f"SELECT username, domain FROM {table}")
    }
    for username, domain in partitions:
        session.execute(
            f"DELETE FROM {table} WHERE username = %s AND domain = %s", (username, domain)
        )
        session.execute(f"DELETE FROM {flags} WHERE opensipskey = %s", (f"{username}@{domain}",))


@pytest.fixture
def server_store(cql_session: Any) -> Iterator[KeyspacesTokenStore]:
    wipe(cql_session)
    yield KeyspacesTokenStore([], CQL_KEYSPACE, table=CQL_TABLE, session=cql_session)
    wipe(cql_session)


class TestKeyspacesTokenStore(TokenStoreContract):
    @pytest.fixture
    def store(self, server_store: KeyspacesTokenStore) -> Iterator[TokenStore]:
        yield CallerStamps(server_store)

    @pytest.fixture(autouse=True)
    def _keyspaces_key_limit(self, request: pytest.FixtureRequest) -> None:
        # Keyspaces stores at most 850 bytes per clustering column (Cassandra: 64 KiB), so
        # the contract's 255-character emoji ids are rejected there (as InvalidRequest).
        callspec = getattr(request.node, "callspec", None)
        char = callspec.params.get("char") if callspec is not None else None
        if CQL_REGION and isinstance(char, str) and len((char * 255).encode()) > 850:
            request.applymarker(pytest.mark.xfail(raises=InvalidRequest, strict=False))


def flag(session: Any, account: str) -> str | None:
    """The mobile_devices value of `account`, from the fake or the real server."""
    if isinstance(session, FakeCqlSession):
        return session.flags.get(account)
    row = session.execute(
        f'SELECT opensipsval FROM "{CQL_KEYSPACE}"."mobile_devices" WHERE opensipskey = %s',
        (account,),
    ).one()
    return None if row is None else str(row.opensipsval)


def raw_silent(session: Any, account: str, app_id: str, device_id: str) -> str | None:
    username, domain = split_account(account)
    if isinstance(session, FakeCqlSession):
        return str(session.tokens[(username, domain)][(device_id, app_id)]["silent"])
    row = session.execute(
        f'SELECT silent FROM "{CQL_KEYSPACE}"."{CQL_TABLE}" WHERE username = %s AND domain = %s'
        " AND device_id = %s AND app_id = %s",
        (username, domain, device_id, app_id),
    ).one()
    return None if row is None else str(row.silent)


class KeyspacesOwnBehaviour:
    """What only this backend does (the original's tables); run offline and on a server."""

    @pytest.fixture
    def pair(self) -> tuple[KeyspacesTokenStore, Any]:
        raise NotImplementedError

    def test_upsert_flags_the_account(self, pair: tuple[KeyspacesTokenStore, Any]) -> None:
        store, session = pair
        assert flag(session, ACCOUNT) is None
        store.upsert(device())
        assert flag(session, ACCOUNT) == "1"

    def test_flag_goes_with_the_last_device(self, pair: tuple[KeyspacesTokenStore, Any]) -> None:
        store, session = pair
        store.upsert(device(device_id="one"))
        store.upsert(device(device_id="two", token="t2"))
        assert store.remove(ACCOUNT, "com.agprojects.sylk", "one")
        assert flag(session, ACCOUNT) == "1"
        assert store.remove_if_token(ACCOUNT, "com.agprojects.sylk", "two", "t2")
        assert flag(session, ACCOUNT) is None

    def test_failed_remove_keeps_the_flag(self, pair: tuple[KeyspacesTokenStore, Any]) -> None:
        store, session = pair
        store.upsert(device())
        assert not store.remove_if_token(ACCOUNT, "com.agprojects.sylk", "device-1", "stale")
        assert not store.remove(ACCOUNT, "com.agprojects.sylk", "other")
        assert flag(session, ACCOUNT) == "1"

    @pytest.mark.parametrize(("silent", "stored"), [(True, "1"), (False, "0")])
    def test_silent_is_stored_as_the_original_did(
        self, pair: tuple[KeyspacesTokenStore, Any], silent: bool, stored: str
    ) -> None:
        store, session = pair
        store.upsert(device(silent=silent))
        assert raw_silent(session, ACCOUNT, "com.agprojects.sylk", "device-1") == stored

    def test_updated_at_is_not_stored(self, pair: tuple[KeyspacesTokenStore, Any]) -> None:
        store, _ = pair
        store.upsert(device(updated_at=1234.5))
        assert [d.updated_at for d in store.devices(ACCOUNT)] == [0.0]

    def test_account_without_at_is_rejected(self, pair: tuple[KeyspacesTokenStore, Any]) -> None:
        store, _ = pair
        with pytest.raises(InvalidRequest, match="'alice'"):
            store.upsert(device(account="alice"))
        with pytest.raises(InvalidRequest, match="'alice'"):
            store.devices("alice")


class TestOwnBehaviourOffline(KeyspacesOwnBehaviour):
    @pytest.fixture
    def pair(
        self, fake_store: KeyspacesTokenStore, fake: FakeCqlSession
    ) -> tuple[KeyspacesTokenStore, Any]:
        return fake_store, fake


class TestOwnBehaviourOnServer(KeyspacesOwnBehaviour):
    @pytest.fixture
    def pair(
        self, server_store: KeyspacesTokenStore, cql_session: Any
    ) -> tuple[KeyspacesTokenStore, Any]:
        return server_store, cql_session


# --- no server needed ----------------------------------------------------------------------


def test_statements_text() -> None:
    s = build_statements(KS, TABLE)
    columns = (
        "username, domain, device_id, app_id, background_token, device_token, platform,"
        " silent, user_agent"
    )
    assert s.upsert.cql == f"INSERT INTO {Q} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    assert s.flag.cql == f"INSERT INTO {F} (opensipskey, opensipsval) VALUES (?, ?)"
    assert s.select.cql == (
        "SELECT device_id, app_id, background_token, device_token, platform, silent, user_agent"
        f" FROM {Q} WHERE username = ? AND domain = ?"
    )
    assert s.any_left.cql == f"SELECT device_id FROM {Q} WHERE username = ? AND domain = ? LIMIT 1"
    key = "username = ? AND domain = ? AND device_id = ? AND app_id = ?"
    assert s.delete.cql == f"DELETE FROM {Q} WHERE {key} IF EXISTS"
    assert s.delete_if_token.cql == f"DELETE FROM {Q} WHERE {key} IF device_token = ?"
    assert s.unflag.cql == f"DELETE FROM {F} WHERE opensipskey = ?"


def test_every_statement_runs_at_local_quorum_and_only_lwts_are_not_idempotent() -> None:
    statements = vars(build_statements(KS, TABLE))
    assert {stmt.consistency for stmt in statements.values()} == {"LOCAL_QUORUM"}
    assert {name for name, stmt in statements.items() if not stmt.idempotent} == {
        "delete",
        "delete_if_token",
        "forget_background_if",
    }
    assert all(("IF " in stmt.cql) != stmt.idempotent for stmt in statements.values())


def test_schema_is_the_originals() -> None:
    assert schema_statements("ks", "tokens") == [
        'CREATE TABLE IF NOT EXISTS "ks"."tokens" (username text, domain text, device_id text,'
        " app_id text, background_token text, device_token text, platform text, silent text,"
        " user_agent text, PRIMARY KEY ((username, domain), device_id, app_id))",
        'CREATE TABLE IF NOT EXISTS "ks"."mobile_devices"'
        " (opensipskey text PRIMARY KEY, opensipsval text)",
    ]


@pytest.mark.parametrize(
    "name", ["", "push-tokens", 'a"b', "x; DROP TABLE y", "t" * 49, "ks.table"]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid Cassandra name"):
        build_statements(name, TABLE)
    with pytest.raises(ValueError, match="invalid Cassandra name"):
        build_statements(KS, name)


def test_mixed_case_names_keep_their_case() -> None:
    assert build_statements("Sylk", "PushTokens").flag.cql.startswith(
        'INSERT INTO "Sylk"."mobile_devices"'
    )
    assert '"Sylk"."PushTokens"' in build_statements("Sylk", "PushTokens").upsert.cql


def test_prepared_statements_carry_consistency(
    fake: FakeCqlSession, fake_store: KeyspacesTokenStore
) -> None:
    assert set(fake.prepared) == set(vars(build_statements(KS, TABLE)))
    for name, stmt in fake.prepared.items():
        assert stmt.consistency_level == ConsistencyLevel.LOCAL_QUORUM, name
        lwts = ("delete", "delete_if_token", "forget_background_if")
        assert stmt.is_idempotent == (name not in lwts), name
    fake_store.upsert(device())
    fake_store.remove(ACCOUNT, "com.agprojects.sylk", "device-1")
    assert {level for _, level in fake.executed} == {ConsistencyLevel.LOCAL_QUORUM}
    assert [name for name, _ in fake.executed] == [
        "upsert",
        "flag",
        "delete",
        "any_left",
        "unflag",
        "any_left",
    ]


@pytest.mark.parametrize(
    ("account", "parts"),
    [
        ("alice@example.com", ("alice", "example.com")),
        ("sip:alice@example.com", ("sip:alice", "example.com")),
        ("a@b@c", ("a", "b@c")),
        ("📱🎉@例え.jp", ("📱🎉", "例え.jp")),
    ],
)
def test_split_account(account: str, parts: tuple[str, str]) -> None:
    assert split_account(account) == parts


@pytest.mark.parametrize("account", ["alice", "", "@example.com", "alice@"])
def test_account_must_be_user_at_domain(account: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        split_account(account)
    assert repr(account) in info.value.description
    assert info.value.data == {"account": account}


def test_device_params() -> None:
    stored = device(background_token="bg", silent=False, user_agent="UA")
    assert device_params(stored) == (
        "alice",
        "example.com",
        "device-1",
        "com.agprojects.sylk",
        "bg",
        "token-1",
        "apple",
        "0",
        "UA",
    )
    assert device_params(device(silent=True))[7] == "1"


Row = namedtuple("Row", "device_id app_id background_token device_token platform silent user_agent")


def test_row_to_device_from_named_tuple_and_dict() -> None:
    row = Row("d1", "app", "bg", "tok", "apple", "0", "UA")
    expected = Device(ACCOUNT, "app", "d1", "apple", "tok", "bg", False, "UA", 0.0)
    assert row_to_device(ACCOUNT, row._asdict()) == expected
    assert row_to_device(ACCOUNT, keyspaces._as_mapping(row)) == expected
    assert row_to_device(ACCOUNT, keyspaces._as_mapping(dict(row._asdict()))) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"silent": "1"}, {"silent": True}),
        ({"silent": None}, {"silent": True}),  # rows written by hand: the API default
        ({"silent": "false"}, {"silent": False}),
        ({"platform": "ios"}, {"platform": "apple"}),
        ({"platform": "firebase"}, {"platform": "firebase"}),
        (
            {"background_token": None, "user_agent": None},
            {"background_token": None, "user_agent": None},
        ),
    ],
)
def test_row_mapping(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    row = {**Row("d1", "app", "bg", "tok", "apple", "1", "UA")._asdict(), **changes}
    mapped = row_to_device(ACCOUNT, row)
    assert mapped is not None
    for name, value in expected.items():
        assert getattr(mapped, name) == value


@pytest.mark.parametrize(
    "changes", [{"platform": "windows"}, {"platform": None}, {"device_token": None}]
)
def test_unusable_rows_are_skipped(
    changes: dict[str, Any], fake: FakeCqlSession, fake_store: KeyspacesTokenStore
) -> None:
    assert (
        row_to_device(
            ACCOUNT, {**Row("d", "a", None, "t", "apple", "1", None)._asdict(), **changes}
        )
        is None
    )
    fake_store.upsert(device())
    fake.tokens[("alice", "example.com")][("bad", "app")] = {
        **Row("bad", "app", None, "t", "apple", "1", None)._asdict(),
        **changes,
    }
    assert [d.device_id for d in fake_store.devices(ACCOUNT)] == ["device-1"]


def test_devices_are_ordered_by_app_then_device(fake_store: KeyspacesTokenStore) -> None:
    # Cassandra's clustering order is (device_id, app_id): the store must re-sort.
    fake_store.upsert(device(app_id="b", device_id="1"))
    fake_store.upsert(device(app_id="a", device_id="2"))
    assert [(d.app_id, d.device_id) for d in fake_store.devices(ACCOUNT)] == [
        ("a", "2"),
        ("b", "1"),
    ]


DRIVER_ERRORS = [
    NoHostAvailable("Unable to connect to any servers", {"10.0.0.1:9142": OSError("refused")}),
    OperationTimedOut(errors={"10.0.0.1": "timed out"}, last_host="10.0.0.1"),
    Unavailable(
        "Cannot achieve consistency level LOCAL_QUORUM",
        consistency=6,
        required_replicas=2,
        alive_replicas=1,
    ),
    WriteTimeout(
        "Operation timed out",
        consistency=6,
        received_responses=1,
        required_responses=2,
        write_type=0,
    ),
    ReadTimeout(
        "Operation timed out",
        consistency=6,
        received_responses=1,
        required_responses=2,
        data_retrieved=False,
    ),
]


@pytest.mark.parametrize("error", DRIVER_ERRORS, ids=lambda e: type(e).__name__)
def test_driver_errors_map_to_storage_unavailable(error: Exception) -> None:
    mapped = to_storage_error(error, "read the devices")
    assert isinstance(mapped, StorageUnavailable)
    assert mapped.status == 503
    assert (
        mapped.description
        == f"token storage unavailable: could not read the devices ({type(error).__name__})"
    )
    assert "10.0.0.1" not in mapped.description  # hosts are logged, not answered


@pytest.mark.parametrize(
    "error", [CqlInvalidRequest("unconfigured table"), ValueError("x"), KeyError("k")]
)
def test_other_errors_are_not_storage_unavailable(error: Exception) -> None:
    assert to_storage_error(error, "x") is None


@pytest.mark.parametrize("error", DRIVER_ERRORS, ids=lambda e: type(e).__name__)
def test_every_operation_maps_driver_errors(
    error: Exception, fake: FakeCqlSession, fake_store: KeyspacesTokenStore
) -> None:
    fake.fail = error
    calls: list[Callable[[], object]] = [
        lambda: fake_store.upsert(device()),
        lambda: fake_store.remove(ACCOUNT, "a", "d"),
        lambda: fake_store.remove_if_token(ACCOUNT, "a", "d", "t"),
        lambda: fake_store.devices(ACCOUNT),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as info:
            call()
        assert info.value.__cause__ is error


def test_rejected_write_is_invalid_request(
    fake: FakeCqlSession, fake_store: KeyspacesTokenStore
) -> None:
    fake.fail = CqlInvalidRequest("Key size exceeds the maximum")
    with pytest.raises(InvalidRequest, match="Key size exceeds"):
        fake_store.upsert(device())


def test_missing_table_is_a_config_error(fake: FakeCqlSession) -> None:
    fake.fail_prepare = CqlInvalidRequest("unconfigured table push_tokens")
    with pytest.raises(ConfigError, match=r"sylk\.push_tokens .*create_schema"):
        KeyspacesTokenStore([], KS, session=fake)


def test_no_permission_is_a_config_error(fake: FakeCqlSession) -> None:
    fake.fail_prepare = Unauthorized("User has no SELECT permission")
    with pytest.raises(ConfigError, match="no SELECT permission"):
        KeyspacesTokenStore([], KS, session=fake)


def test_flag_cleanup_is_best_effort(fake: FakeCqlSession, fake_store: KeyspacesTokenStore) -> None:
    fake_store.upsert(device())
    fake.fail_on["unflag"] = OperationTimedOut()
    assert fake_store.remove(ACCOUNT, "com.agprojects.sylk", "device-1") is True
    assert fake_store.devices(ACCOUNT) == []
    assert fake.flags == {ACCOUNT: "1"}  # left behind, harmless


def test_flag_is_restored_when_a_registration_races_the_cleanup(
    fake: FakeCqlSession, fake_store: KeyspacesTokenStore
) -> None:
    fake_store.upsert(device())
    # Another instance registers a device after our "no rows left" check, before the unflag.
    fake.before["unflag"] = lambda: fake._upsert(
        "alice", "example.com", "device-2", "com.agprojects.sylk", None, "t2", "apple", "1", None
    )
    assert fake_store.remove(ACCOUNT, "com.agprojects.sylk", "device-1") is True
    assert fake.flags == {ACCOUNT: "1"}
    assert [d.device_id for d in fake_store.devices(ACCOUNT)] == ["device-2"]


def test_prepare_timeout_is_storage_unavailable(fake: FakeCqlSession) -> None:
    fake.fail_prepare = OperationTimedOut()
    with pytest.raises(StorageUnavailable, match="prepare statements"):
        KeyspacesTokenStore([], KS, session=fake)


def test_bad_names_fail_before_connecting() -> None:
    with pytest.raises(ValueError, match="invalid Cassandra name"):
        KeyspacesTokenStore(["127.0.0.1"], "bad-name")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_closed_port_fails_fast_with_storage_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="could not connect to the cluster") as info:
        KeyspacesTokenStore(["127.0.0.1"], KS, port=closed_port(), connect_timeout=0.5)
    assert time.monotonic() - started < 5
    assert isinstance(info.value.__cause__, NoHostAvailable)


def test_silent_server_times_out_with_storage_unavailable() -> None:
    # Accepts TCP but never answers the CQL handshake.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="could not connect to the cluster"):
            KeyspacesTokenStore(
                ["127.0.0.1"], KS, port=server.getsockname()[1], connect_timeout=0.5
            )
        assert time.monotonic() - started < 10


def test_unresolvable_host_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable, match="UnresolvableContactPoints"):
        KeyspacesTokenStore(["no-such-host.invalid"], KS, connect_timeout=0.5)


class RecordingCluster:
    """Stands in for cassandra.cluster.Cluster: records its arguments, connects to a fake."""

    calls: list[tuple[list[str], dict[str, Any]]] = []

    def __init__(self, hosts: list[str], **kwargs: Any) -> None:
        self.calls.append((hosts, kwargs))
        self.shut = False

    def connect(self) -> FakeCqlSession:
        return FakeCqlSession()

    def shutdown(self) -> None:
        self.shut = True


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    import cassandra.cluster

    RecordingCluster.calls = []
    monkeypatch.setattr(cassandra.cluster, "Cluster", RecordingCluster)
    return RecordingCluster.calls


def test_keyspaces_mode_options(recorded: list[tuple[list[str], dict[str, Any]]]) -> None:
    from cassandra_sigv4.auth import SigV4AuthProvider

    endpoint = "cassandra.eu-west-1.amazonaws.com"
    store = KeyspacesTokenStore([endpoint], KS, sigv4=True, region="eu-west-1")
    ((hosts, kwargs),) = recorded
    assert hosts == [endpoint]
    assert kwargs["port"] == 9142
    assert kwargs["protocol_version"] == 4
    auth = kwargs["auth_provider"]
    assert isinstance(auth, SigV4AuthProvider)
    assert auth.session.region_name == "eu-west-1"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert kwargs["ssl_options"] == {"server_hostname": endpoint}
    profile = next(iter(kwargs["execution_profiles"].values()))
    assert profile.consistency_level == ConsistencyLevel.LOCAL_QUORUM
    store.close()
    assert store._cluster is None


def test_keyspaces_mode_needs_a_region(
    recorded: list[tuple[list[str], dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    with pytest.raises(ValueError, match="needs a region"):
        KeyspacesTokenStore(["cassandra.eu-west-1.amazonaws.com"], KS, sigv4=True)
    assert recorded == []


def test_plain_mode_options(recorded: list[tuple[list[str], dict[str, Any]]]) -> None:
    from cassandra.auth import PlainTextAuthProvider

    KeyspacesTokenStore(["db1", "db2"], KS, username="sylk", password="secret", connect_timeout=2)
    ((hosts, kwargs),) = recorded
    assert hosts == ["db1", "db2"]
    assert kwargs["port"] == 9042
    assert "ssl_context" not in kwargs
    assert isinstance(kwargs["auth_provider"], PlainTextAuthProvider)
    assert kwargs["auth_provider"].username == "sylk"
    assert kwargs["connect_timeout"] == 2


def test_plain_mode_with_a_ca_file_uses_verified_tls(
    recorded: list[tuple[list[str], dict[str, Any]]],
) -> None:
    import certifi

    KeyspacesTokenStore(["db1"], KS, ca_file=certifi.where(), port=19142)
    ((_, kwargs),) = recorded
    assert kwargs["port"] == 19142
    assert kwargs["auth_provider"] is None
    assert kwargs["ssl_context"].check_hostname is True
    assert "ssl_options" not in kwargs  # each node is checked against its own address


def test_driver_is_imported_lazily() -> None:
    import subprocess
    import sys

    code = "import chalicelib.tokens.keyspaces, sys; print('cassandra' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
