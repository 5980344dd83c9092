"""Duplicate safety: DynamoDB (moto server), real threads and real time."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer

from chalicelib.retry.base import RetryMessage
from chalicelib.retry.idempotency import (
    DuplicateInProgress,
    IdempotentHandler,
    create_idempotency_table,
    dynamodb_persistence,
    once,
)
from chalicelib.retry.sqs import consume

from .helpers import message

Factory = Callable[[], BasePersistenceLayer]


@pytest.fixture
def store(dynamodb: Any) -> Factory:
    """Makes persistence objects on one shared table, as separate Lambda instances would."""
    table = f"idempotency-{uuid.uuid4().hex[:12]}"
    create_idempotency_table(dynamodb, table)
    return lambda: dynamodb_persistence(table, client=dynamodb)


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []

    def __call__(self, message: RetryMessage) -> None:
        with self.lock:
            self.calls.append(message.message_id)


def test_same_message_twice_calls_the_handler_once(store: Factory) -> None:
    counter = Counter()
    handler = once(store())(counter)
    m = message()
    assert handler(m) is True
    assert handler(m) is False
    # a copy parsed from the queue body is the same message
    assert handler(RetryMessage.from_json(m.to_json())) is False
    assert counter.calls == [m.message_id]


def test_a_second_instance_sees_the_first_ones_record(store: Factory) -> None:
    counter = Counter()
    first, second = once(store())(counter), once(store())(counter)
    m = message()
    assert first(m) is True
    assert second(m) is False
    assert counter.calls == [m.message_id]


def test_attempts_and_pushes_are_different_keys(store: Factory) -> None:
    counter = Counter()
    handler = once(store())(counter)
    messages = [message("p1", 2), message("p1", 3), message("p2", 2)]
    assert [handler(m) for m in messages] == [True, True, True]
    assert [handler(m) for m in messages] == [False, False, False]
    assert counter.calls == [m.message_id for m in messages]


def test_a_failed_handler_leaves_no_record(store: Factory) -> None:
    calls: list[int] = []

    def flaky(m: RetryMessage) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("PNS unreachable")

    handler = once(store())(flaky)
    with pytest.raises(ConnectionError):
        handler(message())
    assert handler(message()) is True
    assert handler(message()) is False
    assert len(calls) == 2


def test_concurrent_duplicates_call_the_handler_once(store: Factory) -> None:
    released = threading.Event()
    calls: list[threading.Thread] = []

    def slow(m: RetryMessage) -> None:
        calls.append(threading.current_thread())
        released.wait(5)  # hold the message until the other copy has been turned away

    handler = once(store())(slow)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver() -> None:
        start.wait()
        try:
            outcomes.append("ran" if handler(message()) else "skipped")
        except DuplicateInProgress:
            outcomes.append("in progress")
            released.set()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert sorted(outcomes) == ["in progress", "ran"]
    # the copy that was turned away is redelivered later and finds the push done
    assert handler(message()) is False


def test_a_crashed_attempt_unlocks_after_its_in_progress_time(store: Factory) -> None:
    entered, released = threading.Event(), threading.Event()
    calls: list[str] = []

    def stuck_once(m: RetryMessage) -> None:
        calls.append("x")
        if len(calls) == 1:
            entered.set()
            released.wait(5)  # like a Lambda that timed out mid-push

    first = once(store(), in_progress_seconds=0.3)(stuck_once)
    thread = threading.Thread(target=first, args=(message(),))
    thread.start()
    try:
        assert entered.wait(5)
        second = once(store(), in_progress_seconds=0.3)(stuck_once)
        with pytest.raises(DuplicateInProgress):
            second(message())
        time.sleep(0.45)
        assert second(message()) is True
        assert len(calls) == 2
    finally:
        released.set()
        thread.join(5)


def test_the_lambda_context_sets_the_in_progress_time(store: Factory) -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 200

    entered, released = threading.Event(), threading.Event()

    def stuck(m: RetryMessage) -> None:
        if not entered.is_set():
            entered.set()
            released.wait(5)

    first = once(store(), in_progress_seconds=600)(stuck)
    first.register_lambda_context(Context())
    thread = threading.Thread(target=first, args=(message(),))
    thread.start()
    try:
        assert entered.wait(5)
        time.sleep(0.35)
        assert once(store())(stuck)(message()) is True  # the 200 ms lock has run out
    finally:
        released.set()
        thread.join(5)


def test_consume_with_once_skips_a_redelivered_copy(store: Factory) -> None:
    counter = Counter()
    handler = once(store())(counter)
    body = message().to_json()
    assert consume([("m-1", body), ("m-1-again", body)], handler) == {"batchItemFailures": []}
    assert len(counter.calls) == 1


def test_once_returns_an_idempotent_handler(store: Factory) -> None:
    assert isinstance(once(store())(Counter()), IdempotentHandler)


def test_the_idempotency_table_has_ttl_on_expiration(dynamodb: Any) -> None:
    table = f"idempotency-{uuid.uuid4().hex[:12]}"
    create_idempotency_table(dynamodb, table)
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    key = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    assert key == [{"AttributeName": "id", "KeyType": "HASH"}]
