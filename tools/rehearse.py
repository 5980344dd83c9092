"""Rehearse both deploy paths against moto in server mode, checking what exists after each
step; every step moto cannot do is said in the output, with what was rehearsed instead.

- `make deploy` (the packaged stack of the stage `make package` built): create, update,
  rollback, delete.
- `make infra` + `chalice deploy` (the other of dev and prod, beside it in the same account):
  data stack, chalice deploy, deploy again, delete.

Expectations come from the project, not from what was deployed: handler, memory, timeout
and environment from .chalice/config.json, each role's policy from its .chalice policy file,
the queue and table names from the stage, the batch size from app.py.

    python -m tools.rehearse --sam-python .venv-iac/bin/python    (make deploy-rehearsal)
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import APP_NAME, retry_queue_name
from tools.deploy_stack import PACKAGE_DIR, Deployer, stack_name

PROJECT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
BUCKET = "rtc-pushserver-rehearsal-artifacts"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# What moto's CloudFormation cannot create; the rehearsal leaves them out and says so.
API_DEPLOYMENT_TYPES = ("AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage")


@dataclass(frozen=True)
class Function:
    """One Chalice function of a stage as .chalice/config.json and app.py define it."""

    name: str  # the Chalice name: api_handler, retry_pushes, ...
    handler: str
    memory: int
    timeout: int
    env: dict[str, str]
    policy: dict[str, Any]

    @property
    def logical_id(self) -> str:
        """Its id in the packaged template."""
        if self.name == "api_handler":
            return "APIHandler"
        return "".join(part.capitalize() for part in self.name.split("_"))

    def deployed_name(self, stage: str) -> str:
        """Its name after `chalice deploy`."""
        base = f"{APP_NAME}-{stage}"
        return base if self.name == "api_handler" else f"{base}-{self.name}"


def functions(stage: str, config: Path) -> list[Function]:
    """Every function of the stage, its settings resolved by Chalice's own Config (top level,
    stage and per-function entries, in Chalice's order)."""
    from chalice.config import Config

    document = json.loads(config.read_text())
    names = ["api_handler", *document.get("lambda_functions", {})]
    names += [n for n in document["stages"][stage].get("lambda_functions", {}) if n not in names]
    found = []
    for name in names:
        scoped = Config(chalice_stage=stage, function_name=name, config_from_disk=document)
        found.append(
            Function(
                name=name,
                handler="app.app" if name == "api_handler" else f"app.{name}",
                memory=scoped.lambda_memory_size,
                timeout=scoped.lambda_timeout,
                env=dict(scoped.environment_variables),
                policy=json.loads((config.parent / scoped.iam_policy_file).read_text()),
            )
        )
    return found


class Report:
    """Lines of the rehearsal; a failed check makes the exit code 1."""

    def __init__(self) -> None:
        self.failed = 0

    def check(self, passed: bool, what: str, detail: Any = "") -> bool:
        if passed:
            print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {what}: {detail}")
        return passed

    def gap(self, what: str) -> None:
        print(f"  GAP   {what}")

    def step(self, what: str) -> None:
        print(f"- {what}")


