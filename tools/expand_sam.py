"""The SAM transform done locally, with AWS's own translator (aws-sam-translator), for an
emulator that has no transform: reads the packaged template on stdin, writes the plain
CloudFormation CloudFormation would have made of it.

Runs in the IaC venv (make iac-tools), not the app's: the translator pins an older pydantic.

    .venv-iac/bin/python -m tools.expand_sam < sam.json > cloudformation.json
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


class _NoManagedPolicies:
    """The functions carry their own roles: no AWS managed policy name needs resolving."""

    def load(self) -> dict[str, str]:
        return {}


def expand(template: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    pseudo = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws"}
    return dict(transform(template, pseudo, _NoManagedPolicies()))


def main() -> int:
    region = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
    account = os.environ.get("AWS_ACCOUNT_ID", "123456789012")
    json.dump(expand(json.load(sys.stdin), region, account), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
