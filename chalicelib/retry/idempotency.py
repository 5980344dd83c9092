"""Duplicate safety for retry messages: SQS delivers at least once, a push goes out once.

Powertools Idempotency keyed by `RetryMessage.message_id` (push id and attempt): a copy of a
message whose handler already succeeded is skipped, and a copy that arrives while the first
is still running raises DuplicateInProgress, so the consumer reports it as a batch item
failure and SQS hands it over again later (by then it is done, or its lock has expired
because the first invocation died).

Records live in DynamoDB in AWS and in a SQLite file locally. Powertools (which imports
boto3) is imported only when a persistence layer or wrapper is built, so importing this
module from the API path is cheap.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .base import RetryMessage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    class SqlitePersistenceLayer(BasePersistenceLayer):
        """What sqlite_persistence returns (the class itself is built on first use)."""

        path: str

        def close(self) -> None: ...


KEY_PREFIX = "rtc-pushserver.retry"  # stable across function names and code moves
EXPIRES_AFTER = 3600  # keep a record at least as long as the longest push deadline
IN_PROGRESS_SECONDS = 60.0  # lock length when no Lambda context is registered (local use)


class DuplicateInProgress(Exception):
    """Another delivery of the same message is being handled right now: try again later."""


class _Budget:
    """Stands in for the Lambda context: Powertools derives the in-progress lock's expiry from
    the remaining time, and without one a crashed attempt would block its key until expiry."""

    def __init__(self, seconds: float) -> None:
        self.millis = int(seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


_SKIPPED = object()  # what the response hook returns for a completed duplicate


class IdempotentHandler:
    """`handler` run at most once per message_id; call it as the handler itself.

    Returns True when the handler ran, False when the message was already handled. Raises
    DuplicateInProgress while another delivery holds the message, and lets the handler's own
    exceptions through (the record is then removed, so a redelivery tries again).
    """

    def __init__(
        self,
        handler: Callable[[RetryMessage], object],
        persistence: BasePersistenceLayer,
        *,
        expires_after_seconds: int = EXPIRES_AFTER,
        in_progress_seconds: float = IN_PROGRESS_SECONDS,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            IdempotencyConfig,
            idempotent_function,
        )

        self._budget = _Budget(in_progress_seconds)
        self._config = IdempotencyConfig(
            expires_after_seconds=expires_after_seconds,
            raise_on_no_idempotency_key=True,
            lambda_context=cast("LambdaContext", self._budget),  # duck-typed by Powertools
            response_hook=self._skipped,
        )

        def run(message: RetryMessage, *, message_id: str) -> None:
            # Returns None so nothing but the status is stored and replayed
            handler(message)

        self._run: Callable[..., object] = idempotent_function(
            run,
            data_keyword_argument="message_id",
            persistence_store=persistence,
            config=self._config,
            key_prefix=key_prefix,
        )

    def register_lambda_context(self, context: Any | None) -> None:
        """Use the invocation's remaining time for the in-progress lock (call it per
        invocation with the Chalice event's `context`); None keeps the fixed budget."""
        self._config.lambda_context = cast("LambdaContext", context or self._budget)

    def __call__(self, message: RetryMessage) -> bool:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
        )

        try:
            result = self._run(message, message_id=message.message_id)
        except IdempotencyAlreadyInProgressError as exc:
            raise DuplicateInProgress(
                f"{message.push_id} attempt {message.attempt} is being handled elsewhere"
            ) from exc
        return result is not _SKIPPED

    @staticmethod
    def _skipped(response: Any, idempotent_data: DataRecord) -> Any:
        from .. import audit

        audit.push_logged(
            "duplicate retry message skipped: already handled",
            idempotency_key=idempotent_data.idempotency_key,
        )
        return _SKIPPED


def once(
    persistence: BasePersistenceLayer,
    *,
    expires_after_seconds: int = EXPIRES_AFTER,
    in_progress_seconds: float = IN_PROGRESS_SECONDS,
    key_prefix: str = KEY_PREFIX,
) -> Callable[[Callable[[RetryMessage], object]], IdempotentHandler]:
    """Decorator: `once(persistence)(handler)` is the IdempotentHandler of `handler`.

    Give each wrapped handler its own persistence object: Powertools configures a persistence
    layer from the first config it sees and ignores later ones.
    """

    def wrap(handler: Callable[[RetryMessage], object]) -> IdempotentHandler:
        return IdempotentHandler(
            handler,
            persistence,
            expires_after_seconds=expires_after_seconds,
            in_progress_seconds=in_progress_seconds,
            key_prefix=key_prefix,
        )

    return wrap


def dynamodb_persistence(table_name: str, *, client: Any | None = None) -> BasePersistenceLayer:
    """Powertools' DynamoDB layer on `table_name` (key "id", TTL attribute "expiration")."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)


def sqlite_persistence(path: str | Path) -> SqlitePersistenceLayer:
    """A persistence layer on the SQLite file `path` with the DynamoDB layer's semantics."""
    return cast("SqlitePersistenceLayer", _sqlite_layer_class()(path))


