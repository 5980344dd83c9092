"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import json
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