class Rehearsal:
    def __init__(self, sam_python: str, report: Report) -> None:
        import boto3

        self.sam_python = sam_python
        self.report = report
        self.boto3 = boto3
        self.cfn = boto3.client("cloudformation")
        self.s3 = boto3.client("s3")
        self.lambda_ = boto3.client("lambda")
        self.iam = boto3.client("iam")
        self.sqs = boto3.client("sqs")
        self.dynamodb = boto3.client("dynamodb")
        self.apigateway = boto3.client("apigateway")
        self.s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        self.left_out: dict[str, Any] = {}  # resources moto's CloudFormation cannot create
        self.mappings: dict[str, Any] = {}

    # --- make deploy ------------------------------------------------------------------------
    def packaged(self, stage: str) -> None:
        report = self.report
        deployer = Deployer(stage, BUCKET, self.cfn, self.s3, poll_seconds=0.2)
        expected = functions(stage, PROJECT / ".chalice" / "config.json")
        report.step(f"make deploy STAGE={stage}: create")
        report.gap(
            "moto has no SAM transform: the template is expanded locally by aws-sam-translator,"
            " the library of AWS's own transform"
        )
        report.gap(
            "moto's CloudFormation does not import a REST API body, so the API's deployment and"
            " stage are left out of the stack; the API's routes and integrations are made from"
            " the same document through API Gateway calls instead"
        )
        report.gap(
            "moto creates an event source mapping before the queue the function's Ref waits"
            " for: the mapping is given an explicit DependsOn on the queues"
        )
        report.gap(
            "moto's CloudFormation answers 500 to the HTTP API front door (infra/http-api.json):"
            " the stack is rehearsed with the REST API as its front door (StageFrontDoor rest);"
            " tests/test_http_api.py drives the function with HTTP API events instead"
        )
        outputs = deployer.deploy(render=self._for_moto)
        self._unsupported(stack_name(stage))
        api_id = outputs.get("RestAPIId", "")
        self._routes_from_document(api_id, stage)
        self._check_stack(stage, expected, outputs, packaged=True)

        report.step(f"make deploy STAGE={stage} again: an update (API memory 256 -> 512 MB)")
        bigger = self._with_api_memory(512)
        deployer.deploy(render=lambda t: self._for_moto(bigger(t)))
        api = self._physical(stack_name(stage), "APIHandler")
        memory = self.lambda_.get_function_configuration(FunctionName=api)["MemorySize"]
        report.check(memory == 512, "update applied: the API function has 512 MB", memory)
        previous = json.loads((Path(".run/deploy") / stage / "previous.json").read_text())
        kept = previous["template"]["Resources"]["APIHandler"]["Properties"]["MemorySize"]
        report.check(kept == expected[0].memory, "the replaced template is kept for rollback", kept)

        report.step(f"make rollback STAGE={stage} (what CI runs when the smoke test fails)")
        report.gap("moto cannot invoke functions: the smoke test itself runs against chalice local")
        deployer.rollback()
        memory = self.lambda_.get_function_configuration(FunctionName=api)["MemorySize"]
        report.check(
            memory == expected[0].memory, "rolled back: the API function is as before", memory
        )

        report.step(f"make delete STAGE={stage}")
        deployer.delete()
        self._check_gone(stage, expected)

    # --- make infra + chalice deploy --------------------------------------------------------
    def chalice(self, stage: str) -> None:
        report = self.report
        with _project_copy() as project:
            config = project / ".chalice" / "config.json"
            deployer = Deployer(stage, BUCKET, self.cfn, self.s3, poll_seconds=0.2)
            report.step(f"make infra STAGE={stage}: the data stack, its outputs into the stage")
            outputs = deployer.infra(config=config)
            self._unsupported(stack_name(stage, data=True))
            env = json.loads(config.read_text())["stages"][stage]["environment_variables"]
            report.check(
                env.get("TOKENS_TABLE") == f"{APP_NAME}-{stage}-tokens"
                and env.get("IDEMPOTENCY_TABLE") == f"{APP_NAME}-{stage}-idempotency"
                and env.get("RETRY_QUEUE_URL", "").endswith(f"/{retry_queue_name(stage)}"),
                "the data stack's outputs are the stage's environment",
                env,
            )
            self._check_data(stage)
            expected = functions(stage, config)
            for attempt in ("create", "update"):
                report.step(f"chalice deploy --stage {stage}: {attempt}")
                self._chalice_deploy(project, stage)
                self._check_functions(stage, expected, packaged=False, again=attempt == "update")
            report.step(f"chalice delete --stage {stage}, then the data stack")
            report.gap(
                "chalice delete needs .chalice/deployed/, which chalice deploy writes only when"
                " the REST API import succeeds: the functions, roles and mapping it made are"
                " deleted by name instead"
            )
            self._delete_chalice_resources(stage, expected)
            deployer.delete(stack_name(stage, data=True))
            self._check_gone(stage, expected)
            del outputs

    def _chalice_deploy(self, project: Path, stage: str) -> None:
        chalice = Path(sys.executable).parent / "chalice"
        result = subprocess.run(
            [str(chalice), "deploy", "--stage", stage],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0 and "ImportRestApi" in output:
            self.report.gap(
                "moto's import_rest_api takes only OpenAPI 3 with info.description; chalice"
                " sends Swagger 2.0: the REST API is not created (functions, roles and the"
                " event source mapping are)"
            )
        else:
            self.report.check(result.returncode == 0, "chalice deploy", output[-600:])

    # --- checks -----------------------------------------------------------------------------
    def _check_stack(
        self, stage: str, expected: list[Function], outputs: dict[str, str], packaged: bool
    ) -> None:
        self._check_functions(stage, expected, packaged)
        self._check_data(stage)
        endpoint = outputs.get("EndpointURL", "")
        self.report.check(
            re.fullmatch(
                rf"https://{outputs.get('RestAPIId')}\.execute-api\.{REGION}\.[a-z.]+/api/",
                endpoint,
            )
            is not None,
            f"the stack's EndpointURL is the API's stage URL ({endpoint})",
            endpoint,
        )

    def _check_functions(
        self, stage: str, expected: list[Function], packaged: bool, again: bool = False
    ) -> None:
        report = self.report
        data_env = {
            "TOKENS_TABLE": f"{APP_NAME}-{stage}-tokens",
            "IDEMPOTENCY_TABLE": f"{APP_NAME}-{stage}-idempotency",
        }
        for function in expected:
            if packaged:
                name = self._physical(stack_name(stage), function.logical_id)
            else:
                name = function.deployed_name(stage)
            try:
                config = self.lambda_.get_function_configuration(FunctionName=name)
            except self.lambda_.exceptions.ResourceNotFoundException:
                report.check(False, f"function {function.name}", "not created")
                continue
            env = config.get("Environment", {}).get("Variables", {})
            merged = _fragment_env(stage, function.logical_id) if packaged else {}
            wanted_env = {**function.env, **merged}
            wanted_env.update({k: v for k, v in data_env.items() if k in env})
            shown = {k: env.get(k) for k in wanted_env if env.get(k) != wanted_env[k]}
            report.check(
                (config["Handler"], config["MemorySize"], config["Timeout"], config["Runtime"])
                == (function.handler, function.memory, function.timeout, "python3.11")
                and not shown,
                f"function {function.name}: {function.handler}, {function.memory} MB,"
                f" {function.timeout} s, python3.11, the stage's environment",
                {
                    "config": [config["Handler"], config["MemorySize"], config["Timeout"]],
                    "env": shown,
                },
            )
            role = config["Role"].rsplit("/", 1)[-1]
            policies = [
                self.iam.get_role_policy(RoleName=role, PolicyName=p)["PolicyDocument"]
                for p in self.iam.list_role_policies(RoleName=role)["PolicyNames"]
            ]
            documents = [_document(p) for p in policies]
            report.check(
                documents == [function.policy],
                f"role of {function.name} carries exactly its .chalice policy",
                documents,
            )
        self._check_mapping(stage, packaged, again)

    def _check_mapping(self, stage: str, packaged: bool, again: bool) -> None:
        from chalice.app import SQSEventConfig

        app = _app_for(stage)
        config = next(e for e in app.event_sources if isinstance(e, SQSEventConfig))
        queue_arn = f"arn:aws:sqs:{REGION}:123456789012:{retry_queue_name(stage)}"
        mappings = [
            m
            for m in self.lambda_.list_event_source_mappings()["EventSourceMappings"]
            if m["EventSourceArn"] == queue_arn
        ]
        if again and len(mappings) > 1:
            self.report.gap(
                "without .chalice/deployed/ a second chalice deploy cannot know the mapping it"
                f" made: it made another ({len(mappings)} now); the first is kept"
            )
            mappings = mappings[:1]
        self.report.check(
            len(mappings) == 1 and mappings[0]["BatchSize"] == config.batch_size,
            f"one event source mapping from {retry_queue_name(stage)},"
            f" batch size {config.batch_size}",
            mappings,
        )
        if packaged:
            types = mappings[0].get("FunctionResponseTypes") if mappings else None
            self.report.check(
                types == ["ReportBatchItemFailures"], "partial batch responses are on", types
            )
        else:
            self.report.gap(
                "chalice deploy cannot turn on partial batch responses (no Chalice setting):"
                " its stages set RETRY_PARTIAL_BATCH=false, so a batch with a failure fails whole"
            )

    def _check_data(self, stage: str) -> None:
        report = self.report
        tables = self.dynamodb.list_tables()["TableNames"]
        for table, ttl in (("tokens", "expires_at"), ("idempotency", "expiration")):
            name = f"{APP_NAME}-{stage}-{table}"
            if not report.check(name in tables, f"table {name}", tables):
                continue
            described = self.dynamodb.describe_time_to_live(TableName=name)
            attribute = described["TimeToLiveDescription"].get("AttributeName")
            if attribute is None:
                report.gap(f"moto's CloudFormation does not set a table's time to live ({name})")
            else:
                report.check(attribute == ttl, f"table {name} expires items by {ttl}", attribute)
        queue = retry_queue_name(stage)
        try:
            url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        except self.sqs.exceptions.QueueDoesNotExist:
            report.check(False, f"queue {queue}", "missing")
            return
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        redrive = json.loads(attributes["Attributes"].get("RedrivePolicy", "{}"))
        report.check(
            redrive.get("deadLetterTargetArn", "").endswith(f":{queue}-dlq"),
            f"queue {queue}, dead letters to {queue}-dlq",
            redrive,
        )

    def _check_gone(self, stage: str, expected: list[Function]) -> None:
        report = self.report
        prefix = f"{APP_NAME}-{stage}"
        tables = [t for t in self.dynamodb.list_tables()["TableNames"] if t.startswith(prefix)]
        retained = f"{prefix}-tokens"
        if retained in tables:
            report.check(True, f"{retained} retained (DeletionPolicy Retain keeps the tokens)")
            self.dynamodb.delete_table(TableName=retained)
            tables.remove(retained)
        else:
            report.gap(f"moto does not keep a table with DeletionPolicy Retain ({retained})")
        queues = self.sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
        functions_left = [
            f["FunctionName"]
            for f in self.lambda_.list_functions()["Functions"]
            if f["FunctionName"].startswith(prefix)
        ]
        roles = [
            r["RoleName"]
            for r in self.iam.list_roles()["Roles"]
            if r["RoleName"].startswith(prefix)
        ]
        mappings = [
            m
            for m in self.lambda_.list_event_source_mappings()["EventSourceMappings"]
            if m["EventSourceArn"].endswith(f":{retry_queue_name(stage)}")
        ]
        left = {
            "tables": tables,
            "queues": queues,
            "functions": functions_left,
            "roles": roles,
            "mappings": mappings,
        }
        report.check(
            not any(left.values()),
            f"nothing of stage {stage} is left",
            {k: v for k, v in left.items() if v},
        )
        del expected

    # --- what moto cannot do, and the nearest it can ----------------------------------------
    def _for_moto(self, template: dict[str, Any]) -> dict[str, Any]:
        expanded = subprocess.run(
            [self.sam_python, "-m", "tools.expand_sam"],
            input=json.dumps(template),
            capture_output=True,
            text=True,
            check=True,
            cwd=PROJECT,
        )
        plain: dict[str, Any] = json.loads(expanded.stdout)
        resources = plain["Resources"]
        for logical in [k for k, v in resources.items() if v["Type"] in API_DEPLOYMENT_TYPES]:
            self.left_out[logical] = resources.pop(logical)
        self.mappings = plain.get("Mappings", {})
        for door in self.mappings.get("StageFrontDoor", {}).values():
            door["FrontDoor"] = "rest"  # moto cannot create the HTTP API (see packaged())
        # CloudFormation orders the mapping after the queue through the function's Ref to
        # it; moto does not follow that chain, so the mapping names the queue itself.
        queues = [k for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"]
        for resource in resources.values():
            if resource["Type"] == "AWS::Lambda::EventSourceMapping":
                resource["DependsOn"] = queues
        return plain

    def _unsupported(self, name: str) -> None:
        """Resources of the stack that moto's CloudFormation did not create."""
        summaries = self.cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
        created = {s["LogicalResourceId"] for s in summaries if s.get("PhysicalResourceId")}
        template = self.cfn.get_template(StackName=name)["TemplateBody"]
        template = json.loads(template) if isinstance(template, str) else template
        missing: dict[str, int] = {}
        for logical, resource in template["Resources"].items():
            if logical not in created:
                missing[resource["Type"]] = missing.get(resource["Type"], 0) + 1
        if missing:
            listed = ", ".join(f"{count} {kind}" for kind, count in sorted(missing.items()))
            self.report.gap(
                f"moto's CloudFormation does not create {listed}:"
                " they are checked in the template only (cfn-lint, checkov)"
            )

    def _routes_from_document(self, api_id: str, stage: str) -> None:
        """The API's resources, methods and Lambda proxy integrations from the template's
        own Swagger document, then a deployment of stage `api`; checked against it."""
        template = self.cfn.get_template(StackName=stack_name(stage))["TemplateBody"]
        template = json.loads(template) if isinstance(template, str) else template
        document = template["Resources"]["RestAPI"]["Properties"]["Body"]
        handler = self._physical(stack_name(stage), "APIHandler")
        handler_arn = self.lambda_.get_function_configuration(FunctionName=handler)["FunctionArn"]
        uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{handler_arn}"
        uri += "/invocations"
        ids = {
            "/": next(
                r["id"]
                for r in self.apigateway.get_resources(restApiId=api_id)["items"]
                if r["path"] == "/"
            )
        }
        wanted: set[tuple[str, str]] = set()
        for path, methods in sorted(document["paths"].items()):
            parent = "/"
            for part in [p for p in path.split("/") if p]:
                here = f"{parent.rstrip('/')}/{part}"
                if here not in ids:
                    created = self.apigateway.create_resource(
                        restApiId=api_id, parentId=ids[parent], pathPart=part
                    )
                    ids[here] = created["id"]
                parent = here
            for method, spec in methods.items():
                verb = method.upper()
                wanted.add((path, verb))
                self.apigateway.put_method(
                    restApiId=api_id,
                    resourceId=ids[path],
                    httpMethod=verb,
                    authorizationType="NONE",
                    apiKeyRequired=bool(spec.get("security")),
                )
                self.apigateway.put_integration(
                    restApiId=api_id,
                    resourceId=ids[path],
                    httpMethod=verb,
                    type="AWS_PROXY",
                    integrationHttpMethod="POST",
                    uri=uri,
                )
        self.apigateway.create_deployment(restApiId=api_id, stageName="api")
        self._throttle(api_id, stage)
        made: set[tuple[str, str]] = set()
        for resource in self.apigateway.get_resources(restApiId=api_id)["items"]:
            for verb in resource.get("resourceMethods", {}):
                integration = self.apigateway.get_integration(
                    restApiId=api_id, resourceId=resource["id"], httpMethod=verb
                )
                if integration["type"] == "AWS_PROXY" and integration["uri"] == uri:
                    made.add((resource["path"], verb))
        self.report.check(
            made == wanted,
            f"the API's {len(wanted)} routes proxy to the API function, stage api deployed",
            sorted(wanted ^ made),
        )

    def _throttle(self, api_id: str, stage: str) -> None:
        """The stage's throttling as the left-out Stage resource declares it, set through
        API Gateway calls, and read back."""
        declared = next(r for r in self.left_out.values() if r["Type"] == "AWS::ApiGateway::Stage")[
            "Properties"
        ].get("MethodSettings", [])
        if not self.report.check(bool(declared), "the API stage declares its throttling"):
            return
        values = {}
        for key, path in (
            ("ThrottlingRateLimit", "rateLimit"),
            ("ThrottlingBurstLimit", "burstLimit"),
        ):
            value = declared[0][key]
            if isinstance(value, dict):  # Fn::FindInMap [table, {Ref: Stage}, name]
                table, _, name = value["Fn::FindInMap"]
                value = self.mappings[table][stage][name]
            values[path] = value
        self.apigateway.update_stage(
            restApiId=api_id,
            stageName="api",
            patchOperations=[
                {"op": "replace", "path": f"/*/*/throttling/{path}", "value": str(value)}
                for path, value in values.items()
            ],
        )
        settings = self.apigateway.get_stage(restApiId=api_id, stageName="api")["methodSettings"]
        got = settings.get("*/*", {})
        self.report.check(
            (got.get("throttlingRateLimit"), got.get("throttlingBurstLimit"))
            == (float(values["rateLimit"]), int(values["burstLimit"])),
            f"stage api throttled at {values['rateLimit']}/s, burst {values['burstLimit']}",
            got,
        )
        self.report.gap("moto does not enforce throttling or resource policies on calls")

    def _with_api_memory(self, megabytes: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(template: dict[str, Any]) -> dict[str, Any]:
            template["Resources"]["APIHandler"]["Properties"]["MemorySize"] = megabytes
            return template

        return change

    def _physical(self, stack: str, logical: str) -> str:
        summaries = self.cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        return str(
            next(s for s in summaries if s["LogicalResourceId"] == logical)["PhysicalResourceId"]
        )

    def _delete_chalice_resources(self, stage: str, expected: list[Function]) -> None:
        for mapping in self.lambda_.list_event_source_mappings()["EventSourceMappings"]:
            if mapping["EventSourceArn"].endswith(f":{retry_queue_name(stage)}"):
                self.lambda_.delete_event_source_mapping(UUID=mapping["UUID"])
        for function in expected:
            name = function.deployed_name(stage)
            role = self.lambda_.get_function_configuration(FunctionName=name)["Role"].rsplit(
                "/", 1
            )[-1]
            self.lambda_.delete_function(FunctionName=name)
            for policy in self.iam.list_role_policies(RoleName=role)["PolicyNames"]:
                self.iam.delete_role_policy(RoleName=role, PolicyName=policy)
            self.iam.delete_role(RoleName=role)


def _fragment_env(stage: str, logical_id: str) -> dict[str, str]:
    """The environment infra/ fragments set on a function of the packaged stack (they win
    over .chalice/config.json there): the merge `make package` used."""
    merged = json.loads(Path(f".run/merge-{stage}.json").read_text())
    resource = merged["Resources"].get(logical_id, {})
    variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {k: v for k, v in variables.items() if isinstance(v, str)}


def _document(policy: Any) -> Any:
    """A role policy as returned: a dict, JSON, or (moto's CloudFormation) a Python repr."""
    if not isinstance(policy, str):
        return policy
    try:
        return json.loads(policy)
    except ValueError:
        return ast.literal_eval(policy)


def _app_for(stage: str) -> Any:
    """The Chalice app as chalice imports it for `stage` (its queue is named at import)."""
    import importlib

    os.environ["STAGE"] = stage
    try:
        return importlib.reload(importlib.import_module("app")).app
    finally:
        del os.environ["STAGE"]


@contextmanager
def _project_copy() -> Iterator[Path]:
    """What chalice deploy reads, copied: `make infra` writes the stage's environment into
    .chalice/config.json, which the rehearsal must not change."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("app.py", "requirements.txt"):
            shutil.copy(PROJECT / name, root / name)
        shutil.copytree(
            PROJECT / "chalicelib",
            root / "chalicelib",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        # the cached deployment zip: no package index needed again
        shutil.copytree(
            PROJECT / ".chalice", root / ".chalice", ignore=shutil.ignore_patterns("deployed")
        )
        shutil.copytree(PROJECT / "infra", root / "infra")
        yield root


@contextmanager
def _moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    saved = dict(os.environ)
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in [
            n
            for n in os.environ
            if n.startswith(("AWS_PROFILE", "AWS_SESSION", "AWS_ENDPOINT_URL_"))
        ]:
            del os.environ[name]
        os.environ.update(ENV, AWS_ENDPOINT_URL=endpoint)
        yield endpoint
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam-python", required=True, help="a Python with aws-sam-translator")
    args = parser.parse_args(argv)
    import logging
    import warnings

    # moto's own noise: a line per request, a traceback for each call it does not support
    # (the GAP lines say what those were), a warning per resource type it cannot create
    logging.disable(logging.ERROR)
    warnings.filterwarnings("ignore", module="moto")
    started = time.monotonic()
    report = Report()
    with _moto() as endpoint:
        print(f"deploy rehearsal on moto {endpoint} ({REGION})")
        rehearsal = Rehearsal(args.sam_python, report)
        # the stage `make package` built; the other path deploys the other stage beside it
        template = json.loads((PACKAGE_DIR / "sam.json").read_text())
        packaged = template["Parameters"]["Stage"]["Default"]
        rehearsal.packaged(packaged)
        rehearsal.chalice("dev" if packaged != "dev" else "prod")
    verdict = "FAILED" if report.failed else "passed"
    took = time.monotonic() - started
    print(f"deploy rehearsal {verdict}: {report.failed} failed checks, {took:.0f} s")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
