"""Token store on Amazon Keyspaces or Apache Cassandra, with Sylk Pushserver's own tables.

The tables are the original's, column for column, so a keyspace already used by SylkServer or
Sylk Pushserver keeps working in both directions:

    push_tokens (username text, domain text, device_id text, app_id text,
                 background_token text, device_token text, platform text,
                 silent text, user_agent text,
                 PRIMARY KEY ((username, domain), device_id, app_id))
    mobile_devices (opensipskey text PRIMARY KEY, opensipsval text)

`mobile_devices` holds a flag row `(account, '1')` while the account has devices; OpenSIPS reads
it to know that an account can be woken up by push.

The driver (`cassandra-driver`, plus `cassandra-sigv4` for Keyspaces) is an optional extra and
is imported in the constructor only, so deployments on SQLite or DynamoDB never load it.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..audit import logger as log
from ..errors import ConfigError, InvalidRequest, StorageUnavailable
from ..models import normalize_platform
from .base import Device

FLAG_TABLE = "mobile_devices"
PLAIN_PORT = 9042
TLS_PORT = 9142  # Keyspaces listens on 9142 only, and only with TLS.

# Cassandra (and Keyspaces) names: letters, digits and underscores, at most 48 characters.
_NAME = re.compile(r"^[A-Za-z0-9_]{1,48}$")
_TOKEN_COLUMNS = (
    "username",
    "domain",
    "device_id",
    "app_id",
    "background_token",
    "device_token",
    "platform",
    "silent",
    "user_agent",
)


@dataclass(frozen=True)
class Statement:
    """One CQL statement to prepare, with the consistency level it runs at."""

    cql: str
    consistency: str = "LOCAL_QUORUM"
    # Idempotent statements may be retried by the driver; conditional (LWT) ones must not be.
    idempotent: bool = True


@dataclass(frozen=True)
class Statements:
    upsert: Statement
    flag: Statement
    select: Statement
    any_left: Statement
    delete: Statement
    delete_if_token: Statement
    forget_background_if: Statement
    unflag: Statement


def quote_name(name: str) -> str:
    """A keyspace or table name, double-quoted.

    Quoting keeps the case as written, which is what the original's cqlengine did for
    mixed-case names (and is the same as unquoted for lower-case ones).
    """
    if not _NAME.match(name):
        raise ValueError(f"invalid Cassandra name {name!r}: use letters, digits, '_' (max 48)")
    return f'"{name}"'


def build_statements(keyspace: str, table: str = "push_tokens") -> Statements:
    """The CQL of every statement the store prepares (pure, so it can be tested offline).

    Names are fully qualified, so a shared session does not need `USE keyspace`. Every
    statement runs at LOCAL_QUORUM: Keyspaces accepts no other level for writes, and quorum
    reads see the quorum writes of other Lambda instances.
    """
    tokens = f"{quote_name(keyspace)}.{quote_name(table)}"
    flags = f"{quote_name(keyspace)}.{quote_name(FLAG_TABLE)}"
    key = "username = ? AND domain = ?"
    row = f"{key} AND device_id = ? AND app_id = ?"
    columns = ", ".join(_TOKEN_COLUMNS)
    marks = ", ".join("?" for _ in _TOKEN_COLUMNS)
    return Statements(
        upsert=Statement(f"INSERT INTO {tokens} ({columns}) VALUES ({marks})"),
        flag=Statement(f"INSERT INTO {flags} (opensipskey, opensipsval) VALUES (?, ?)"),
        select=Statement(
            "SELECT device_id, app_id, background_token, device_token, platform, silent,"
            f" user_agent FROM {tokens} WHERE {key}"
        ),
        any_left=Statement(f"SELECT device_id FROM {tokens} WHERE {key} LIMIT 1"),
        # Conditional deletes tell whether a row was there, in one round trip.
        delete=Statement(f"DELETE FROM {tokens} WHERE {row} IF EXISTS", idempotent=False),
        delete_if_token=Statement(
            f"DELETE FROM {tokens} WHERE {row} IF device_token = ?", idempotent=False
        ),
        forget_background_if=Statement(
            f"UPDATE {tokens} SET background_token = null WHERE {row} IF background_token = ?",
            idempotent=False,
        ),
        unflag=Statement(f"DELETE FROM {flags} WHERE opensipskey = ?"),
    )


def schema_statements(keyspace: str, table: str = "push_tokens") -> list[str]:
    """CREATE TABLE IF NOT EXISTS for both tables, as the original defines them."""
    tokens = f"{quote_name(keyspace)}.{quote_name(table)}"
    flags = f"{quote_name(keyspace)}.{quote_name(FLAG_TABLE)}"
    return [
        f"CREATE TABLE IF NOT EXISTS {tokens} (username text, domain text, device_id text,"
        " app_id text, background_token text, device_token text, platform text, silent text,"
        " user_agent text, PRIMARY KEY ((username, domain), device_id, app_id))",
        f"CREATE TABLE IF NOT EXISTS {flags} (opensipskey text PRIMARY KEY, opensipsval text)",
    ]


def split_account(account: str) -> tuple[str, str]:
    """`alice@example.com` -> (`alice`, `example.com`): the original's partition key."""
    username, at, domain = account.partition("@")
    if not at or not username or not domain:
        raise InvalidRequest(
            f"invalid account {account!r}: expected user@domain", {"account": account}
        )
    return username, domain


