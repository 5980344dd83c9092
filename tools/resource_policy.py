"""The API Gateway resource policy of a stage from its bundled general.ini: when
`allowed_hosts` is set, the gateway refuses other callers itself, so they cost no invocation
(the app keeps its own check for a config read from SSM later).

Writes a template fragment for tools.merge_templates; an empty one without allowed_hosts.

    python -m tools.resource_policy --config-dir chalicelib/site-config --out .run/policy.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from chalicelib.config.loader import load_server


def fragment(config_dir: Path) -> dict[str, Any]:
    networks = load_server(config_dir, []).allowed_hosts if config_dir.is_dir() else ()
    if not networks:
        return {}
    invoke = {"Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", **invoke},
            {
                "Effect": "Deny",
                **invoke,
                "Condition": {"NotIpAddress": {"aws:SourceIp": [str(n) for n in networks]}},
            },
        ],
    }
    body = {"x-amazon-apigateway-policy": policy}
    return {"Resources": {"RestAPI": {"Properties": {"DefinitionBody": body}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fragment(args.config_dir), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
