"""Deploy, roll back and delete a stage's CloudFormation stacks.

deploy    the packaged template (`make package`) as the stack rtc-pushserver-<stage>: the
          zip and the template go to the artifact bucket, then one create or update. The
          template it replaces is kept in .run/deploy/<stage>/previous.json for rollback,
          the endpoint in .run/deploy/<stage>/url for the smoke test.
rollback  put the previous template back (a smoke test failed after a good deploy).
delete    delete the stack (the token table stays: DeletionPolicy Retain).
infra     the data stack alone (infra/data.json as rtc-pushserver-<stage>-data), its
          outputs written into the stage's environment in .chalice/config.json, so
          `chalice deploy --stage <stage>` then gives a working service.

python -m tools.deploy_stack deploy --stage dev --bucket my-artifacts
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.settings import APP_NAME, gateway_api_keys

PACKAGE_DIR = Path(".run/package")
DEPLOY_DIR = Path(".run/deploy")
DATA_TEMPLATE = Path("infra/data.json")
CHALICE_CONFIG = Path(".chalice/config.json")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
# The data stack's outputs, as the environment variables the functions read.
DATA_ENV = {
    "TokensTableName": "TOKENS_TABLE",
    "IdempotencyTableName": "IDEMPOTENCY_TABLE",
    "RetryQueueUrl": "RETRY_QUEUE_URL",
}
# A template to what CloudFormation is given; the rehearsal expands SAM where an emulator
# has no transform.
Render = Callable[[dict[str, Any]], dict[str, Any]]


class DeployError(RuntimeError):
    pass


def stack_name(stage: str, data: bool = False) -> str:
    return f"{APP_NAME}-{stage}-data" if data else f"{APP_NAME}-{stage}"


@dataclass
class Deployer:
    """One stage's stacks through boto3 clients (AWS, or an emulator via AWS_ENDPOINT_URL)."""

    stage: str
    bucket: str
    cloudformation: Any
    s3: Any
    poll_seconds: float = 5.0
    role_arn: str | None = None  # the role CloudFormation acts as (infra/ci); else the caller
    parameters: dict[str, str] = field(default_factory=dict)  # given when a template declares it

    def deploy(
        self, package_dir: Path = PACKAGE_DIR, render: Render | None = None
    ) -> dict[str, str]:
        """Upload the zip, point every function at it, create or update the stack."""
        template = json.loads((package_dir / "sam.json").read_text())
        code_uri = self._upload(package_dir / "deployment.zip", "zip")
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::Serverless::Function":
                resource["Properties"]["CodeUri"] = code_uri
        name = stack_name(self.stage)
        out = DEPLOY_DIR / self.stage
        out.mkdir(parents=True, exist_ok=True)
        previous = self.current(name)
        if previous is not None:
            (out / "previous.json").write_text(json.dumps(previous))
        outputs = self.apply(name, render(template) if render else template)
        if "EndpointURL" in outputs:
            (out / "url").write_text(outputs["EndpointURL"])
        return outputs

    def rollback(self) -> dict[str, str]:
        saved = DEPLOY_DIR / self.stage / "previous.json"
        if not saved.exists():
            raise DeployError(f"no previous template of {self.stage} to go back to")
        previous = json.loads(saved.read_text())
        return self.apply(stack_name(self.stage), previous["template"], previous["parameters"])

    def infra(self, config: Path = CHALICE_CONFIG) -> dict[str, str]:
        template = json.loads(DATA_TEMPLATE.read_text())
        outputs = self.apply(stack_name(self.stage, data=True), template)
        write_stage_env(
            config, self.stage, {DATA_ENV[k]: v for k, v in outputs.items() if k in DATA_ENV}
        )
        return outputs

    def current(self, name: str) -> dict[str, Any] | None:
        """The deployed template and parameters, or None when there is no usable stack."""
        stack = self._describe(name)
        if stack is None or stack["StackStatus"] in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
            return None
        body = self.cloudformation.get_template(StackName=name, TemplateStage="Original")
        template = body["TemplateBody"]
        parameters = [
            {"ParameterKey": p["ParameterKey"], "ParameterValue": p["ParameterValue"]}
            for p in stack.get("Parameters", [])
        ]
        return {
            "template": json.loads(template) if isinstance(template, str) else template,
            "parameters": parameters,
        }

    def apply(
        self, name: str, template: dict[str, Any], parameters: list[dict[str, str]] | None = None
    ) -> dict[str, str]:
        """Create the stack, or update it; its outputs."""
        url = self._upload_bytes(json.dumps(template).encode(), "json")
        if parameters is None:
            declared = template.get("Parameters", {})
            values = {"Stage": self.stage, **self.parameters}
            parameters = [
                {"ParameterKey": k, "ParameterValue": v} for k, v in values.items() if k in declared
            ]
        request = {
            "StackName": name,
            "TemplateURL": url,
            "Parameters": parameters,
            "Capabilities": CAPABILITIES,
            **({"RoleARN": self.role_arn} if self.role_arn else {}),
        }
        stack = self._describe(name)
        if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
            self.delete(name)  # a failed first create cannot be updated
            stack = None
        if stack is None:
            self.cloudformation.create_stack(**request)
            self._wait("stack_create_complete", name)
        else:
            try:
                self.cloudformation.update_stack(**request)
            except self.cloudformation.exceptions.ClientError as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
            else:
                self._wait("stack_update_complete", name)
        described = self._describe(name)
        assert described is not None
        return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    def delete(self, name: str | None = None) -> None:
        name = name or stack_name(self.stage)
        self.cloudformation.delete_stack(
            StackName=name, **({"RoleARN": self.role_arn} if self.role_arn else {})
        )
        self._wait("stack_delete_complete", name)

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            stacks = self.cloudformation.describe_stacks(StackName=name)["Stacks"]
        except self.cloudformation.exceptions.ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def _wait(self, waiter: str, name: str) -> None:
        config = {"Delay": self.poll_seconds, "MaxAttempts": int(3600 / self.poll_seconds)}
        try:
            self.cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig=config)
        except Exception as exc:  # the waiter's error names only the final state
            reason = self._failure(name)
            raise DeployError(f"{name}: {waiter} failed: {reason or exc}") from None

    def _failure(self, name: str) -> str:
        try:
            events = self.cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        except self.cloudformation.exceptions.ClientError:
            return ""
        failed = [e for e in events if e["ResourceStatus"].endswith("_FAILED")]
        return "; ".join(
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in failed[:3]
        )

    def _upload(self, path: Path, suffix: str) -> str:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
        key = f"{APP_NAME}/{self.stage}/{digest}.{suffix}"
        self.s3.upload_file(str(path), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def _upload_bytes(self, content: bytes, suffix: str) -> str:
        """An HTTPS URL: CloudFormation reads templates over 51,200 bytes only from S3."""
        key = f"{APP_NAME}/{self.stage}/{hashlib.sha256(content).hexdigest()[:20]}.{suffix}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=content)
        region = self.s3.meta.region_name
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/{key}"


def stage_parameters(config: Path, stage: str) -> dict[str, str]:
    """Stack parameters that follow the stage's Chalice environment."""
    from chalice.config import Config

    document = json.loads(config.read_text())
    env = Config(chalice_stage=stage, config_from_disk=document).environment_variables
    return {"ApiGatewayKeys": "true" if gateway_api_keys(env) else "false"}


def write_stage_env(config: Path, stage: str, env: dict[str, str]) -> None:
    """Set `env` in the stage's environment_variables, keeping everything else."""
    document = json.loads(config.read_text())
    variables = document["stages"][stage].setdefault("environment_variables", {})
    variables.update(env)
    config.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["deploy", "rollback", "delete", "infra"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--bucket", required=True, help="artifact bucket (zip, templates)")
    parser.add_argument(
        "--role-arn", default=None, help="the CloudFormation execution role (infra/ci template)"
    )
    args = parser.parse_args(argv)
    deployer = Deployer(
        args.stage,
        args.bucket,
        boto3.client("cloudformation"),
        boto3.client("s3"),
        role_arn=args.role_arn or None,
        parameters=stage_parameters(CHALICE_CONFIG, args.stage),
    )
    try:
        if args.action == "delete":
            deployer.delete()
            print(f"{stack_name(args.stage)} deleted (the token table is retained)")
            return 0
        outputs = {
            "deploy": deployer.deploy,
            "rollback": deployer.rollback,
            "infra": deployer.infra,
        }[args.action]()
    except DeployError as exc:
        print(f"{args.action} failed: {exc}", file=sys.stderr)
        return 1
    for key, value in sorted(outputs.items()):
        print(f"{key} = {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
