"""The app types by name, as `app_type` in applications.ini names them."""

from __future__ import annotations

from .base import AppType
from .linphone import Linphone
from .sylk import Sylk

# Plug-in app types are added here at config load.
APP_TYPES: dict[str, AppType] = {"sylk": Sylk(), "linphone": Linphone()}


def app_type(name: str) -> AppType:
    """The app type called `name` (case-insensitive, as the original's module lookup)."""
    found = APP_TYPES.get(name.strip().lower())
    if found is None:
        known = ", ".join(sorted(APP_TYPES))
        raise ValueError(f"unknown app type {name!r} (known: {known})")
    return found
