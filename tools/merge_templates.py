"""Merge the CloudFormation fragments of infra/ into the one template that
`chalice package --merge-template` takes.

Each fragment owns its resources: a logical id defined (given a `Type`) in two fragments is
an error, and so is a parameter, condition, mapping or output declared twice differently (a
shared `Stage` parameter may appear in every fragment that is also deployed on its own).
Entries without a `Type` patch a resource Chalice generates (APIHandler, RetryPushes,
RestAPI, ...); patches from several fragments merge, but two different values for the same
property are an error rather than a silent last-one-wins.

    python -m tools.merge_templates --stage dev --out .run/merge-dev.json infra/*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SECTIONS = ("Parameters", "Conditions", "Mappings", "Resources", "Outputs")
# Per-fragment headers: they describe the fragment, not the stage's template.
IGNORED = ("AWSTemplateFormatVersion", "Description", "Metadata")


class MergeError(ValueError):
    pass


def merge(fragments: dict[str, dict[str, Any]], stage: str | None = None) -> dict[str, Any]:
    """One template from the fragments (name -> template), in name order."""
    merged: dict[str, Any] = {}
    defined_by: dict[str, str] = {}  # logical id -> fragment defining it
    for name in sorted(fragments):
        fragment = fragments[name]
        unknown = set(fragment) - set(SECTIONS) - set(IGNORED) - {"Transform"}
        if unknown:
            raise MergeError(f"{name}: unknown top-level keys {sorted(unknown)}")
        if "Transform" in fragment:
            _set_once(merged, "Transform", fragment["Transform"], name)
        for section in SECTIONS:
            target = merged.setdefault(section, {})
            for key, value in fragment.get(section, {}).items():
                if section == "Resources":
                    _merge_resource(target, key, value, name, defined_by)
                elif key in target and target[key] != value:
                    raise MergeError(f"{name}: {section}.{key} is declared differently elsewhere")
                else:
                    target[key] = value
    merged = {key: value for key, value in merged.items() if value}
    if stage is not None:
        if "Stage" not in merged.get("Parameters", {}):
            raise MergeError("no fragment declares the Stage parameter")
        merged["Parameters"]["Stage"] = {**merged["Parameters"]["Stage"], "Default": stage}
    return merged


def _merge_resource(
    resources: dict[str, Any], key: str, value: Any, name: str, defined_by: dict[str, str]
) -> None:
    if not isinstance(value, dict):
        raise MergeError(f"{name}: Resources.{key} is not an object")
    if "Type" in value:
        if key in defined_by:
            raise MergeError(f"duplicate logical id {key}: in {defined_by[key]} and {name}")
        defined_by[key] = name
    resources[key] = _deep_merge(resources.get(key, {}), value, f"{name}: Resources.{key}")


def _deep_merge(old: Any, new: Any, path: str) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        result = dict(old)
        for key, value in new.items():
            result[key] = _deep_merge(old[key], value, f"{path}.{key}") if key in old else value
        return result
    if old != new:
        raise MergeError(f"{path} is set differently by another fragment")
    return new


def _set_once(merged: dict[str, Any], key: str, value: Any, name: str) -> None:
    if key in merged and merged[key] != value:
        raise MergeError(f"{name}: {key} is declared differently elsewhere")
    merged[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fragments", nargs="+", type=Path, help="infra/*.json")
    parser.add_argument("--stage", help="the default of the Stage parameter")
    parser.add_argument("--out", type=Path, required=True, help="the merged template")
    args = parser.parse_args(argv)
    fragments = {path.name: json.loads(path.read_text()) for path in args.fragments}
    try:
        template = merge(fragments, args.stage)
    except MergeError as exc:
        parser.exit(2, f"merge_templates: {exc}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(template, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
