"""The Lambda entry point driven the way API Gateway and SQS drive it: whole events in, the
handler's own answer out (Chalice's test client skips parts of that path)."""

from __future__ import annotations

import json
from typing import Any

from app import app
from bench.lambda_events import LambdaContext, api_event


def gateway_event(
    method: str,
    resource: str,
    path: str,
    body: str | None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway proxy event for `resource` (e.g. /v2/tokens/{account}) called as `path`."""
    event = api_event(path, body or "")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["resource"] = event["requestContext"]["resourcePath"] = resource
    event["pathParameters"] = params
    event["body"] = body
    if headers is not None:
        event["headers"] = headers
    return event


def invoke(event: dict[str, Any]) -> tuple[int, Any]:
    """(status, decoded body) of the Lambda handler's answer to an API Gateway event."""
    response = app(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])
