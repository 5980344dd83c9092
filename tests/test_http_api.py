"""The HTTP API front door (infra/http-api.json, payload format 1.0): the function answers
its events with the same envelope as the REST API's, for every route the fragment declares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import app
from bench.lambda_events import LambdaContext, api_event
from fakepns.fake_apns import FakeApns
from fakepns.server_config import SYLK
from tests.test_push_v1 import body

FRAGMENT = json.loads((Path(__file__).parent.parent / "infra" / "http-api.json").read_text())


def http_api_event(method: str, route: str, path: str, payload: str = "") -> dict[str, Any]:
    """What an HTTP API hands the function for `route` with payload format 1.0: the REST
    shape plus `version`, a `$default` stage and a routeKey, no stage prefix in the path."""
    event = api_event(path, payload, method=method, resource=route)
    event["version"] = "1.0"
    event["requestContext"] |= {
        "path": path,
        "stage": "$default",
        "routeKey": f"ANY {route}",
        "protocol": "HTTP/1.1",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
    }
    return event


def answer(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_every_route_of_the_app_is_a_route_of_the_http_api() -> None:
    routes = {
        resource["Properties"]["RouteKey"]
        for resource in FRAGMENT["Resources"].values()
        if resource["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert routes == {f"ANY {path}" for path in app.routes}


def test_the_integration_is_the_api_function_with_payload_1_0() -> None:
    [integration] = [
        r for r in FRAGMENT["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Integration"
    ]
    assert integration["Properties"]["PayloadFormatVersion"] == "1.0"
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": ["APIHandler", "Arn"]}


def test_a_push_through_the_http_api_is_delivered(client: Any, apns: FakeApns) -> None:
    event = http_api_event("POST", "/push", "/push", json.dumps(body(SYLK, "ios", "message")))
    status, document = answer(event)
    assert (status, document["code"]) == (200, 200)
    assert document["description"] == "push notification response"
    assert len(apns.received) == 1


@pytest.mark.parametrize(
    ("method", "route", "path", "payload", "status"),
    [
        ("GET", "/{proxy+}", "/nowhere", "", 404),
        ("GET", "/push", "/push", "", 405),
        ("POST", "/push", "/push", "{", 400),
        ("POST", "/push", "/push", json.dumps({"x": "y" * 70_000}), 413),
        ("GET", "/health", "/health", "", 200),
    ],
)
def test_answers_in_the_envelope(
    client: Any, method: str, route: str, path: str, payload: str, status: int
) -> None:
    got, document = answer(http_api_event(method, route, path, payload))
    assert got == status
    assert set(document) == {"code", "description", "data"}
    assert document["code"] == status
