"""DynamoDB token store: the AWS default.

Table design (one item per device; one Query returns all devices of an account):

* partition key ``account`` (S); sort key ``device`` (S) = ``"<app_id>#<device_id>"``. When that
  does not fit DynamoDB's 1024-byte sort-key limit (two 255-character non-ASCII ids), or when
  ``app_id`` itself contains ``#`` (so the split would be ambiguous), the sort key is
  ``"sha256:<hex>"`` of both ids instead; the ids are stored as attributes either way and
  ``devices()`` sorts by them, so the sort key is only an identity.
* attributes ``app_id`` S, ``device_id`` S, ``platform`` S, ``token`` S, ``background_token`` S
  (absent when None), ``silent`` BOOL, ``user_agent`` S (absent when None), ``updated_at`` N
  (epoch seconds, float), ``expires_at`` N (epoch seconds, int).
* TTL on ``expires_at`` = write time + ``ttl_days`` (default 180): a device not re-registered
  for that long goes away. TTL deletion lags by days, so reads skip items already expired.
* conditions: an upsert never replaces a newer registration with an older one
  (``attribute_not_exists(account) OR updated_at <= :updated_at OR expires_at <= :now``);
  ``remove_if_token`` deletes only while ``token = :token``; ``remove`` uses
  ``ReturnValues=ALL_OLD`` to tell whether the device existed.
* reads are strongly consistent: a push right after a registration must see it.

CloudFormation (copy into infra/)::

    DeviceTokensTable:
      Type: AWS::DynamoDB::Table
      DeletionPolicy: Retain          # tokens cannot be recreated; devices re-register slowly
      UpdateReplacePolicy: Retain
      Properties:
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - AttributeName: account
            AttributeType: S
          - AttributeName: device
            AttributeType: S
        KeySchema:
          - AttributeName: account
            KeyType: HASH
          - AttributeName: device
            KeyType: RANGE
        TimeToLiveSpecification:
          AttributeName: expires_at
          Enabled: true
        PointInTimeRecoverySpecification:
          PointInTimeRecoveryEnabled: true
        SSESpecification:
          SSEEnabled: true

    # IAM for the API function: dynamodb:PutItem, dynamodb:DeleteItem, dynamodb:Query
    # on !GetAtt DeviceTokensTable.Arn (no Scan, no index).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from ..errors import InvalidRequest, StorageUnavailable
from ..models import Platform
from .base import Device

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef

DEFAULT_TTL_DAYS = 180
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
_THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
# Every attribute goes through a placeholder: "token" and friends may be reserved words.
_NAMES = {
    "#account": "account",
    "#token": "token",
    "#updated_at": "updated_at",
    "#expires_at": "expires_at",
}
_DEVICE_FIELDS = ("app_id", "device_id", "platform", "token", "silent", "updated_at")


def sort_key(app_id: str, device_id: str) -> str:
    """The `device` sort key of one (app_id, device_id); a pure function of both."""
    key = f"{app_id}#{device_id}"
    if "#" in app_id or len(key.encode()) > MAX_SORT_KEY_BYTES:
        # Length prefix: unambiguous. No "#" in the result: never equal to a readable key.
        digest = hashlib.sha256(f"{len(app_id)}:{app_id}:{device_id}".encode()).hexdigest()
        return f"sha256:{digest}"
    return key


class DynamoTokenStore:
    """Device tokens in one DynamoDB table (design in the module docstring)."""

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        ttl_days: float = DEFAULT_TTL_DAYS,
        page_size: int | None = None,
    ) -> None:
        """`page_size`: items per Query page (default: DynamoDB's 1 MB pages)."""
        if ttl_days <= 0:
            raise ValueError(f"ttl_days must be positive, not {ttl_days}")
        self.table_name = table_name
        self.ttl_seconds = ttl_days * 86400
        self.page_size = page_size
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client, created on first use to keep boto3 out of the cold start of
        requests that never touch tokens."""
        if self._client is None:
            # The default session is not thread-safe to create clients from.
            with self._client_lock:
                if self._client is None:
                    self._client = default_client()
        return self._client

    def upsert(self, device: Device) -> None:
        _check_account(device.account)
        now = time.time()
        # 0.0 is the dataclass default, i.e. "not stamped by the caller".
        updated_at = device.updated_at or now
        item: dict[str, AttributeValueTypeDef] = {
            "account": {"S": device.account},
            "device": {"S": sort_key(device.app_id, device.device_id)},
            "app_id": {"S": device.app_id},
            "device_id": {"S": device.device_id},
            "platform": {"S": device.platform},
            "token": {"S": device.token},
            "silent": {"BOOL": device.silent},
            "updated_at": {"N": _number(updated_at)},
            "expires_at": {"N": str(int(now + self.ttl_seconds))},
        }
        if device.background_token is not None:
            item["background_token"] = {"S": device.background_token}
        if device.user_agent is not None:
            item["user_agent"] = {"S": device.user_agent}
        with self._errors("PutItem"):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression=(
                        "attribute_not_exists(#account) OR #updated_at <= :updated_at"
                        " OR #expires_at <= :now"
                    ),
                    ExpressionAttributeNames={
                        k: _NAMES[k] for k in ("#account", "#updated_at", "#expires_at")
                    },
                    ExpressionAttributeValues={
                        ":updated_at": {"N": _number(updated_at)},
                        ":now": {"N": str(int(now))},
                    },
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                # A newer registration of this device is stored: it wins.
                return

    def remove(self, account: str, app_id: str, device_id: str) -> bool:
        if not _fits(account):
            return False
        with self._errors("DeleteItem"):
            response = self.client.delete_item(
                TableName=self.table_name,
                Key=_key(account, app_id, device_id),
                ReturnValues="ALL_OLD",
            )
        return _live(response.get("Attributes"), time.time())

    def remove_if_token(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        if not _fits(account):
            return False
        with self._errors("DeleteItem"):
            try:
                response = self.client.delete_item(
                    TableName=self.table_name,
                    Key=_key(account, app_id, device_id),
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#token": _NAMES["#token"]},
                    ExpressionAttributeValues={":token": {"S": token}},
                    ReturnValues="ALL_OLD",
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                # Missing, or re-registered with another token since: keep it.
                return False
        return _live(response.get("Attributes"), time.time())

    def forget_background_if(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        if not _fits(account):
            return False
        with self._errors("UpdateItem"):
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=_key(account, app_id, device_id),
                    UpdateExpression="REMOVE #background",
                    ConditionExpression="#background = :token",
                    ExpressionAttributeNames={"#background": "background_token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                return False  # gone, or registered again with another token: keep it
        return True

    def devices(self, account: str) -> list[Device]:
        if not _fits(account):
            return []
        now = time.time()
        found: list[Device] = []
        params: QueryInputTypeDef = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#account = :account",
            # TTL deletion lags by days: expired items are still returned until then.
            "FilterExpression": "attribute_not_exists(#expires_at) OR #expires_at > :now",
            "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#account", "#expires_at")},
            "ExpressionAttributeValues": {
                ":account": {"S": account},
                ":now": {"N": str(int(now))},
            },
            "ConsistentRead": True,
        }
        if self.page_size is not None:
            params["Limit"] = self.page_size
        with self._errors("Query"):
            while True:
                page = self.client.query(**params)
                found.extend(_device(account, item) for item in page["Items"] if _complete(item))
                if "LastEvaluatedKey" not in page:
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # The sort key is not always readable (hashed form), so order here.
        found.sort(key=lambda device: (device.app_id, device.device_id))
        return found

    @contextlib.contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Turn every botocore failure into StorageUnavailable (HTTP 503)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in _THROTTLED:
                reason = f"DynamoDB throttled the {operation} request ({code}); retry later"
            elif code == "ResourceNotFoundException":
                reason = "the DynamoDB table does not exist"
            else:
                reason = f"DynamoDB {operation} failed ({code})"
            raise StorageUnavailable(f"Token storage is unavailable: {reason}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(
                f"Token storage is unavailable: cannot reach DynamoDB ({type(exc).__name__})"
            ) from exc


def default_client() -> DynamoDBClient:
    """A DynamoDB client from the default session; boto3 itself honours AWS_ENDPOINT_URL
    (and AWS_ENDPOINT_URL_DYNAMODB), so moto or DynamoDB Local need no code here."""
    import boto3
    from botocore.config import Config

    # Short timeouts and few retries: API Gateway gives up after 29 s anyway, and a 503
    # quickly is better than a timeout.
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    return boto3.client("dynamodb", config=config)


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the table as in the module docstring (PAY_PER_REQUEST, TTL on expires_at) and
    wait until it is usable. For tests and local tooling; production uses infra/."""
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "account", "AttributeType": "S"},
            {"AttributeName": "device", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "account", "KeyType": "HASH"},
            {"AttributeName": "device", "KeyType": "RANGE"},
        ],
    )
    # TTL can only be enabled on an ACTIVE table.
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )


