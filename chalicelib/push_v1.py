"""API v1 use case: one push to the one token the request names."""

from __future__ import annotations

from typing import Any

from . import delivery
from .answers import Answer
from .config import AppConfig, Config
from .errors import NotFound
from .models import PLATFORMS_IN_WORDS, PushRequest, invalid, normalize_platform, present
from .runtime import Runtime


def find_app(config: Config, body: dict[str, Any]) -> AppConfig | None:
    """The app a v1 request names; None when it names none (field validation says why);
    NotFound for an unknown platform or app, as the original."""
    body = present(body)
    app_id, platform = body.get("app-id", body.get("app_id")), body.get("platform")
    if isinstance(app_id, (int, float)):  # as the models read it (numbers as strings)
        app_id = str(app_id)
    if not isinstance(app_id, str) or not app_id or not isinstance(platform, str):
        return None
    normalized = normalize_platform(platform)
    if normalized is None:
        raise NotFound(
            f"'{platform}' platform is not configured: use {PLATFORMS_IN_WORDS}",
            {"platform": platform},
        )
    app = config.app(app_id, normalized)
    if app is None:
        raise NotFound(
            f"{normalized.capitalize()} {app_id} app is not configured",
            {"app-id": app_id, "platform": normalized},
        )
    return app


def checked(config: Config, body: dict[str, Any]) -> tuple[AppConfig, PushRequest]:
    """The app and request of a v1 body, every bad field (the app's name among them) in one
    message; an unknown app or platform in an otherwise good body is the original's 404."""
    try:
        app, unknown = find_app(config, body), None
    except NotFound as exc:
        app, unknown = None, exc
    if app is not None:
        return app, delivery.validate(app, body)
    _, errors = delivery.problems(None, body)
    if unknown is not None:
        key = "app-id" if "app-id" in unknown.data else "platform"
        errors.pop(key, None)  # said in the 404's words, which name the accepted platforms
        if not errors:
            raise unknown
        errors[key] = unknown.description
    raise invalid(errors)


def push(rt: Runtime, config: Config, body: dict[str, Any]) -> Answer:
    """v1 `POST /push`."""
    app, request = checked(config, body)
    job = delivery.new_job(app, request)
    if not config.server.return_async:
        return delivery.accept(rt, [job])
    [data] = delivery.settle(rt, [job], delivery.deliver([job]))
    description = "queued for retry" if data["code"] == 202 else "push notification response"
    return Answer(data["code"], description, data)
