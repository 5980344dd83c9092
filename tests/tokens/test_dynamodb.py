"""DynamoTokenStore: the contract against moto in server mode, plus DynamoDB's own behaviour
(item layout, TTL, pagination, conditions, error mapping)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from chalicelib.errors import InvalidRequest, StorageUnavailable
from chalicelib.tokens.base import TokenStore
from chalicelib.tokens.dynamodb import DynamoTokenStore, create_table, sort_key
from tests.aws import moto_server  # noqa: F401  (fixture: runs standalone without a conftest)
from tests.tokens.contract import (
    ACCOUNT,
    T0,
    NewestRegistrationWinsContract,
    TokenStoreContract,
    device,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DAY = 86400


@pytest.fixture(scope="module")
def client(moto_server: str) -> DynamoDBClient:  # noqa: F811
    # One client for the module: creating one costs tens of milliseconds.
    return boto3.client("dynamodb", endpoint_url=moto_server)


@pytest.fixture
def table(client: DynamoDBClient) -> Iterator[str]:
    """A fresh table per test (cheaper than resetting moto, and other suites keep theirs)."""
    name = f"tokens-{uuid.uuid4().hex[:12]}"
    create_table(client, name)
    yield name
    client.delete_table(TableName=name)


@pytest.fixture
def dynamo_store(client: DynamoDBClient, table: str) -> DynamoTokenStore:
    return DynamoTokenStore(table, client=client)


class TestDynamoTokenStore(TokenStoreContract, NewestRegistrationWinsContract):
    @pytest.fixture
    def store(self, dynamo_store: DynamoTokenStore) -> Iterator[TokenStore]:
        yield dynamo_store


def test_item_layout(dynamo_store: DynamoTokenStore, client: DynamoDBClient, table: str) -> None:
    before = time.time()
    dynamo_store.upsert(device(background_token=None, user_agent=None, silent=False))
    key = {"account": {"S": ACCOUNT}, "device": {"S": "com.agprojects.sylk#device-1"}}
    item = client.get_item(TableName=table, Key=key)["Item"]
    expires_at = int(item.pop("expires_at")["N"])
    assert before + 180 * DAY - 1 <= expires_at <= time.time() + 180 * DAY
    assert item == {
        **key,
        "app_id": {"S": "com.agprojects.sylk"},
        "device_id": {"S": "device-1"},
        "platform": {"S": "apple"},
        "token": {"S": "token-1"},
        "silent": {"BOOL": False},
        "updated_at": {"N": "1700000000.25"},
    }


def test_ttl_is_enabled_on_expires_at(client: DynamoDBClient, table: str) -> None:
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_ttl_days(client: DynamoDBClient, table: str) -> None:
    DynamoTokenStore(table, client=client, ttl_days=7).upsert(device())
    key = {"account": {"S": ACCOUNT}, "device": {"S": sort_key("com.agprojects.sylk", "device-1")}}
    expires_at = int(client.get_item(TableName=table, Key=key)["Item"]["expires_at"]["N"])
    assert abs(expires_at - (time.time() + 7 * DAY)) < 5
    with pytest.raises(ValueError, match="ttl_days"):
        DynamoTokenStore(table, client=client, ttl_days=0)


def _put_expired(client: DynamoDBClient, table: str, device_id: str, token: str) -> None:
    """An item TTL has not deleted yet (moto, like DynamoDB for days, still returns it)."""
    client.put_item(
        TableName=table,
        Item={
            "account": {"S": ACCOUNT},
            "device": {"S": sort_key("com.agprojects.sylk", device_id)},
            "app_id": {"S": "com.agprojects.sylk"},
            "device_id": {"S": device_id},
            "platform": {"S": "apple"},
            "token": {"S": token},
            "silent": {"BOOL": True},
            "updated_at": {"N": str(time.time() + 3600)},  # even "newer" than anything
            "expires_at": {"N": str(int(time.time()) - 1)},
        },
    )


def test_expired_items_are_invisible(
    dynamo_store: DynamoTokenStore, client: DynamoDBClient, table: str
) -> None:
    live = device(device_id="live")
    dynamo_store.upsert(live)
    _put_expired(client, table, "expired", "dead")
    assert dynamo_store.devices(ACCOUNT) == [live]
    assert dynamo_store.remove(ACCOUNT, "com.agprojects.sylk", "expired") is False
    _put_expired(client, table, "expired", "dead")
    assert dynamo_store.remove_if_token(ACCOUNT, "com.agprojects.sylk", "expired", "dead") is False
    # Re-registering replaces an expired item whatever its updated_at says.
    _put_expired(client, table, "expired", "dead")
    again = device(device_id="expired", token="fresh", updated_at=T0)
    dynamo_store.upsert(again)
    assert dynamo_store.devices(ACCOUNT) == [again, live]


def test_pagination_with_filtered_pages(client: DynamoDBClient, table: str) -> None:
    # Pages of 2 with expired items between live ones: some pages come back empty after the
    # filter yet carry a LastEvaluatedKey, and reading must go on.
    store = DynamoTokenStore(table, client=client, page_size=2)
    live = [device(device_id=f"d{n:02}", token=f"t{n}") for n in range(0, 15, 3)]
    for stored in live:
        store.upsert(stored)
    for n in range(15):
        if n % 3:
            _put_expired(client, table, f"d{n:02}", "dead")
    assert store.devices(ACCOUNT) == live


def test_long_non_ascii_ids_use_a_hashed_sort_key() -> None:
    assert sort_key("com.example", "device-1") == "com.example#device-1"
    long_key = sort_key("a" + "😀" * 254, "😀" * 255)
    assert long_key.startswith("sha256:")
    assert len(long_key.encode()) <= 1024
    # "#" inside app_id would make "<app_id>#<device_id>" ambiguous.
    assert sort_key("a#b", "c") != sort_key("a", "b#c")
    assert sort_key("a#b", "c").startswith("sha256:")


def test_account_beyond_the_partition_key_limit(dynamo_store: DynamoTokenStore) -> None:
    account = "ü" * 1025  # 2050 bytes of UTF-8
    with pytest.raises(InvalidRequest, match="account"):
        dynamo_store.upsert(device(account=account))
    assert dynamo_store.devices(account) == []
    assert dynamo_store.remove(account, "a", "d") is False
    assert dynamo_store.remove_if_token(account, "a", "d", "t") is False


def test_default_client_honours_aws_endpoint_url(client: DynamoDBClient, table: str) -> None:
    # No client given: boto3's default session reads AWS_ENDPOINT_URL (set by moto_server).
    store = DynamoTokenStore(table)
    stored = device()
    store.upsert(stored)
    assert DynamoTokenStore(table, client=client).devices(ACCOUNT) == [stored]


def test_import_does_not_load_boto3() -> None:
    code = (
        "import sys, chalicelib.tokens.dynamodb; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "[]"


# Failures: every botocore exception becomes StorageUnavailable.


def _no_retry_client(endpoint: str) -> DynamoDBClient:
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1)
    return boto3.client("dynamodb", endpoint_url=endpoint, config=config)


def _every_operation(store: DynamoTokenStore, match: str) -> None:
    operations: list[Callable[[], object]] = [
        lambda: store.upsert(device()),
        lambda: store.remove(ACCOUNT, "a", "d"),
        lambda: store.remove_if_token(ACCOUNT, "a", "d", "t"),
        lambda: store.devices(ACCOUNT),
    ]
    for operation in operations:
        with pytest.raises(StorageUnavailable, match=match) as caught:
            operation()
        assert caught.value.status == 503


@pytest.fixture
def refusing_endpoint() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_endpoint(refusing_endpoint: str, moto_server: str) -> None:  # noqa: F811
    store = DynamoTokenStore("tokens", client=_no_retry_client(refusing_endpoint))
    _every_operation(store, "cannot reach DynamoDB")


def test_missing_table(moto_server: str) -> None:  # noqa: F811
    store = DynamoTokenStore("no-such-table", client=_no_retry_client(moto_server))
    _every_operation(store, "table does not exist")


class _Throttling(BaseHTTPRequestHandler):
    """A DynamoDB endpoint that answers every request as throttled, over real HTTP."""

    code = "ProvisionedThroughputExceededException"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{self.code}", "message": "slow down"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling(code: str, moto_server: str) -> None:  # noqa: F811
    handler = type("Handler", (_Throttling,), {"code": code})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        store = DynamoTokenStore("tokens", client=_no_retry_client(endpoint))
        _every_operation(store, f"throttled .*{code}.*retry later")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
