"""Custom app types: `<extra_applications_dir>/<app_type>.py` defining `APP_TYPE`.

`APP_TYPE` is an object with the AppType protocol (base.py): `name`, `check(request)` and
`build(request, *, deadline, now) -> Notification`. The simplest plug-in subclasses a
built-in one (`chalicelib.apps.sylk.Sylk`) and changes what it needs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .base import AppType


def load_plugin(name: str, directory: Path) -> AppType | None:
    """App type `name` read from `directory` (a fresh module each call, kept nowhere else);
    None when no such file exists. ValueError when the file is there but unusable."""
    path = directory / f"{name}.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"rtc_pushserver_app_{name}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the operator's code: report it, never crash the others
        raise ValueError(f"{path} failed to load: {type(exc).__name__}: {exc}") from None
    app_type = getattr(module, "APP_TYPE", None)
    if not all(callable(getattr(app_type, m, None)) for m in ("check", "build")):
        raise ValueError(f"{path} must define APP_TYPE with check() and build()")
    return app_type
