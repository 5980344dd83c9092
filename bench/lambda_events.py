"""What Lambda hands the Chalice handler: an API Gateway event and a context (no heavy
imports here: the memory probe loads only this and the app)."""

from __future__ import annotations

from typing import Any

PUSH: dict[str, Any] = {
    "app-id": "com.example.sylk",
    "platform": "ios",
    "event": "incoming_session",
    "token": "ab" * 32,
    "device-id": "dev-1",
    "call-id": "call-1",
    "from": "alice@example.com",
    "to": "bob@example.com",
    "media-type": "audio",
}


class LambdaContext:
    """What Lambda passes to a handler (the fields Chalice and Powertools read)."""

    aws_request_id = "bench"
    function_name = "rtc-pushserver-dev"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def api_event(
    path: str, body: str, *, method: str = "POST", resource: str | None = None
) -> dict[str, Any]:
    """An API Gateway proxy event, as Lambda hands it to the Chalice handler; `resource` is
    the route API Gateway matched (`/{proxy+}` for a path no other route takes)."""
    resource = resource or path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",  # API Gateway's own path has the stage in front
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
