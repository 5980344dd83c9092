"""Duplicate safety for retry messages: SQS delivers at least once, a push goes out once.

Powertools Idempotency keyed by `RetryMessage.message_id` (push id and attempt): a copy of a
message whose handler already succeeded is skipped, and a copy that arrives while the first
is still running raises DuplicateInProgress, so the consumer reports it as a batch item
failure and SQS hands it over again later (by then it is done, or its lock has expired
because the first invocation died).

Records live in DynamoDB (IDEMPOTENCY_TABLE, which every AWS stage has), through Powertools'
own DynamoDB layer. The local retry queue runs its handler in-process once per attempt, so it
needs no records. Powertools (which imports boto3) is imported only when a persistence layer
or wrapper is built, so importing this module from the API path is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .base import RetryMessage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


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

        audit.log(
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
