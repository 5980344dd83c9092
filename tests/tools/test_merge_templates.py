"""tools/merge_templates.py: infra fragments merged into one template, conflicts refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.merge_templates import MergeError, merge

STAGE_PARAMETER = {"Type": "String"}


def data_fragment() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "data",
        "Parameters": {"Stage": STAGE_PARAMETER},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}},
        "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
    }


def env_patch(name: str, value: Any) -> dict[str, Any]:
    """A patch of the function Chalice generates: no Type."""
    return {
        "Resources": {
            "APIHandler": {"Properties": {"Environment": {"Variables": {name: value}}}},
        }
    }


def test_fragments_merge_and_patches_of_one_resource_combine() -> None:
    merged = merge(
        {
            "data.json": data_fragment(),
            "a.json": env_patch("QUEUE", {"Ref": "Queue"}),
            "b.json": {**env_patch("LEVEL", "INFO"), "Parameters": {"Stage": STAGE_PARAMETER}},
        },
        stage="dev",
    )
    assert merged["Parameters"] == {"Stage": {"Type": "String", "Default": "dev"}}
    assert merged["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"] == {
        "QUEUE": {"Ref": "Queue"},
        "LEVEL": "INFO",
    }
    assert merged["Resources"]["Queue"]["Type"] == "AWS::SQS::Queue"
    assert merged["Outputs"] == {"QueueUrl": {"Value": {"Ref": "Queue"}}}
    # a fragment's own header does not describe the stage's template
    assert "Description" not in merged
    assert "AWSTemplateFormatVersion" not in merged


def test_a_logical_id_defined_twice_is_an_error() -> None:
    with pytest.raises(MergeError, match=r"duplicate logical id Queue: in a.json and b.json"):
        merge({"a.json": data_fragment(), "b.json": data_fragment()})


def test_two_values_for_one_property_are_an_error() -> None:
    with pytest.raises(MergeError, match=r"b.json: Resources.APIHandler.Properties"):
        merge({"a.json": env_patch("LEVEL", "INFO"), "b.json": env_patch("LEVEL", "DEBUG")})


def test_a_parameter_declared_differently_is_an_error() -> None:
    other = {"Parameters": {"Stage": {"Type": "Number"}}}
    with pytest.raises(MergeError, match=r"b.json: Parameters.Stage is declared differently"):
        merge({"a.json": data_fragment(), "b.json": other})


def test_a_stage_needs_the_stage_parameter_and_unknown_sections_are_refused() -> None:
    with pytest.raises(MergeError, match="Stage parameter"):
        merge({"a.json": env_patch("LEVEL", "INFO")}, stage="dev")
    with pytest.raises(MergeError, match="unknown top-level keys"):
        merge({"a.json": {"Resource": {}}})


def test_the_command_merges_the_project_fragments(tmp_path: Path) -> None:
    out = tmp_path / "merge.json"
    fragments = sorted(str(p) for p in Path("infra").glob("*.json"))
    command = [sys.executable, "-m", "tools.merge_templates", "--out", str(out)]
    subprocess.run([*command, "--stage", "prod", *fragments], check=True)
    template = json.loads(out.read_text())
    assert template["Parameters"]["Stage"]["Default"] == "prod"
    assert {"TokensTable", "RetryQueue", "APIHandler"} <= set(template["Resources"])
    broken = tmp_path / "again.json"
    broken.write_text(Path("infra/data.json").read_text())
    result = subprocess.run(
        [*command, *fragments, str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "duplicate logical id" in result.stderr
