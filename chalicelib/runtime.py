"""The adapters of this container, chosen from the settings in this one place."""

from __future__ import annotations

import threading
from functools import cached_property

from .config import ConfigSource
from .settings import Settings


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = ConfigSource(settings.config_dir, settings.config_check_interval)


_runtime: Runtime | None = None
_lock = threading.Lock()


def get() -> Runtime:
    """Built on first use and kept for the life of the warm container."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime(Settings.from_env())
    return _runtime


def reset(settings: Settings | None = None) -> Runtime:
    """A fresh runtime (tests, and a process that changed its environment)."""
    global _runtime
    with _lock:
        _runtime = Runtime(settings or Settings.from_env())
    return _runtime


__all__ = ["Runtime", "cached_property", "get", "reset"]