def device_params(device: Device) -> tuple[str | None, ...]:
    """The INSERT values for `device`, in `_TOKEN_COLUMNS` order."""
    username, domain = split_account(device.account)
    return (
        username,
        domain,
        device.device_id,
        device.app_id,
        device.background_token,
        device.token,
        device.platform,
        "1" if device.silent else "0",
        device.user_agent,
    )


def _silent(value: Any) -> bool:
    # The original writes '1'/'0'; anything else (null, hand-edited rows) means the default.
    return not (isinstance(value, str) and value.strip().lower() in ("0", "false", "no"))


def row_to_device(account: str, row: Mapping[str, Any]) -> Device | None:
    """A `push_tokens` row as a Device; None when the row cannot be one (unknown platform,
    missing token).

    `updated_at` is 0.0: the original schema has no such column, and adding one would change
    tables that SylkServer and Sylk Pushserver share.
    """
    platform = normalize_platform(str(row.get("platform") or ""))
    token = row.get("device_token")
    if platform is None or not token:
        return None
    return Device(
        account=account,
        app_id=row["app_id"],
        device_id=row["device_id"],
        platform=platform,
        token=token,
        background_token=row.get("background_token"),
        silent=_silent(row.get("silent")),
        user_agent=row.get("user_agent"),
        updated_at=0.0,
    )


def _as_mapping(row: Any) -> Mapping[str, Any]:
    # The driver's default rows are named tuples; a caller's session may use dict rows.
    if isinstance(row, Mapping):
        return row
    as_dict: dict[str, Any] = row._asdict()
    return as_dict


def transient_errors() -> tuple[type[BaseException], ...]:
    """Driver exceptions that mean "the cluster could not answer now", not "bad request"."""
    from cassandra import (
        CoordinationFailure,
        OperationTimedOut,
        ReadTimeout,
        Unavailable,
        UnresolvableContactPoints,
        WriteTimeout,
    )
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException

    return (
        NoHostAvailable,
        OperationTimedOut,
        Unavailable,
        WriteTimeout,
        ReadTimeout,
        CoordinationFailure,
        ConnectionException,
        UnresolvableContactPoints,
    )


