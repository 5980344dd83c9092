"""Credential files: local paths or `secretsmanager:<secret-id>` references.

A reference is resolved once to bytes and cached with a max age, so a rotated secret is
picked up without a redeploy while a warm container does not call Secrets Manager per push.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError

SECRET_PREFIX = "secretsmanager:"
SECRET_MAX_AGE = 300.0

_cache: dict[str, tuple[float, bytes]] = {}
_files: dict[str, tuple[bytes, str]] = {}
_stale: set[str] = set()  # secrets to fetch past Powertools' own cache


def resolve(reference: str, base: Path) -> str:
    """An absolute path, or the secret reference unchanged."""
    if reference.startswith(SECRET_PREFIX):
        return reference
    path = Path(reference).expanduser()
    return str(path if path.is_absolute() else base / path)


def is_secret(reference: str) -> bool:
    return reference.startswith(SECRET_PREFIX)


def read(reference: str) -> bytes:
    """The credential's content; ConfigError when it cannot be read."""
    cached = _cache.get(reference)
    if cached and time.monotonic() - cached[0] < SECRET_MAX_AGE:
        return cached[1]
    try:
        data = _read_secret(reference) if is_secret(reference) else Path(reference).read_bytes()
        _stale.discard(reference)
    except OSError as exc:
        raise ConfigError(f"cannot read {reference}: {exc.strerror or exc}") from None
    _cache[reference] = (time.monotonic(), data)
    return data


def as_file(reference: str) -> str:
    """A file path holding the credential (ssl wants files): secrets go to a private temp
    file, written again only when the secret changed."""
    if not is_secret(reference):
        return reference
    data = read(reference)
    written = _files.get(reference)
    if written and written[0] == data and Path(written[1]).exists():
        return written[1]
    fd, path = tempfile.mkstemp(prefix="cred-", suffix=".pem")  # mode 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if written:
        Path(written[1]).unlink(missing_ok=True)
    _files[reference] = (data, path)
    return path


def forget(reference: str) -> None:
    """Read it afresh next time (after the PNS refused it: it may have been rotated)."""
    _cache.pop(reference, None)
    _stale.add(reference)


def read_json(reference: str) -> dict[str, Any]:
    try:
        value = json.loads(read(reference))
    except ValueError:
        raise ConfigError(f"{reference} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{reference} is not a JSON object")
    return value


def stamp(reference: str) -> float:
    """Modification time of a local credential (0 for secrets and missing files)."""
    if is_secret(reference):
        return 0.0
    try:
        return Path(reference).stat().st_mtime
    except OSError:
        return 0.0


def _read_secret(reference: str) -> bytes:
    from aws_lambda_powertools.utilities import parameters

    name = reference.removeprefix(SECRET_PREFIX)
    try:
        force = reference in _stale
        value = parameters.get_secret(name, max_age=int(SECRET_MAX_AGE), force_fetch=force)
    except Exception as exc:
        raise ConfigError(f"cannot read secret {name}: {exc}") from None
    return value.encode() if isinstance(value, str) else bytes(value)
