"""`pushclient trace`: the story of a push retried twice, from the local JSON log of a real
run, and from moto's CloudWatch Logs (which runs start_query / get_query_results but neither
filters nor reads JSON fields: the tool keeps the call's lines itself)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.fake_apns import FakeApns, Reply
from fakepns.server_config import SYLK, settings_for
from tests.helpers import call, read_lines
from tests.test_observability import template
from tests.test_push_v1 import VOIP_TOKEN, body
from tools import pushtrace
from tools.pushclient import main

CALL = "trace-1@example.com"


@pytest.fixture
def retried_twice(config_dir: Path, apns: FakeApns, log_file: Path) -> Path:
    """The log file of a push answered 503, then 500, then delivered."""
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.05"))
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"), Reply(500, "InternalServerError"))
    with Client(app) as client:
        status, _ = call(
            client, "POST", "/push", body(SYLK, "ios", "incoming_session", **{"call-id": CALL})
        )
    assert status == 202
    end = time.monotonic() + 10
    while not any(line["message"] == "push delivered" for line in read_lines(log_file)):
        assert time.monotonic() < end
        time.sleep(0.05)
    return log_file


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(argv)
    return code, capsys.readouterr().out.splitlines()


def assert_story(out: list[str]) -> None:
    assert out[0].startswith(f"call {CALL}  app_id={SYLK}  platform=apple")
    steps = [line.split("  ", 2)[-1].strip() for line in out[1:-1]]
    assert [s.split(",")[0].split(" (")[0] for s in steps] == [
        "#1  retry",
        "#1  attempt 2 queued",
        "#2  retry",
        "#2  attempt 3 queued",
        "#3  delivered",
    ]
    assert "PNS 503: ServiceUnavailable" in steps[0]
    assert "PNS 500: InternalServerError" in steps[2]
    assert out[-1] == "outcome: delivered at attempt 3 (2 retries)"


def test_trace_tells_the_story_from_the_local_log(
    retried_twice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(["trace", CALL, "--log-file", str(retried_twice)], capsys)
    assert code == 0
    assert_story(out)


def test_trace_of_an_unknown_call_or_an_old_one_finds_nothing(
    retried_twice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["trace", "other", "--log-file", str(retried_twice)], capsys)[0] == 1
    old = tmp_path / "old.jsonl"
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    stamp = two_hours_ago.strftime(pushtrace.TIMESTAMP_FORMAT)
    lines = [{**line, "timestamp": stamp} for line in read_lines(retried_twice)]
    old.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run(["trace", CALL, "--log-file", str(old), "--since", "1h"], capsys)[0] == 1
    assert run(["trace", CALL, "--log-file", str(old), "--since", "3h"], capsys)[0] == 0
    assert run(["trace", CALL, "--log-file", str(tmp_path / "none")], capsys)[0] == 2


def test_trace_runs_the_query_through_cloudwatch_logs(
    retried_twice: Path, moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    logs = boto3.client("logs")
    api_group, retry_group = pushtrace.log_groups("moto")
    for group in (api_group, retry_group):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    for n, raw in enumerate(retried_twice.read_text().splitlines()):
        line = json.loads(raw)
        group = api_group if line.get("attempt") == 1 else retry_group
        event = {"timestamp": now - 1000 + n, "message": raw}  # in the order they were written
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[event])
    other = {"timestamp": now, "message": json.dumps({"message": "push delivered", "call_id": "x"})}
    logs.put_log_events(logGroupName=api_group, logStreamName="s", logEvents=[other])
    code, out = run(["trace", CALL, "--stage", "moto"], capsys)
    assert code == 0
    assert_story([line.replace("api          ", "").replace("retry_pushes ", "") for line in out])
    functions = [line.split()[1] for line in out[1:-1]]
    assert functions == ["api", "api", "retry_pushes", "retry_pushes", "retry_pushes"]


def test_the_trace_query_is_the_saved_one_over_the_saved_log_groups() -> None:
    resources = template()["Resources"]
    saved = resources["CallTraceQuery"]["Properties"]
    assert saved["QueryString"] == pushtrace.TRACE_QUERY
    names = {
        resources[ref["Ref"]]["Properties"]["LogGroupName"]["Fn::Sub"].replace("${Stage}", "prod")
        for ref in saved["LogGroupNames"]
    }
    assert set(pushtrace.log_groups("prod")) <= names


def test_a_call_id_cannot_break_out_of_the_query_string() -> None:
    query = pushtrace.trace_query('a" or call_id like /./ or "\\')
    assert 'filter call_id = "a\\" or call_id like /./ or \\"\\\\"' in query
