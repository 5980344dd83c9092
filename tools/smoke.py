"""A short check of a running instance, local or deployed: `/` and `/health` answer in the
envelope, every configured app is available, and a push to an unknown app gets 404.

    python -m tools.smoke https://abc123.execute-api.eu-west-1.amazonaws.com/api/

Exit code 0 when every check passed, 1 otherwise; one verdict line either way.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any

from tools.pushclient import API_KEY_ENV

UNKNOWN_APP = "smoke-test.unknown-app.invalid"
TIMEOUT = 30.0  # a cold start of both functions fits well within it


class SmokeFailure(Exception):
    pass


def call(
    base: str, method: str, path: str, body: Any = None, api_key: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Status and envelope of one call; SmokeFailure when the answer is not the envelope."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("x-api-key", api_key)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SmokeFailure(f"{method} {path}: no answer ({exc})") from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise SmokeFailure(f"{method} {path}: {status}, not JSON: {raw[:120]!r}") from None
    if not isinstance(document, dict) or set(document) != {"code", "description", "data"}:
        raise SmokeFailure(f"{method} {path}: {status}, not the envelope: {raw[:120]!r}")
    if document["code"] != status:
        raise SmokeFailure(f"{method} {path}: code {document['code']} differs from HTTP {status}")
    return status, document


def check(base: str, api_key: str | None = None) -> list[str]:
    """What passed, in order; SmokeFailure at the first check that did not."""
    passed = []
    status, answer = call(base, "GET", "/", api_key=api_key)
    if status != 200:
        raise SmokeFailure(f"GET /: {status} {answer['description']}")
    passed.append(f"/ {answer['data'].get('version', '')}".strip())
    status, answer = call(base, "GET", "/health", api_key=api_key)
    data = answer["data"]
    if status != 200 or answer["description"] != "ok":
        problems = data.get("unavailable") or data.get("settings") or answer["description"]
        raise SmokeFailure(f"GET /health: {status} {answer['description']}: {problems}")
    if not data.get("apps"):
        raise SmokeFailure("GET /health: no app is configured")
    passed.append(f"/health ok, {len(data['apps'])} apps available")
    # a body good in every other field: bad fields would be named in a 400 with the app
    push = {"app-id": UNKNOWN_APP, "platform": "apple", "token": "ab" * 32, "call-id": "smoke"}
    push.update({"from": "smoke@example.invalid", "to": "smoke@example.invalid"})
    status, answer = call(base, "POST", "/push", push, api_key=api_key)
    if status != 404:
        raise SmokeFailure(
            f"POST /push to an unknown app: {status} {answer['description']}, not 404"
        )
    passed.append("unknown app 404")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the instance's base URL (the stage's EndpointURL)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"sent as x-api-key (default: ${API_KEY_ENV})",
    )
    args = parser.parse_args(argv)
    try:
        passed = check(args.url, args.api_key)
    except SmokeFailure as exc:
        print(f"smoke FAILED {args.url}: {exc}")
        return 1
    print(f"smoke OK {args.url}: {'; '.join(passed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
