"""The adapters of this container, chosen from the settings in this one place."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from .config import ConfigSource
from .retry.base import RetryMessage, RetryQueue
from .settings import Settings
from .tokens.base import TokenStore

if TYPE_CHECKING:
    from .retry.idempotency import IdempotentHandler


class Runtime:
    """Config source, token store and retry queue, each built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = ConfigSource(
            settings.config_dir, settings.config_check_interval, settings.config_ssm_path
        )
        self._lock = threading.Lock()

    @cached_property
    def tokens(self) -> TokenStore:
        with self._lock:
            kind = self.settings.token_store
            server = self.config.get().server
            if kind == "auto":
                kind = "keyspaces" if server.cassandra_contact_points else "sqlite"
            if kind == "dynamodb":
                from .tokens.dynamodb import DynamoTokenStore

                return DynamoTokenStore(self.settings.tokens_table)
            if kind == "keyspaces":
                from .tokens.keyspaces import KeyspacesTokenStore

                return KeyspacesTokenStore(
                    server.cassandra_contact_points,
                    server.cassandra_keyspace,
                    table=server.cassandra_table,
                    **self.settings.keyspaces_options(),
                )
            from .tokens.sqlite import SqliteTokenStore

            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            return SqliteTokenStore(self.settings.data_dir / "tokens.sqlite3")

    @cached_property
    def retry_queue(self) -> RetryQueue:
        with self._lock:
            if self.settings.retry_queue == "sqs":
                from .retry.sqs import SqsRetryQueue

                return SqsRetryQueue(self.settings.retry_queue_url)
            from .retry.local import LocalRetryQueue

            return LocalRetryQueue(self.redeliver, scale=self.settings.retry_delay_scale)

    @cached_property
    def retry_handler(self) -> IdempotentHandler:
        """The SQS consumer's handler: a message SQS delivers twice is pushed once."""
        from .retry.idempotency import dynamodb_persistence, once, sqlite_persistence

        with self._lock:
            if self.settings.idempotency_table:
                persistence = dynamodb_persistence(self.settings.idempotency_table)
            else:
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
                persistence = sqlite_persistence(self.settings.data_dir / "idempotency.sqlite3")
            return once(persistence)(self.redeliver)

    def redeliver(self, message: RetryMessage) -> None:
        from . import audit, dispatch

        try:
            dispatch.redeliver(self, message)
        finally:
            audit.flush()


_runtime: Runtime | None = None
_lock = threading.Lock()


def get() -> Runtime:
    """Built on first use and kept for the life of the warm container."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime(Settings.from_env())
    return _runtime


def reset(settings: Settings | None = None) -> Runtime:
    """A fresh runtime (tests, and a process that changed its environment)."""
    global _runtime
    with _lock:
        _runtime = Runtime(settings or Settings.from_env())
    return _runtime
