"""The saved queries, the dashboard and the alarms read what the code really writes.

One run against the local fakes (a push retried twice, a dead token, a rejection, an expired
push, a failing retry, a refused service account, the daily certificate check) writes the
JSON log file and the EMF metrics; every field and message a saved query names, and every
metric the dashboard and the alarms read, must be found there. A renamed log field or metric
fails here instead of silently emptying a query or a graph in CloudWatch.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import api, credentials
from chalicelib.retry.base import RetryMessage
from fakepns.credentials import TestCredentials, make_credentials, write_service_account
from fakepns.fake_apns import FakeApns, Reply
from fakepns.fake_fcm import FakeFcm
from fakepns.fcm_errors import Reply as FcmReply
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call, read_lines
from tests.test_push_v1 import FCM_TOKEN, VOIP_TOKEN, body
from tools.merge_templates import merge

ROOT = Path(__file__).resolve().parent.parent
CALL_PLACEHOLDER = "CALL-ID"  # what pushclient trace replaces in the call-trace query
KEYWORDS = {
    "fields", "filter", "stats", "sort", "limit", "by", "as", "asc", "desc", "and", "or",
    "not", "in", "like", "display", "parse", "dedup",
}  # fmt: skip


def template() -> dict[str, Any]:
    fragments = {p.name: json.loads(p.read_text()) for p in sorted(ROOT.glob("infra/*.json"))}
    return merge(fragments, "prod")


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template()["Resources"].items() if v.get("Type") == kind}


def query_fields(query: str) -> set[str]:
    """Log fields a Logs Insights query reads: not keywords, functions, aliases, literals,
    durations or the @ fields CloudWatch adds itself."""
    text = re.sub(r'"[^"]*"|/[^/]*/', " ", query)
    aliases = set(re.findall(r"\bas\s+(\w+)", text))
    names = re.findall(r"(?<![\w@])([A-Za-z_]\w*)\b(?!\s*\()", text)
    return {n for n in names if n not in KEYWORDS | aliases}


def query_literals(query: str) -> dict[str, set[str]]:
    """field -> the string values the query compares it with (`=` or `in [...]`)."""
    found: dict[str, set[str]] = {}
    for field, single, several in re.findall(r'(\w+)\s*(?:=\s*"([^"]*)"|in\s*\[([^\]]*)\])', query):
        values = {single} if single else set(re.findall(r'"([^"]*)"', several))
        found.setdefault(field, set()).update(values)
    return found


def emf_documents(*texts: str) -> list[dict[str, Any]]:
    documents = []
    for text in texts:
        for line in text.splitlines():
            document = json.loads(line) if line.startswith("{") else {}
            if isinstance(document, dict) and "_aws" in document:
                documents.append(document)
    return documents


def stranger_account(config_dir: Path, tmp_path: Path, fcm: FakeFcm) -> None:
    """The FCM apps' service account, signed with a key Google does not know."""
    stranger = make_credentials(tmp_path / "stranger")
    path = write_service_account(
        stranger, config_dir.parent / "service-account.json", fcm.token_uri
    )
    credentials.forget(str(path))  # as if the 5-minute cache of the file had run out


def wait_for(log_file: Path, message: str, count: int = 1) -> None:
    end = time.monotonic() + 10
    while sum(line["message"] == message for line in read_lines(log_file)) < count:
        assert time.monotonic() < end, f"{message!r} not logged in time"
        time.sleep(0.05)


