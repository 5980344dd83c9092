"""App types: pure builders of what to push for a request (no I/O, no clock)."""

from .apple import select_token, split_token
from .base import AppType, PayloadTooLargeError
from .fitting import fit_payload
from .registry import BUILT_IN, AppTypes

__all__ = [
    "BUILT_IN",
    "AppType",
    "AppTypes",
    "PayloadTooLargeError",
    "fit_payload",
    "select_token",
    "split_token",
]
