"""The OpenAPI 3.1 document, generated from the request models (built on first request)."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from .models import (
    EVENT_ALIASES,
    MAX_ACCOUNT,
    PLATFORM_ALIASES,
    AccountPushRequest,
    PushRequest,
    TokenAddRequest,
    TokenRemoveRequest,
)

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["code", "description", "data"],
    "properties": {
        "code": {"type": "integer", "description": "equal to the HTTP status"},
        "description": {"type": "string"},
        "data": {"anyOf": [{"type": "object"}, {"type": "array"}]},
    },
}


def _any_case(words: list[str]) -> str:
    """A pattern of `words` in any case, around blanks (as the models read them)."""
    cased = ["".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w) for w in words]
    return "^\\s*(?:" + "|".join(cased) + ")\\s*$"


def _as_read(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema widened to what the models accept, as the original did: a number
    where text is expected (taken as its text), and the other spellings of a name."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [_as_read(name, s) for s in schema["anyOf"]]}
    if schema.get("type") != "string" or "pattern" in schema:
        return schema
    if name == "platform":
        return {"type": "string", "pattern": _any_case(sorted(PLATFORM_ALIASES))}
    if name == "media-type":
        return {"type": "string", "pattern": _any_case(schema["enum"])}
    if name == "event":
        return {**schema, "enum": [*schema["enum"], *EVENT_ALIASES]}
    if "enum" in schema:
        return schema
    return {"anyOf": [schema, {"type": "number", "description": "taken as its text"}]}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional key may be sent as null: it then counts as absent."""
    choices = schema.get("anyOf", [schema])
    if {"type": "null"} in choices:
        return schema
    return {"anyOf": [*choices, {"type": "null"}], "default": schema.get("default")}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", ()))
    schema["properties"] = {
        name: _as_read(name, s) if name in required else _or_null(_as_read(name, s))
        for name, s in schema.get("properties", {}).items()
    }
    return schema


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str, codes: dict[str, str], body: type[BaseModel] | None = None
) -> dict[str, Any]:
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}
    responses = {code: {"description": text, "content": envelope} for code, text in codes.items()}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = _body(body)
    return operation


# Decoded from the path and trimmed: 1 to 255 characters, no control characters.
NO_CONTROL = "[^\\u0000-\\u001f\\u007f-\\u009f]"
ACCOUNT = {
    "name": "account",
    "in": "path",
    "required": True,
    "description": "user@domain, URL-encoded; 1 to 255 characters once decoded and trimmed",
    "example": "alice@example.com",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ACCOUNT,
        "pattern": f"^{NO_CONTROL}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{NO_CONTROL}*$",
    },
}
DEVICE = {
    "name": "device",
    "in": "path",
    "required": True,
    "description": "a stored device-id, URL-encoded",
    "example": "iphone",
    "schema": {"type": "string", "minLength": 1},
}
# What every route with a body can answer besides its own statuses.
REQUEST_ERRORS = {
    "400": "invalid request: bad JSON, or every bad field named",
    "403": "access denied by access list",
    "413": "body over 64 KiB",
    "415": "body not sent as JSON (application/json, text/plain or form)",
    "500": "unexpected error, with an error-id to find it in the log",
    "503": "configuration or token store not usable; nothing was changed",
}
PUSH_CODES = {
    "200": "delivered (or one result per device for v2)",
    "202": "queued for retry, or accepted for delivery",
    "404": "unknown app, platform, account or device",
    **REQUEST_ERRORS,
}
V1_PUSH_CODES = {
    **PUSH_CODES,
    "410": "dead device token",
    "4XX": "the push service's own rejection status",
    "502": "the push service refused the push (its answer in the result)",
}


@cache
def document(version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        PushRequest,
        TokenAddRequest,
        TokenRemoveRequest,
        AccountPushRequest,
    ]
    schemas = {m.__name__: _schema(m) for m in models}
    schemas["Envelope"] = ENVELOPE
    return {
        "openapi": "3.1.0",
        "info": {"title": "rtc-pushserver", "version": version},
        "paths": {
            "/": {"get": _operation("liveness", {"200": "version"})},
            "/health": {
                "get": _operation(
                    "readiness: apps available or not (behind the access check)",
                    {
                        "200": "status",
                        "403": REQUEST_ERRORS["403"],
                        "500": REQUEST_ERRORS["500"],
                        "503": REQUEST_ERRORS["503"],
                    },
                )
            },
            "/push": {
                "post": _operation("v1: push to the token in the body", V1_PUSH_CODES, PushRequest)
            },
            "/v2/tokens/{account}": {
                "parameters": [ACCOUNT],
                "post": _operation(
                    "store a device token",
                    {"200": "stored", "404": "unknown app", **REQUEST_ERRORS},
                    TokenAddRequest,
                ),
                "delete": _operation(
                    "remove a device token",
                    {"200": "removed", "404": "user or device not found", **REQUEST_ERRORS},
                    TokenRemoveRequest,
                ),
            },
            "/v2/tokens/{account}/push": {
                "parameters": [ACCOUNT],
                "post": _operation(
                    "push to every device of the account", PUSH_CODES, AccountPushRequest
                ),
            },
            "/v2/tokens/{account}/push/{device}": {
                "parameters": [ACCOUNT, DEVICE],
                "post": _operation("push to one stored device", PUSH_CODES, AccountPushRequest),
            },
        },
        "components": {"schemas": schemas},
    }
