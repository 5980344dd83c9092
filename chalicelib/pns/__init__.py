"""Warm push services, one per app, kept for the life of the container."""

from __future__ import annotations

import threading
import time

from .. import credentials
from ..config import AppConfig
from ..errors import ConfigError
from ..settings import PnsTimeouts
from . import base
from .base import Outcome, PushService, Verdict, send_many

__all__ = [
    "Outcome",
    "PushService",
    "Verdict",
    "close_all",
    "configure",
    "reload_credentials_if_refused",
    "send_many",
    "service_for",
]

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


def configure(timeouts: PnsTimeouts) -> None:
    """The container's PNS timeouts, from its settings; services built from now on use them."""
    if base.timeouts != timeouts:
        base.timeouts = timeouts
        close_all()


def close_all() -> None:
    """Close every warm service (their next use reconnects)."""
    with _lock:
        for service in _services.values():
            service.close()
        _services.clear()


# A PNS refusing the app's own credentials: the certificate, key or service account may have
# been rotated in Secrets Manager since this container read it.
CREDENTIAL_REASONS = (
    "BadCertificate",
    "InvalidProviderToken",
    "UnrelatedKeyIdInToken",  # a connection is bound to its first key: start new ones
    "invalid_grant",
    "UNAUTHENTICATED",
)
REFETCH_INTERVAL = 60.0
_refetched: dict[tuple[str, str], float] = {}


def reload_credentials_if_refused(app: AppConfig, outcome: Outcome) -> bool:
    """After such a refusal, rebuild the app's service from freshly read credentials (at most
    once a minute per app). True when it did."""
    if outcome.verdict is not Verdict.REJECTED or not any(
        reason in outcome.reason for reason in CREDENTIAL_REASONS
    ):
        return False
    key = (app.app_id, app.platform)
    now = time.monotonic()
    if now - _refetched.get(key, -REFETCH_INTERVAL) < REFETCH_INTERVAL:
        return False
    _refetched[key] = now
    for reference in (app.certificate, app.key, app.service_account, app.tls_ca_file):
        if reference:
            credentials.forget(reference)
    with _lock:
        service = _services.pop(key, None)
    if service is not None:
        service.close()
    return True
