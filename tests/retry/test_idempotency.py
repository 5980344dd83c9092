"""Duplicate safety: SQLite files and DynamoDB (moto server), real threads and real time."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from chalicelib.retry.base import RetryMessage
from chalicelib.retry.idempotency import (
    DuplicateInProgress,
    IdempotentHandler,
    create_idempotency_table,
    dynamodb_persistence,
    once,
    sqlite_persistence,
)
from chalicelib.retry.sqs import consume

from .helpers import message

if TYPE_CHECKING:
    from chalicelib.retry.idempotency import SqlitePersistenceLayer

Factory = Callable[[], BasePersistenceLayer]


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Makes persistence objects on one shared store, as separate Lambda instances would."""
    if request.param == "sqlite":
        path = tmp_path / "idempotency.sqlite3"
        made: list[SqlitePersistenceLayer] = []

        def make_sqlite() -> BasePersistenceLayer:
            layer = sqlite_persistence(path)
            made.append(layer)
            return layer

        yield make_sqlite
        for layer in made:
            layer.close()
    else:
        client = request.getfixturevalue("dynamodb")
        table = f"idempotency-{uuid.uuid4().hex[:12]}"
        create_idempotency_table(client, table)
        yield lambda: dynamodb_persistence(table, client=client)


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


def test_once_returns_an_idempotent_handler(tmp_path: Path) -> None:
    layer = sqlite_persistence(tmp_path / "db.sqlite3")
    try:
        wrapped = once(layer)(Counter())
        assert isinstance(wrapped, IdempotentHandler)
    finally:
        layer.close()


def test_the_idempotency_table_has_ttl_on_expiration(dynamodb: Any) -> None:
    table = f"idempotency-{uuid.uuid4().hex[:12]}"
    create_idempotency_table(dynamodb, table)
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    key = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    assert key == [{"AttributeName": "id", "KeyType": "HASH"}]


# The persistence layers themselves: the SQLite one must answer as the DynamoDB one does.


def now() -> int:
    return int(dt.datetime.now().timestamp())


def record(
    key: str,
    status: str = "INPROGRESS",
    expiry: int | None = None,
    in_progress_expiry_ms: int | None = None,
    data: str = "",
) -> DataRecord:
    return DataRecord(
        idempotency_key=key,
        status=status,
        expiry_timestamp=now() + 3600 if expiry is None else expiry,
        in_progress_expiry_timestamp=in_progress_expiry_ms,
        response_data=data,
    )


def put(layer: BasePersistenceLayer, data_record: DataRecord) -> None:
    layer._put_record(data_record=data_record)


def test_put_refuses_a_live_record_and_returns_it(store: Factory) -> None:
    layer = store()
    put(layer, record("k"))
    with pytest.raises(IdempotencyItemAlreadyExistsError) as info:
        put(layer, record("k"))
    old = info.value.old_data_record
    assert old is not None
    assert old.idempotency_key == "k"
    assert old.status == "INPROGRESS"


def test_put_replaces_an_expired_record(store: Factory) -> None:
    layer = store()
    put(layer, record("k", status="COMPLETED", expiry=now() - 10, data='{"x": 1}'))
    put(layer, record("k"))
    got = layer._get_record("k")
    assert got.status == "INPROGRESS"
    assert not got.response_data


def test_put_replaces_an_in_progress_record_whose_lock_expired(store: Factory) -> None:
    layer = store()
    put(layer, record("k", in_progress_expiry_ms=now() * 1000 - 1000))
    fresh = now() * 1000 + 60_000
    put(layer, record("k", in_progress_expiry_ms=fresh))
    assert layer._get_record("k").in_progress_expiry_timestamp == fresh


def test_put_keeps_a_live_in_progress_lock(store: Factory) -> None:
    layer = store()
    put(layer, record("k", in_progress_expiry_ms=now() * 1000 + 60_000))
    with pytest.raises(IdempotencyItemAlreadyExistsError):
        put(layer, record("k"))


def test_put_keeps_a_completed_record_even_after_its_lock_time(store: Factory) -> None:
    layer = store()
    put(layer, record("k", in_progress_expiry_ms=now() * 1000 - 1000))
    layer._update_record(data_record=record("k", status="COMPLETED", data="null"))
    with pytest.raises(IdempotencyItemAlreadyExistsError) as info:
        put(layer, record("k"))
    assert info.value.old_data_record is not None
    assert info.value.old_data_record.status == "COMPLETED"


def test_update_get_and_delete(store: Factory) -> None:
    layer = store()
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")
    lock_ms = now() * 1000 + 5000
    put(layer, record("k", in_progress_expiry_ms=lock_ms))
    layer._update_record(data_record=record("k", status="COMPLETED", data='{"ok": true}'))
    got = layer._get_record("k")
    assert got.status == "COMPLETED"
    assert got.response_json_as_dict() == {"ok": True}
    assert got.in_progress_expiry_timestamp == lock_ms  # update_item leaves other attributes
    layer._delete_record(data_record=DataRecord(idempotency_key="k"))
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")
    layer._delete_record(data_record=DataRecord(idempotency_key="k"))  # deleting twice is fine


def test_update_creates_a_missing_record(store: Factory) -> None:
    layer = store()
    layer._update_record(data_record=record("k", status="COMPLETED", data="null"))
    assert layer._get_record("k").status == "COMPLETED"


def test_expired_records_are_still_read_as_expired(store: Factory) -> None:
    layer = store()
    put(layer, record("k", status="COMPLETED", expiry=now() - 10))
    assert layer._get_record("k").status == "EXPIRED"


def test_sqlite_put_race_has_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite3"
    layers = [sqlite_persistence(path) for _ in range(4)]
    start = threading.Barrier(16)
    winners: list[int] = []
    lock = threading.Lock()

    def contend(n: int) -> None:
        start.wait()
        try:
            put(layers[n % 4], record("k"))
        except IdempotencyItemAlreadyExistsError:
            return
        with lock:
            winners.append(n)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    try:
        assert len(winners) == 1
    finally:
        for layer in layers:
            layer.close()


def test_sqlite_drops_expired_records_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "ttl.sqlite3"
    layer = sqlite_persistence(path)
    put(layer, record("old", status="COMPLETED", expiry=now() - 10))
    put(layer, record("live"))
    layer.close()
    reopened = sqlite_persistence(path)
    try:
        with pytest.raises(IdempotencyItemNotFoundError):
            reopened._get_record("old")
        assert reopened._get_record("live").status == "INPROGRESS"
    finally:
        reopened.close()
