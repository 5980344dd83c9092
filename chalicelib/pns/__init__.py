"""Warm push services, one per app, kept for the life of the container."""

from __future__ import annotations

import threading

from ..config import AppConfig
from ..errors import ConfigError
from .base import Outcome, PushService, Verdict, send_many

__all__ = ["Outcome", "PushService", "Verdict", "close_all", "send_many", "service_for"]

_services: dict[tuple[str, str], PushService] = {}
_lock = threading.Lock()


def _create(app: AppConfig) -> PushService:
    if app.platform == "apple":
        from .apns import ApnsService

        return ApnsService(app)
    from .fcm import FcmService

    return FcmService(app)


def service_for(app: AppConfig) -> PushService:
    """The app's service; rebuilt when its configuration or credential files changed.
    ConfigError when its credentials cannot be used."""
    key = (app.app_id, app.platform)
    service = _services.get(key)
    if service is not None and service.app == app:
        return service
    with _lock:
        service = _services.get(key)
        if service is not None and service.app == app:
            return service
        try:
            fresh = _create(app)
        except (ConfigError, ValueError, OSError) as exc:
            raise ConfigError(f"credentials of [{app.section}] are not usable: {exc}") from None
        if service is not None:
            service.close()
        _services[key] = fresh
        return fresh


def close_all() -> None:
    """Close every warm service (their next use reconnects)."""
    with _lock:
        for service in _services.values():
            service.close()
        _services.clear()
