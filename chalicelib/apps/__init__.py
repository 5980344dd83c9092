"""App types: pure builders of what to push for a request (no I/O, no clock)."""

from .apple import select_token, split_token
from .base import AppType, PayloadTooLargeError
from .fitting import fit_payload
from .registry import APP_TYPES, app_type

__all__ = [
    "APP_TYPES",
    "AppType",
    "PayloadTooLargeError",
    "app_type",
    "fit_payload",
    "select_token",
    "split_token",
]
