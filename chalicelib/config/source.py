"""The configuration of this container, re-read when its files change.

Modification times are checked at most every `check_interval` seconds, so a warm push does
not stat files, and an edited applications.ini applies without a restart or redeploy (as the
original's auto-reload did). A reload that fails keeps the previous configuration.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..audit import logger as log
from ..errors import ConfigError
from .loader import load
from .model import Config


class ConfigSource:
    """A config directory, loaded on first use and reloaded when it changes.

    With `ssm_path`, the files are SSM parameters under that path (`<path>/general.ini`,
    `<path>/applications.ini`), copied into `config_dir` when they change: an operator edits
    a parameter and every container picks it up within `check_interval`, no redeploy.
    """

    def __init__(
        self, config_dir: Path, check_interval: float = 2.0, ssm_path: str | None = None
    ) -> None:
        self.config_dir = config_dir
        self.check_interval = check_interval
        self.ssm_path = ssm_path
        self._config: Config | None = None
        self._stamp: tuple[float, ...] = ()
        self._checked = 0.0
        self._lock = threading.Lock()
        self.error: str | None = None

    def get(self) -> Config:
        now = time.monotonic()
        if self._config is not None and now - self._checked < self.check_interval:
            return self._config
        with self._lock:
            self._checked = now
            if self.ssm_path:
                self._pull_ssm(self.ssm_path)
            stamp = self._files_stamp()
            if self._config is None or stamp != self._stamp:
                self._reload(stamp)
            assert self._config is not None
            return self._config

    def _reload(self, stamp: tuple[float, ...]) -> None:
        try:
            config = load(self.config_dir)
        except ConfigError as exc:
            self.error = str(exc)
            log.error("configuration not loaded", extra={"reason": str(exc)})
            if self._config is None:
                raise
            return
        self._config, self._stamp, self.error = config, stamp, None
        if config.server.debug:  # general.ini [server] debug = true, as in the original
            log.setLevel("DEBUG")
        for name, reason in config.broken.items():
            log.warning("app not available", extra={"section": name, "reason": reason})
        for warning in config.warnings:
            log.warning("configuration warning", extra={"reason": warning})

    def _pull_ssm(self, path: str) -> None:
        """Copy the parameters that changed; on failure keep what is there."""
        from aws_lambda_powertools.utilities import parameters

        try:
            values = parameters.get_parameters(path, decrypt=True, force_fetch=True)
        except Exception as exc:  # SSM unreachable or denied: the last good copy stays
            self.error = f"SSM parameters under {path} not read: {exc}"
            log.error("configuration not refreshed", extra={"reason": self.error})
            if self._config is None:
                raise ConfigError(self.error) from None
            return
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            target = self.config_dir / Path(name).name
            text = str(value)
            if not target.exists() or target.read_text() != text:
                target.write_text(text)

    def _files_stamp(self) -> tuple[float, ...]:
        """mtimes of general.ini, the applications file, the credentials directory and the
        plug-in app types (an edited, added or removed plug-in reloads the config)."""
        paths = [self.config_dir / "general.ini"]
        if self._config is not None:
            server = self._config.server
            paths += [server.applications_file, server.credentials_dir]
            if server.extra_applications_dir is not None:
                plugins = server.extra_applications_dir
                paths += [plugins, *sorted(plugins.glob("*.py"))]
        else:
            paths += [self.config_dir / "applications.ini", self.config_dir / "credentials"]
        stamps = []
        for path in paths:
            try:
                stamps.append(path.stat().st_mtime)
            except OSError:
                stamps.append(0.0)
        return tuple(stamps)
