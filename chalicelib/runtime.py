"""The adapters of this container, chosen from the settings in this one place.

The runtime knows no use case: what handles a queued push is given to it by the edge
(`api.py`), which also keeps the container's one runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from .config.source import ConfigSource
from .errors import ConfigError
from .retry.base import RetryMessage, RetryQueue
from .settings import Settings
from .tokens.base import TokenStore

if TYPE_CHECKING:
    from .retry.idempotency import IdempotentHandler

# One attempt of a queued push, in this runtime.
RetryHandler = Callable[["Runtime", RetryMessage], None]


class Runtime:
    """Config source, token store and retry queue, each built on first use."""

    def __init__(self, settings: Settings, handle_retry: RetryHandler) -> None:
        self.settings = settings
        self._handle_retry = handle_retry
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
        """The SQS consumer's handler: a message SQS delivers twice is pushed once, by the
        records in IDEMPOTENCY_TABLE."""
        from .retry.idempotency import dynamodb_persistence, once

        if not self.settings.idempotency_table:
            raise ConfigError(
                "IDEMPOTENCY_TABLE is not set: the retry consumer needs it so that a message "
                "SQS delivers twice is pushed once"
            )
        with self._lock:
            return once(dynamodb_persistence(self.settings.idempotency_table))(self.redeliver)

    def close(self) -> None:
        """Stop the threads of the local retry queue, when this runtime started one: a runtime
        that was replaced must not go on pushing what it had queued."""
        from .retry.local import LocalRetryQueue

        queue = self.__dict__.get("retry_queue")  # only when built: closing builds nothing
        if isinstance(queue, LocalRetryQueue):
            queue.close()

    def redeliver(self, message: RetryMessage) -> None:
        self._handle_retry(self, message)
