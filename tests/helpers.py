"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalice.test import Client


def call(
    client: Client, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """One API call; returns (HTTP status, decoded JSON body)."""
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    all_headers = {"Content-Type": "application/json", **headers}
    response = getattr(client.http, method.lower())(path, headers=all_headers, body=raw or b"")
    return response.status_code, json.loads(response.body)


def read_lines(path: Path, start: int = 0) -> list[dict[str, Any]]:
    """The log lines written from byte `start` on; fails on any that is not a JSON object."""
    with path.open("rb") as file:
        file.seek(start)
        lines = [json.loads(raw) for raw in file.read().splitlines() if raw.strip()]
    assert all(isinstance(line, dict) for line in lines)
    return lines