def create_idempotency_table(client: Any, name: str) -> None:
    """The table Powertools expects, with TTL on "expiration". For tests and local tooling."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    id TEXT PRIMARY KEY,
    expiration INTEGER NOT NULL,          -- epoch seconds, as the DynamoDB TTL attribute
    in_progress_expiration INTEGER,       -- epoch milliseconds
    status TEXT NOT NULL,
    data TEXT,
    validation TEXT
)
"""

# DynamoDBPersistenceLayer._put_record's condition, as an upsert that only replaces a row
# whose record expired, or whose in-progress lock expired while still in progress
_PUT = """
INSERT INTO idempotency (id, expiration, in_progress_expiration, status, data, validation)
VALUES (:id, :expiration, :in_progress_expiration, :status, NULL, :validation)
ON CONFLICT (id) DO UPDATE SET
    expiration = excluded.expiration,
    in_progress_expiration = excluded.in_progress_expiration,
    status = excluded.status,
    data = NULL,
    validation = excluded.validation
WHERE expiration < :now
   OR (status = 'INPROGRESS' AND in_progress_expiration IS NOT NULL
       AND in_progress_expiration < :now_ms)
"""

# update_item creates a missing item, so this is an upsert that keeps the lock column
_UPDATE = """
INSERT INTO idempotency (id, expiration, status, data, validation)
VALUES (:id, :expiration, :status, :data, :validation)
ON CONFLICT (id) DO UPDATE SET
    expiration = excluded.expiration,
    status = excluded.status,
    data = excluded.data,
    validation = CASE WHEN :validate THEN excluded.validation ELSE validation END
"""


@functools.cache
def _sqlite_layer_class() -> Callable[[str | Path], BasePersistenceLayer]:
    # Defined on first use: subclassing needs Powertools' idempotency package, which imports boto3
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyItemAlreadyExistsError,
        IdempotencyItemNotFoundError,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    class SqlitePersistenceLayer(BasePersistenceLayer):
        """Thread-safe (one connection behind a lock) and process-safe (SQLite file locks)."""

        def __init__(self, path: str | Path) -> None:
            super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
            self.path = str(path)
            self._lock = threading.Lock()
            # autocommit mode: each statement, or an explicit BEGIN ... COMMIT, is a transaction
            self._db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(_SCHEMA)
                # what DynamoDB TTL does eventually: drop records that expired
                self._db.execute(
                    "DELETE FROM idempotency WHERE expiration < ?",
                    (int(dt.datetime.now().timestamp()),),
                )

        def close(self) -> None:
            with self._lock:
                self._db.close()

        def _record(self, row: sqlite3.Row) -> DataRecord:
            return DataRecord(
                idempotency_key=row["id"],
                status=row["status"],
                expiry_timestamp=row["expiration"],
                in_progress_expiry_timestamp=row["in_progress_expiration"],
                response_data=row["data"],
                payload_hash=row["validation"],
            )

        def _select(self, idempotency_key: str) -> sqlite3.Row | None:
            row: sqlite3.Row | None = self._db.execute(
                "SELECT * FROM idempotency WHERE id = ?", (idempotency_key,)
            ).fetchone()
            return row

        def _get_record(self, idempotency_key: str) -> DataRecord:
            with self._lock:
                row = self._select(idempotency_key)
            if row is None:
                raise IdempotencyItemNotFoundError
            return self._record(row)

        def _put_record(self, data_record: DataRecord) -> None:
            now = dt.datetime.now()
            params = {
                "id": data_record.idempotency_key,
                "expiration": data_record.expiry_timestamp,
                "in_progress_expiration": data_record.in_progress_expiry_timestamp,
                "status": data_record.status,
                "validation": data_record.payload_hash if self.payload_validation_enabled else None,
                "now": int(now.timestamp()),
                "now_ms": int(now.timestamp() * 1000),
            }
            with self._lock:
                # IMMEDIATE takes the write lock first, so the row read after a refused
                # upsert is the one that refused it (as ReturnValuesOnConditionCheckFailure)
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    changed = self._db.execute(_PUT, params).rowcount
                    old = None if changed else self._select(data_record.idempotency_key)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            if changed:
                return
            if old is None:
                raise IdempotencyItemAlreadyExistsError
            old_record = self._record(old)
            self._validate_payload(data_payload=data_record, stored_data_record=old_record)
            self._save_to_cache(data_record=old_record)
            raise IdempotencyItemAlreadyExistsError(old_data_record=old_record)

        def _update_record(self, data_record: DataRecord) -> None:
            params = {
                "id": data_record.idempotency_key,
                "expiration": data_record.expiry_timestamp,
                "status": data_record.status,
                "data": data_record.response_data,
                "validation": data_record.payload_hash,
                "validate": self.payload_validation_enabled,
            }
            with self._lock:
                self._db.execute(_UPDATE, params)

        def _delete_record(self, data_record: DataRecord) -> None:
            with self._lock:
                self._db.execute(
                    "DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,)
                )

    return SqlitePersistenceLayer
