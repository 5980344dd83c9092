"""Property-based fuzz of the Lambda handler itself, driven with whole API Gateway and SQS
events (hypothesis): whatever arrives, an answer in the envelope, never a 5xx, never a
traceback in the log, and a batch response that names exactly the bad records."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import retry_pushes
from bench.lambda_events import LambdaContext
from chalicelib import api
from chalicelib.retry.base import RetryMessage
from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.gateway import gateway_event, invoke

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same cases on every run: a failure is reproducible in CI
    database=None,  # nothing written into the work tree
)
KEYS = [
    "app-id", "app_id", "platform", "event", "token", "device-id", "device_id", "call-id",
    "call_id", "from", "from-display-name", "from_display_name", "to", "media-type", "silent",
    "reason", "badge", "filename", "filetype", "account", "content", "content-type",
    "user-agent",
]  # fmt: skip
GOOD = {
    "app-id": st.sampled_from([SYLK, LINPHONE, "com.unknown"]),
    "platform": st.sampled_from(["ios", "android", "APNS", "fcm", "windows"]),
    "event": st.sampled_from(["incoming_session", "cancel", "message", "transfer", "x"]),
    "media-type": st.sampled_from(["audio", "video", "sms", "file-transfer", "fax"]),
    "token": st.sampled_from(["ab" * 32, "ab" * 32 + "-" + "cd" * 32, "ab#cd", "fcm:tok-1"]),
}
VALID = {
    "app-id": SYLK,
    "platform": "ios",
    "event": "incoming_session",
    "token": "ab" * 32,
    "device-id": "dev-1",
    "call-id": "fuzz-1",
    "from": "a@example.com",
    "to": "b@example.com",
    "media-type": "audio",
}
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "*/*",
    "",
    "json",
]
ROUTES = [
    ("POST", "/push", []),
    ("POST", "/v2/tokens/{account}", ["account"]),
    ("DELETE", "/v2/tokens/{account}", ["account"]),
    ("POST", "/v2/tokens/{account}/push", ["account"]),
    ("POST", "/v2/tokens/{account}/push/{device}", ["account", "device"]),
    ("GET", "/health", []),
    ("GET", "/", []),
    ("PUT", "/push", []),
]
PATH_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=5),  # control characters
    st.text(max_size=600),  # longer than an account may be
    st.sampled_from(["alice@example.com", "%1C", "a%2Fb", "%00", "..", "%", "%E9", " "]),
)


@st.composite
def bodies(draw: st.DrawFn) -> str | None:
    kind = draw(st.integers(0, 5))
    if kind == 0:  # a valid push with one key changed to any JSON value
        key = draw(st.sampled_from(KEYS))
        return json.dumps({**VALID, key: draw(GOOD.get(key, JSON))})
    if kind == 1:  # any JSON value in any field
        fields = draw(st.dictionaries(st.sampled_from(KEYS), JSON | st.one_of(*GOOD.values())))
        return json.dumps(fields)
    if kind == 2:  # nested deeper than any parser's guard
        depth = draw(st.integers(1, 5000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return opener * depth + "1" + closer * depth
    if kind == 3:
        return json.dumps(draw(JSON))
    if kind == 4:
        return None
    return draw(st.text(max_size=200))


@st.composite
def api_events(draw: st.DrawFn) -> dict[str, Any]:
    method, resource, names = draw(st.sampled_from(ROUTES))
    params = {name: draw(PATH_TEXT) for name in names}
    path = resource
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    headers: dict[str, str] = {}
    content_type = draw(st.sampled_from([*CONTENT_TYPES, None]))
    if content_type is not None:
        header = draw(st.sampled_from(["content-type", "Content-Type", "CONTENT-TYPE"]))
        headers[header] = content_type
    if draw(st.booleans()):
        headers["x-api-key"] = draw(st.text(max_size=10))
    body = draw(bodies())
    event = gateway_event(method, resource, path, body, headers, params or None)
    if body is not None and draw(st.integers(0, 9)) == 0:
        event["body"] = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    return event


@pytest.fixture
def configured(
    config_dir: Path, apns: FakeApns, fcm: FakeFcm, idempotency_table: str
) -> Iterator[None]:
    api.reset_runtime(settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table))
    yield


def assert_no_traceback(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    caplog.clear()


@FUZZ
@given(event=api_events())
def test_any_api_gateway_event_gets_the_envelope_and_never_a_5xx(
    configured: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    event: dict[str, Any],
) -> None:
    status, answer = invoke(event)
    assert status < 500, (event, answer)
    assert set(answer) == {"code", "description", "data"}, answer
    assert answer["code"] == status
    assert isinstance(answer["description"], str) and answer["description"]
    assert_no_traceback(caplog, capsys)


def retry_message(call_id: str) -> str:
    request = {**VALID, "call-id": call_id, "platform": "apple"}
    return RetryMessage(call_id, SYLK, "apple", request, time.time() + 60, 2).to_json()


MALFORMED_BODIES = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=50).filter(lambda t: not t.strip().startswith("{")),
    st.builds(json.dumps, JSON).filter(lambda t: not t.startswith("{")),
    st.builds(json.dumps, st.dictionaries(st.text(max_size=5), JSON, max_size=3)),
    st.sampled_from(['{"push_id": 1}', "[" * 3000 + "]" * 3000]),
)


@st.composite
def sqs_batches(draw: st.DrawFn) -> tuple[list[Any], set[str], int]:
    """(records, the messageIds that must be reported, how many good messages)."""
    records: list[Any] = []
    bad: set[str] = set()
    good = 0
    for index in range(draw(st.integers(0, 8))):
        message_id = f"m-{index}"
        kind = draw(st.integers(0, 3))
        if kind == 0:
            good += 1
            call_id = f"fuzz-{uuid.uuid4()}"  # new each time: the idempotency store remembers
            records.append({"messageId": message_id, "body": retry_message(call_id)})
        elif kind == 1:
            bad.add(message_id)
            record = {"messageId": message_id, "body": draw(MALFORMED_BODIES)}
            if record["body"] is None and draw(st.booleans()):
                del record["body"]
            records.append(record)
        elif kind == 2:  # cannot be named: logged and skipped, never fails the batch
            unnamed: dict[str, Any] = {"body": draw(MALFORMED_BODIES)}
            message_id_value = draw(st.sampled_from(["absent", None, 7, ""]))
            if message_id_value != "absent":
                unnamed["messageId"] = message_id_value
            records.append(unnamed)
        else:
            records.append(draw(st.sampled_from(["record", 3, None, []])))
    return records, bad, good


@FUZZ
@given(batch=sqs_batches())
def test_an_sqs_batch_names_exactly_its_bad_records(
    configured: None,
    apns: FakeApns,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    batch: tuple[list[Any], set[str], int],
) -> None:
    records, bad, good = batch
    apns.reset()
    answer = retry_pushes({"Records": records}, LambdaContext())
    assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} == bad
    assert len(answer["batchItemFailures"]) == len(bad)
    assert len(apns.received) == good
    assert_no_traceback(caplog, capsys)
