"""The app types a config can name: the built-in ones, and plug-ins read for one load."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from .base import AppType
from .linphone import Linphone
from .plugins import load_plugin
from .sylk import Sylk

BUILT_IN: Mapping[str, AppType] = MappingProxyType({"sylk": Sylk(), "linphone": Linphone()})
# An app type names a module in extra_applications_dir: never a path, never `..`.
PLAIN_NAME = re.compile(r"[a-z0-9_]+")


class AppTypes:
    """The app types of one config load: the built-in ones, then plug-ins from `directory`,
    each read once per load, so an edited plug-in is read again and a removed one is gone."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._known: dict[str, AppType] = dict(BUILT_IN)

    def get(self, name: str) -> AppType:
        """The app type `name` names (already lower-case). ValueError says why there is none."""
        found = self._known.get(name)
        if found is not None:
            return found
        if not PLAIN_NAME.fullmatch(name):
            raise ValueError(
                f"app_type {name!r} must be a plain name (letters, digits and _), not a path"
            )
        plugin = load_plugin(name, self._directory) if self._directory else None
        if plugin is None:
            raise ValueError(
                f"app_type {name!r} is not one of {', '.join(sorted(BUILT_IN))}, nor a file "
                f"{name}.py in {self._directory}"
            )
        self._known[name] = plugin
        return plugin