def _key(account: str, app_id: str, device_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"account": {"S": account}, "device": {"S": sort_key(app_id, device_id)}}


def _fits(account: str) -> bool:
    return 0 < len(account.encode()) <= MAX_PARTITION_KEY_BYTES


def _check_account(account: str) -> None:
    if not _fits(account):
        raise InvalidRequest(
            f"account must be 1 to {MAX_PARTITION_KEY_BYTES} bytes long in UTF-8 to be stored"
        )


def _number(value: float) -> str:
    """A float as a DynamoDB number: repr round-trips exactly; 'f' avoids exponent form."""
    return format(Decimal(repr(value)), "f")


def _live(item: Mapping[str, AttributeValueTypeDef] | None, now: float) -> bool:
    """Whether a deleted item was one that devices() would have listed."""
    if not item:
        return False
    expires_at = item.get("expires_at")
    return expires_at is None or float(expires_at["N"]) > now


def _complete(item: Mapping[str, AttributeValueTypeDef]) -> bool:
    # Skip items written by other tools without our attributes instead of failing the
    # whole account's push.
    return all(name in item for name in _DEVICE_FIELDS)


def _device(account: str, item: Mapping[str, AttributeValueTypeDef]) -> Device:
    background_token = item.get("background_token")
    user_agent = item.get("user_agent")
    return Device(
        account=account,
        app_id=item["app_id"]["S"],
        device_id=item["device_id"]["S"],
        platform=cast(Platform, item["platform"]["S"]),
        token=item["token"]["S"],
        background_token=background_token["S"] if background_token is not None else None,
        silent=item["silent"]["BOOL"],
        user_agent=user_agent["S"] if user_agent is not None else None,
        updated_at=float(item["updated_at"]["N"]),
    )
