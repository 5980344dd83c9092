"""The OpenAPI 3.1 document, generated from the request models (built on first request)."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from .models import AccountPushRequest, PushRequest, TokenAddRequest, TokenRemoveRequest

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["code", "description", "data"],
    "properties": {
        "code": {"type": "integer", "description": "equal to the HTTP status"},
        "description": {"type": "string"},
        "data": {"anyOf": [{"type": "object"}, {"type": "array"}]},
    },
}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(summary: str, body: type[BaseModel] | None = None, **codes: str) -> dict[str, Any]:
    responses = {
        code.removeprefix("s"): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}},
        }
        for code, text in codes.items()
    }
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = _body(body)
    return operation


ACCOUNT = {"name": "account", "in": "path", "required": True, "schema": {"type": "string"}}
DEVICE = {"name": "device", "in": "path", "required": True, "schema": {"type": "string"}}
PUSH_CODES = {
    "s200": "delivered (or one result per device for v2)",
    "s202": "queued for retry, or accepted for delivery",
    "s400": "invalid request: every bad field named",
    "s403": "access denied by access list",
    "s404": "unknown app, platform, account or device",
    "s410": "dead device token",
    "s413": "body over 64 KiB",
}


@cache
def document(version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        PushRequest,
        TokenAddRequest,
        TokenRemoveRequest,
        AccountPushRequest,
    ]
    schemas = {m.__name__: m.model_json_schema(by_alias=True) for m in models}
    schemas["Envelope"] = ENVELOPE
    push_codes = {k: v for k, v in PUSH_CODES.items() if k != "s410"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "rtc-pushserver", "version": version},
        "paths": {
            "/": {"get": _operation("liveness", s200="version")},
            "/health": {"get": _operation("readiness: apps available or not", s200="status")},
            "/push": {
                "post": _operation("v1: push to the token in the body", PushRequest, **PUSH_CODES)
            },
            "/v2/tokens/{account}": {
                "parameters": [ACCOUNT],
                "post": _operation(
                    "store a device token",
                    TokenAddRequest,
                    s200="stored",
                    s400="invalid",
                    s404="unknown app",
                ),
                "delete": _operation(
                    "remove a device token",
                    TokenRemoveRequest,
                    s200="removed",
                    s404="user or device not found",
                ),
            },
            "/v2/tokens/{account}/push": {
                "parameters": [ACCOUNT],
                "post": _operation(
                    "push to every device of the account", AccountPushRequest, **push_codes
                ),
            },
            "/v2/tokens/{account}/push/{device}": {
                "parameters": [ACCOUNT, DEVICE],
                "post": _operation("push to one stored device", AccountPushRequest, **push_codes),
            },
        },
        "components": {"schemas": schemas},
    }
