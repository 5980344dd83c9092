"""An unknown path or a wrong method answers 404 / 405 in the envelope, whoever routes the call:
chalice's local gateway, or API Gateway handing the Lambda handler its event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from app import ROUTES, app
from bench.lambda_events import LambdaContext, api_event
from chalicelib.api import METHODS
from tests.helpers import call
from tests.test_api_errors import assert_envelope

WRONG_METHODS = [
    (method, path)
    for path, allowed in ROUTES.items()
    for method in METHODS
    if method not in allowed
]


def concrete(path: str) -> str:
    return path.replace("{account}", "alice@example.com").replace("{device}", "phone")


def test_every_path_takes_every_method() -> None:
    """API Gateway answers a method a path does not declare itself, outside the envelope."""
    for path in [*ROUTES, "/{proxy+}"]:
        assert sorted(app.routes[path]) == sorted(METHODS), path


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_a_wrong_method_is_405_naming_the_allowed_ones(
    client: Client, method: str, path: str
) -> None:
    response = client.http.request(
        method, concrete(path), headers={"Content-Type": "text/html"}, body=b"<p>"
    )
    answer = json.loads(response.body)
    assert response.status_code == 405
    assert_envelope(answer, 405)
    assert answer["data"]["allowed"] == ROUTES[path]
    assert response.headers["Allow"] == ", ".join(ROUTES[path])
    assert f"{method} is not allowed on {concrete(path)}" in answer["description"]


@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_path_is_404_listing_the_routes(client: Client, method: str) -> None:
    status, answer = call(client, method, "/pushes", {"app-id": "x"})
    assert status == 404
    assert_envelope(answer, 404)
    assert answer["description"].startswith("no route /pushes; the routes are: GET /, ")
    assert "POST /push" in answer["data"]["routes"]
    assert answer["data"]["path"] == "/pushes"


def handler(path: str, method: str, resource: str | None = None) -> tuple[int, Any]:
    answer = app(api_event(path, "{}", method=method, resource=resource), LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def test_the_lambda_handler_answers_api_gateways_catch_all_in_the_envelope(client: Client) -> None:
    status, answer = handler("/v2/tokens", "GET", "/{proxy+}")
    assert status == 404
    assert_envelope(answer, 404)
    assert answer["data"]["path"] == "/v2/tokens"

    status, answer = handler("/push", "GET")
    assert status == 405
    assert answer["description"] == "GET is not allowed on /push; allowed: POST"

    event = api_event("/push", "<p>", method="POST")
    event["headers"] = {"content-type": "text/html"}
    answer = app(event, LambdaContext())
    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (415, 415)
