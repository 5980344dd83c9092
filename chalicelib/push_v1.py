"""API v1 use case: one push to the one token the request names."""

from __future__ import annotations

from typing import Any

from . import delivery
from .answers import Answer
from .config import AppConfig, Config
from .errors import NotFound
from .models import invalid, normalize_platform, present
from .runtime import Runtime


def find_app(config: Config, body: dict[str, Any]) -> AppConfig:
    """The app a v1 request names: 404 for an unknown platform or app, as the original."""
    body = present(body)
    app_id, platform = body.get("app-id", body.get("app_id")), body.get("platform")
    errors = {}
    if not isinstance(app_id, str) or not app_id:
        errors["app-id"] = (
            "Field required" if app_id in (None, "") else "Input should be a valid string"
        )
    if not isinstance(platform, str) or not platform:
        errors["platform"] = (
            "Field required" if platform in (None, "") else "Input should be a valid string"
        )
    if errors:
        raise invalid(errors)
    assert isinstance(app_id, str) and isinstance(platform, str)
    normalized = normalize_platform(platform)
    if normalized is None:
        raise NotFound(f"'{platform}' platform is not configured", {"platform": platform})
    app = config.app(app_id, normalized)
    if app is None:
        raise NotFound(
            f"{normalized.capitalize()} {app_id} app is not configured",
            {"app-id": app_id, "platform": normalized},
        )
    return app


def push(rt: Runtime, config: Config, body: dict[str, Any]) -> Answer:
    """v1 `POST /push`."""
    app = find_app(config, body)
    job = delivery.new_job(app, delivery.validate(app, body))
    if not config.server.return_async:
        return delivery.accept(rt, [job])
    [data] = delivery.settle(rt, [job], delivery.deliver([job]))
    description = "queued for retry" if data["code"] == 202 else "push notification response"
    return Answer(data["code"], description, data)
