"""X-Ray tracing per stage: off by default and then not even imported; on, every push is a
subsegment annotated with call_id, app_id and outcome, received here by a UDP listener
standing in for the X-Ray daemon (the SDK's own wire format, over the real socket)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from fakepns.fake_apns import FakeApns
from fakepns.server_config import SYLK
from tests.test_push_v1 import body

ROOT = Path(__file__).resolve().parent.parent
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PUSH = """
import json, sys
from chalice.test import Client
from app import app
with Client(app, stage_name="local") as client:
    answer = client.http.post(
        "/push", headers={"Content-Type": "application/json"}, body=sys.argv[1]
    )
print(json.dumps({"status": answer.status_code,
                  "xray": "aws_xray_sdk" in sys.modules}))
"""


def push_in_a_process(config_dir: Path, request: dict[str, Any], **env: str) -> dict[str, Any]:
    environment = {
        **os.environ,
        "CONFIG_DIR": str(config_dir),
        "DATA_DIR": str(config_dir.parent / "data"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PUSH, json.dumps(request)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 200, done.stderr[-3000:]
    return result


def test_tracing_is_off_by_default_and_never_imports_the_xray_sdk(
    config_dir: Path, apns: FakeApns
) -> None:
    result = push_in_a_process(config_dir, body(SYLK, "ios", "incoming_session"))
    assert result == {"status": 200, "xray": False}


def test_tracing_on_sends_an_annotated_subsegment_per_push(
    config_dir: Path, apns: FakeApns
) -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    port = daemon.getsockname()[1]
    try:
        result = push_in_a_process(
            config_dir,
            body(SYLK, "ios", "incoming_session", **{"call-id": "traced-1"}),
            POWERTOOLS_TRACE_DISABLED="false",
            LAMBDA_TASK_ROOT=str(ROOT),  # the SDK takes the Lambda facade segment, as in AWS
            _X_AMZN_TRACE_ID=f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}",
        )
        assert result == {"status": 200, "xray": True}
        documents = []
        daemon.settimeout(1)
        while True:
            try:
                packet = daemon.recv(65536).decode()
            except TimeoutError:
                break
            header, document = packet.split("\n", 1)
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(document))
    finally:
        daemon.close()
    by_name = {d["name"]: d for d in documents}
    assert {"## deliver", "## push"} <= set(by_name)
    push = by_name["## push"]
    assert push["trace_id"] == TRACE_ID
    assert push["annotations"] == {
        "call_id": "traced-1",
        "app_id": SYLK,
        "platform": "apple",
        "attempt": 1,
        "outcome": "delivered",
    }


def test_each_function_is_traced_only_when_the_stage_names_a_tracing_layer() -> None:
    from tests.test_observability import template

    merged = template()
    assert merged["Parameters"]["TracingLayerArn"]["Default"] == ""
    assert merged["Conditions"]["TracingOn"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TracingLayerArn"}, ""]}]
    }
    for function in ("APIHandler", "RetryPushes", "CheckCredentials"):
        properties = merged["Resources"][function]["Properties"]
        assert properties["Tracing"] == {"Fn::If": ["TracingOn", "Active", "PassThrough"]}
        variables = properties["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingOn", "false", "true"]}