@pytest.fixture
def captured(
    config_dir: Path,
    creds: TestCredentials,
    apns: FakeApns,
    fcm: FakeFcm,
    tmp_path: Path,
    log_file: Path,
    idempotency_table: str,
    capsys: pytest.CaptureFixture[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(log lines, EMF documents) of a run covering every outcome."""
    ini = config_dir / "applications.ini"
    ini.write_text(ini.read_text().replace("[linphone-ios]", "[linphone-ios]\ncall_deadline = 2"))
    api.reset_runtime(settings_for(config_dir, RETRY_DELAY_SCALE="0.05"))
    apns.script(VOIP_TOKEN, Reply(503, "ServiceUnavailable"), Reply(500, "InternalServerError"))
    with Client(app) as client:
        retried = body(SYLK, "ios", "incoming_session", **{"call-id": "retried"})
        assert call(client, "POST", "/push", retried)[0] == 202
        wait_for(log_file, "push delivered")
        apns.script(VOIP_TOKEN, *[Reply(503, "ServiceUnavailable")] * 500)
        expiring = body(LINPHONE, "ios", None, **{"call-id": "expiring"})
        assert call(client, "POST", "/push", expiring)[0] == 202
        wait_for(log_file, "push expired")
        apns.reset()
        apns.script(VOIP_TOKEN, Reply(400, "BadTopic"))
        rejected = body(SYLK, "ios", "incoming_session", **{"call-id": "rejected"})
        assert call(client, "POST", "/push", rejected)[0] == 400
        device = {"app-id": SYLK, "platform": "android", "token": FCM_TOKEN, "device-id": "d1"}
        assert call(client, "POST", "/v2/tokens/alice@example.com", device)[0] == 200
        fcm.script(FCM_TOKEN, FcmReply.unregistered())
        push = {
            "call-id": "dead",
            "event": "incoming_session",
            "media-type": "audio",
            "from": "bob@example.com",
            "to": "alice@example.com",
        }
        _, answer = call(client, "POST", "/v2/tokens/alice@example.com/push", push)
        assert [result["code"] for result in answer["data"]] == [410]
    broken = RetryMessage(
        "p", SYLK, "apple", {**retried, "event": "nonsense"}, time.time() + 60, 2, None, "r"
    )
    api.current_runtime().retry_queue.enqueue(broken, 0)
    wait_for(log_file, "retry handler failed")
    api.reset_runtime(settings_for(config_dir, IDEMPOTENCY_TABLE=idempotency_table))
    poison = {"messageId": "m-1", "receiptHandle": "r", "body": "{not a retry"}
    with Client(app) as client:
        client.lambda_.invoke("retry_pushes", {"Records": [poison]})
    stranger_account(config_dir, tmp_path, fcm)
    api.reset_runtime(settings_for(config_dir))
    api.check_credentials()
    lines = read_lines(log_file)
    return lines, emf_documents(capsys.readouterr().out, log_file.read_text())


def test_every_saved_query_reads_fields_and_messages_the_code_writes(
    captured: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    lines, _ = captured
    queries = of_type("AWS::Logs::QueryDefinition")
    assert len(queries) >= 6
    for name, resource in queries.items():
        query = resource["Properties"]["QueryString"]
        relevant = lines
        for field, values in query_literals(query).items():
            if field == "call_id":
                assert values == {CALL_PLACEHOLDER}, name
                continue
            written = {line.get(field) for line in lines}
            assert values <= written, f"{name}: {field} never {values - written}"
            relevant = [line for line in relevant if line.get(field) in values]
        for field in query_fields(query):
            assert any(field in line for line in relevant), (
                name,
                field,
                [r["message"] for r in relevant],
            )


def test_the_call_trace_query_follows_one_push_through_its_retries(
    captured: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    lines, _ = captured
    story = [line for line in lines if line.get("call_id") == "retried"]
    assert [line.get("attempt") for line in story if line["message"].startswith("push ")] == [
        1,
        2,
        3,
    ]
    assert all(line.get("request_id") and line.get("app_id") for line in story)


def test_dashboard_and_alarms_read_metrics_the_code_emits(
    captured: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _, documents = captured
    emitted = {
        metric["Name"]
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    [dashboard] = of_type("AWS::CloudWatch::Dashboard").values()
    body, _ = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    searched = set(re.findall(r'MetricName=\\?"(\w+)\\?"', json.dumps(widgets)))
    # an alarm reads one dimension set exactly: the stage-wide one, (service) alone
    stage_wide = {
        metric["Name"]
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        if ["service"] in directive["Dimensions"]
        for metric in directive["Metrics"]
    }
    alarmed = set()
    for metric in alarm_metrics():
        if "RtcPushserver" in json.dumps(metric.get("Namespace", "")):
            assert metric["Dimensions"] == [{"Name": "service", "Value": "pushserver"}]
            alarmed.add(metric["MetricName"])
    assert searched and alarmed
    assert searched <= emitted, searched - emitted
    assert alarmed <= stage_wide, alarmed - stage_wide


def alarm_metrics() -> list[dict[str, Any]]:
    """Namespace, MetricName and Dimensions of every metric an alarm reads (metric math too)."""
    metrics = []
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if "MetricName" in properties:
            metrics.append(properties)
        for query in properties.get("Metrics", []):
            if "MetricStat" in query:
                metrics.append(query["MetricStat"]["Metric"])
    return metrics


def test_each_stage_emits_into_the_namespace_its_dashboard_and_alarms_read() -> None:
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    for stage in ("dev", "prod"):
        namespace = stages[stage]["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        assert namespace == f"RtcPushserver/{stage}"
    for metric in alarm_metrics():
        if isinstance(metric["Namespace"], dict):
            assert metric["Namespace"] == {"Fn::Sub": "RtcPushserver/${Stage}"}


def test_every_alarm_notifies_the_stage_topic() -> None:
    resources = template()["Resources"]
    alarms = {k: v for k, v in resources.items() if v.get("Type") == "AWS::CloudWatch::Alarm"}
    assert {"DeadLetterAlarm", "ExpiredPushesAlarm", "Api5xxAlarm", "RetryErrorsAlarm"} <= set(
        alarms
    )
    assert {"RetryQueueAgeAlarm", "CertificateExpiryAlarm", "CredentialsRefusedAlarm"} <= set(
        alarms
    )
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_log_groups_keep_logs_for_the_retention_parameter() -> None:
    merged = template()
    groups = {
        k: v for k, v in merged["Resources"].items() if v.get("Type") == "AWS::Logs::LogGroup"
    }
    assert len(groups) == 3
    assert merged["Parameters"]["LogRetentionDays"]["Default"] == 30
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for function in ("APIHandler", "RetryPushes", "CheckCredentials"):
        logging_config = merged["Resources"][function]["Properties"]["LoggingConfig"]
        assert logging_config["LogFormat"] == "JSON"
        assert logging_config["LogGroup"]["Ref"] in groups