def to_storage_error(exc: BaseException, action: str) -> StorageUnavailable | None:
    """StorageUnavailable for a transient driver error, None for anything else.

    The description reaches API callers, so it names the failed action and the error class but
    not the hosts; the full error is logged.
    """
    if not isinstance(exc, transient_errors()):
        return None
    log.warning(
        f"token storage: {action} failed",
        extra={"error": type(exc).__name__, "reason": str(exc)},
    )
    return StorageUnavailable(
        f"token storage unavailable: could not {action} ({type(exc).__name__})",
        {"backend": "cassandra"},
    )


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Verified TLS: `ca_file` or the default trust store (which has the Amazon roots)."""
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def create_schema(session: Any, keyspace: str, table: str = "push_tokens") -> None:
    """Create `table` and `mobile_devices` in an existing keyspace if they are missing.

    For tests and first deployments; Keyspaces creates tables asynchronously, so this waits
    until its `system_schema_mcs` reports them ACTIVE.
    """
    for cql in schema_statements(keyspace, table):
        session.execute(cql)
    _wait_active(session, keyspace, [table, FLAG_TABLE])


def _wait_active(session: Any, keyspace: str, tables: list[str], timeout: float = 120.0) -> None:
    import time

    from cassandra import InvalidRequest as CqlInvalidRequest

    deadline = time.monotonic() + timeout
    query = (
        "SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = %s AND table_name = %s"
    )
    for name in tables:
        while True:
            try:
                row = session.execute(query, (keyspace, name)).one()
            except CqlInvalidRequest:
                return  # Not Keyspaces: Cassandra creates tables synchronously.
            if row is not None and _as_mapping(row).get("status") == "ACTIVE":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"table {keyspace}.{name} is not ACTIVE after {timeout:.0f} s")
            time.sleep(1.0)


def open_session(
    contact_points: Sequence[str],
    *,
    port: int | None = None,
    region: str | None = None,
    sigv4: bool = False,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    tls: bool = False,
    connect_timeout: float = 5.0,
    request_timeout: float = 10.0,
) -> tuple[Any, Any]:
    """Connect to Keyspaces (`sigv4=True`) or Cassandra: (cluster, session), every request at
    LOCAL_QUORUM. StorageUnavailable when no host answers.

    TLS is on with `sigv4`, `tls` or `ca_file`; the port then defaults to 9142, else 9042.
    """
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    hosts = list(contact_points)
    if not hosts:
        raise ValueError("no Cassandra contact points")
    tls = tls or sigv4 or ca_file is not None
    auth: Any = None
    if sigv4:
        auth = _sigv4_auth(region)
    elif username is not None:
        from cassandra.auth import PlainTextAuthProvider

        auth = PlainTextAuthProvider(username=username, password=password or "")
    options: dict[str, Any] = {}
    if tls:
        options["ssl_context"] = tls_context(ca_file)
        if sigv4:
            # Keyspaces advertises its peers by IP address; the certificate names the
            # regional endpoint, so check every connection against that name.
            options["ssl_options"] = {"server_hostname": hosts[0]}
    profile = ExecutionProfile(
        # The driver's default policy, named: the driver warns when it is left implicit.
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=request_timeout,
    )
    cluster: Any = None
    try:
        cluster = Cluster(
            hosts,
            port=port if port is not None else (TLS_PORT if tls else PLAIN_PORT),
            auth_provider=auth,
            # Keyspaces speaks protocol v4 (as did the original's setup); pinning it avoids
            # a failed v5 negotiation on every cold start.
            protocol_version=4,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=connect_timeout,
            control_connection_timeout=connect_timeout,
            **options,
        )
        return cluster, cluster.connect()
    except transient_errors() as exc:
        if cluster is not None:
            cluster.shutdown()
        raise _unavailable(exc, "connect to the cluster") from exc


class KeyspacesTokenStore:
    """TokenStore over CQL: Amazon Keyspaces (`sigv4=True`) or self-hosted Cassandra.

    Keyspaces mode: SigV4 authentication with the boto3 credentials of `region`, verified TLS
    on port 9142. Plain mode: optional username/password, TLS when `tls` or `ca_file` is set.
    Pass `session` to reuse a connected driver session (the store then does not own it, and
    the connection arguments are ignored).
    """

    def __init__(
        self,
        contact_points: Sequence[str],
        keyspace: str,
        *,
        table: str = "push_tokens",
        port: int | None = None,
        region: str | None = None,
        sigv4: bool = False,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        tls: bool = False,
        connect_timeout: float = 5.0,
        request_timeout: float = 10.0,
        session: Any | None = None,
    ) -> None:
        # Validate names before connecting: a typo should not cost a connection attempt.
        self._statements = build_statements(keyspace, table)
        self.keyspace = keyspace
        self.table = table
        self._cluster: Any | None = None
        self._errors = transient_errors()
        if session is None:
            self._cluster, session = open_session(
                contact_points,
                port=port,
                region=region,
                sigv4=sigv4,
                username=username,
                password=password,
                ca_file=ca_file,
                tls=tls,
                connect_timeout=connect_timeout,
                request_timeout=request_timeout,
            )
        self._session = session
        try:
            self._prepared = self._prepare_all()
        except BaseException:
            self.close()
            raise

    def _prepare_all(self) -> dict[str, Any]:
        from cassandra import ConsistencyLevel, RequestValidationException

        prepared: dict[str, Any] = {}
        for name, statement in vars(self._statements).items():
            try:
                with self._storage_errors("prepare statements"):
                    stmt = self._session.prepare(statement.cql)
            except RequestValidationException as exc:
                # Missing table, wrong keyspace, no permission: the deployment, not an outage.
                raise ConfigError(
                    f"token storage: {self.keyspace}.{self.table} or {FLAG_TABLE} is not usable"
                    f" ({exc}); create the tables (create_schema) or fix the keyspace/table name"
                ) from exc
            # Set on the statement too: a caller's session may default to LOCAL_ONE.
            stmt.consistency_level = ConsistencyLevel.name_to_value[statement.consistency]
            stmt.is_idempotent = statement.idempotent
            prepared[name] = stmt
        return prepared

    @contextmanager
    def _storage_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise _unavailable(exc, action) from exc

    def _run(self, name: str, params: Sequence[Any], action: str) -> Any:
        with self._storage_errors(action):
            return self._session.execute(self._prepared[name], tuple(params))

    def close(self) -> None:
        """Shut down the cluster connection this store opened (not a caller's session)."""
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    # TokenStore

    def upsert(self, device: Device) -> None:
        from cassandra import InvalidRequest as CqlInvalidRequest

        params = device_params(device)
        try:
            self._run("upsert", params, "store the device")
        except CqlInvalidRequest as exc:
            # Keys over the server's limits (Keyspaces: 2048-byte partition key, 850-byte
            # clustering columns) are the caller's data, not an outage.
            raise InvalidRequest(f"the token store rejected the device: {exc}") from exc
        self._run("flag", (device.account, "1"), "flag the account")

    def remove(self, account: str, app_id: str, device_id: str) -> bool:
        username, domain = split_account(account)
        result = self._run("delete", (username, domain, device_id, app_id), "remove the device")
        removed = bool(result.was_applied)
        if removed:
            self._unflag_if_empty(account, username, domain)
        return removed

    def remove_if_token(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        username, domain = split_account(account)
        result = self._run(
            "delete_if_token", (username, domain, device_id, app_id, token), "remove the device"
        )
        removed = bool(result.was_applied)
        if removed:
            self._unflag_if_empty(account, username, domain)
        return removed

    def forget_background_if(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        username, domain = split_account(account)
        result = self._run(
            "forget_background_if",
            (username, domain, device_id, app_id, token),
            "remove the background token",
        )
        return bool(result.was_applied)

    def devices(self, account: str) -> list[Device]:
        username, domain = split_account(account)
        with self._storage_errors("read the devices"):
            rows = list(self._session.execute(self._prepared["select"], (username, domain)))
        found: list[Device] = []
        for row in rows:
            device = row_to_device(account, _as_mapping(row))
            if device is None:
                # Ids only: tokens never reach the logs.
                fields = _as_mapping(row)
                log.warning(
                    "token storage: unusable row skipped",
                    extra={
                        "account": account,
                        "app_id": fields.get("app_id"),
                        "device_id": fields.get("device_id"),
                    },
                )
            else:
                found.append(device)
        # The clustering order is (device_id, app_id); the contract orders by app first.
        return sorted(found, key=lambda d: (d.app_id, d.device_id))

    def _has_rows(self, username: str, domain: str) -> bool:
        result = self._run("any_left", (username, domain), "read the devices")
        return result.one() is not None

    def _unflag_if_empty(self, account: str, username: str, domain: str) -> None:
        # Best effort: the device is already gone, and a flag left behind only makes OpenSIPS
        # try a push that finds no device.
        try:
            if self._has_rows(username, domain):
                return
            self._run("unflag", (account,), "unflag the account")
            # An upsert may have landed between the check and the delete: put its flag back.
            if self._has_rows(username, domain):
                self._run("flag", (account, "1"), "flag the account")
        except StorageUnavailable:
            log.warning(
                "token storage: mobile_devices flag not cleaned up", extra={"account": account}
            )


def _sigv4_auth(region: str | None) -> Any:
    import boto3
    from cassandra_sigv4.auth import SigV4AuthProvider

    session = boto3.Session(region_name=region)
    if session.region_name is None:
        raise ValueError("Keyspaces (sigv4) needs a region: pass region= or set AWS_REGION")
    return SigV4AuthProvider(session)


def _unavailable(exc: BaseException, action: str) -> StorageUnavailable:
    error = to_storage_error(exc, action)
    assert error is not None, "only called for transient driver errors"
    return error
