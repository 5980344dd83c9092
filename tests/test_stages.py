"""Two stages in one account and region: the packaged templates of dev and prod name no
physical resource alike, each function reads its own stage's queue, and each stage's IAM
policies reach only that stage's resources."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import Settings, retry_queue_name

NAMED = {"TableName", "QueueName", "AlarmName", "TopicName", "FunctionName", "RoleName"}


def package(
    stage: str, out: Path, config_dir: Path = Path("config"), project_dir: Path = Path(".")
) -> dict[str, Any]:
    """What `make package STAGE=... DEPLOY_CONFIG_DIR=...` builds, without the bytecode."""
    merged, policy = out / f"merge-{stage}.json", out / f"policy-{stage}.json"
    fragments = sorted(str(p) for p in Path("infra").glob("*.json"))
    tool = [sys.executable, "-m", "tools.resource_policy", "--config-dir", str(config_dir)]
    subprocess.run([*tool, "--out", str(policy)], check=True)
    merge = [sys.executable, "-m", "tools.merge_templates", "--stage", stage, "--out", str(merged)]
    subprocess.run([*merge, *fragments, str(policy)], check=True)
    chalice = Path(sys.executable).parent / "chalice"
    env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1"}
    args = ["package", "--stage", stage, "--merge-template", str(merged.resolve())]
    args += [str((out / stage).resolve())]
    subprocess.run(
        [chalice, "--project-dir", str(project_dir), *args],
        check=True,
        env=env,
        capture_output=True,
    )
    return dict(json.loads((out / stage / "sam.json").read_text()))


def resolve(value: Any, stage: str) -> str:
    """A physical name with the Stage parameter filled in (other references left as written)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    return str(value).replace("${Stage}", stage)


def physical_names(template: dict[str, Any]) -> dict[str, str]:
    stage = template["Parameters"]["Stage"]["Default"]
    return {
        f"{logical}.{key}": resolve(value, stage)
        for logical, resource in template["Resources"].items()
        for key, value in resource.get("Properties", {}).items()
        # a Ref names a resource CloudFormation names (unique per stack)
        if key in NAMED and not (isinstance(value, dict) and "Ref" in value)
    }


def policy_resources(template: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                listed = statement["Resource"]
                found += listed if isinstance(listed, list) else [listed]
    return found


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("package")
    return {stage: package(stage, out) for stage in ("dev", "prod")}


def test_dev_and_prod_name_nothing_alike(templates: dict[str, dict[str, Any]]) -> None:
    dev, prod = (physical_names(templates[s]) for s in ("dev", "prod"))
    assert {"TokensTable.TableName", "RetryQueue.QueueName", "DeadLetterAlarm.AlarmName"} <= set(
        dev
    )
    assert set(dev.values()).isdisjoint(prod.values())
    for stage, names in (("dev", dev), ("prod", prod)):
        assert all(f"-{stage}-" in name for name in names.values()), names


def test_each_stage_reads_its_own_queue(templates: dict[str, dict[str, Any]]) -> None:
    for stage, template in templates.items():
        resources = template["Resources"]
        event = resources["RetryPushes"]["Properties"]["Events"]["RetryPushesSqsEventSource"]
        queue_arn = event["Properties"]["Queue"]["Fn::Sub"]
        queue_name = resolve(resources["RetryQueue"]["Properties"]["QueueName"], stage)
        assert queue_name == retry_queue_name(stage)
        assert queue_arn.endswith(f":{queue_name}")
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_each_stage_policy_reaches_only_its_stage(templates: dict[str, dict[str, Any]]) -> None:
    for stage, template in templates.items():
        resources = policy_resources(template)
        assert resources
        for arn in resources:
            # the stage, then a separator: "dev" must not reach "devx" resources
            assert re.search(rf"rtc-pushserver[-/]{stage}([-/:]|$)", arn), arn
        names = physical_names(template).values()
        for name in names:
            if name.endswith(("-tokens", "-retries")):
                assert any(arn.endswith((f":{name}", f"/{name}")) for arn in resources)


def throttling(template: dict[str, Any]) -> tuple[Any, Any]:
    stage = template["Parameters"]["Stage"]["Default"]
    settings = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"][0]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    values = []
    for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        table, by, name = settings[key]["Fn::FindInMap"]
        assert by == {"Ref": "Stage"}
        values.append(template["Mappings"][table][stage][name])
    return values[0], values[1]


def test_each_stage_is_throttled_at_the_gateway(templates: dict[str, dict[str, Any]]) -> None:
    dev, prod = throttling(templates["dev"]), throttling(templates["prod"])
    assert all(isinstance(v, int) and v > 0 for v in (*dev, *prod))
    assert dev != prod
    # the sample config sets no allowed_hosts: no resource policy
    body = templates["prod"]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert "x-amazon-apigateway-policy" not in body


def test_allowed_hosts_become_the_api_resource_policy(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "general.ini").write_text("[server]\nallowed_hosts = 10.0.0.0/8, 192.0.2.7\n")
    template = package("dev", tmp_path, config)
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    allow, deny = body["x-amazon-apigateway-policy"]["Statement"]
    assert (allow["Effect"], allow["Resource"]) == ("Allow", "execute-api:/*")
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.7/32"]}}


def test_every_function_starts_with_the_settings_its_stage_gives_it(
    templates: dict[str, dict[str, Any]],
) -> None:
    """Each function (API, retry consumer, daily credential check) gets every variable the
    fail-fast settings require; a Ref stands for the name CloudFormation fills in."""
    for template in templates.values():
        functions = {
            name: resource
            for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
        }
        assert {"APIHandler", "RetryPushes", "CheckCredentials"} <= set(functions)
        for name, function in functions.items():
            variables = function["Properties"]["Environment"]["Variables"]
            env = {
                key: value if isinstance(value, str) else f"resolved-{key.lower()}"
                for key, value in variables.items()
            }
            env["AWS_LAMBDA_FUNCTION_NAME"] = name
            Settings.from_env(env)  # raises SettingsError naming what is missing


def test_gateway_api_keys_guard_every_route_and_make_a_usage_plan(tmp_path: Path) -> None:
    from tools.deploy_stack import stage_parameters

    project = tmp_path / "project"
    project.mkdir()
    for name in ("app.py", "requirements.txt"):
        shutil.copy(name, project / name)
    for name in ("chalicelib", ".chalice", "infra"):
        shutil.copytree(name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = project / ".chalice" / "config.json"
    document = json.loads(config.read_text())
    document["stages"]["dev"]["environment_variables"]["API_GATEWAY_KEYS"] = "true"
    config.write_text(json.dumps(document))
    assert stage_parameters(config, "dev") == {"ApiGatewayKeys": "true"}
    assert stage_parameters(Path(".chalice/config.json"), "dev") == {"ApiGatewayKeys": "false"}

    template = package("dev", tmp_path, project_dir=project)
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["securityDefinitions"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    methods = [m for path in body["paths"].values() for m in path.values()]
    assert methods and all(m.get("security") == [{"api_key": []}] for m in methods)
    plan = template["Resources"]["UsagePlan"]
    assert (plan["Condition"], plan["Properties"]["Quota"]["Period"]) == ("GatewayKeys", "DAY")
    assert template["Resources"]["FirstApiKeyInPlan"]["Properties"]["UsagePlanId"] == {
        "Ref": "UsagePlan"
    }
