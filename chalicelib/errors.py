"""Errors that end a request, each with the HTTP status of its answer."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the caller in the response envelope."""

    status = 500

    def __init__(self, description: str, data: dict[str, Any] | list[Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.data: dict[str, Any] | list[Any] = data if data is not None else {}


class InvalidRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    """Unknown app, platform, account or device."""

    status = 404


class PayloadTooLarge(ApiError):
    status = 413


class StorageUnavailable(ApiError):
    """The token store could not be reached; nothing was changed."""

    status = 503


class ConfigError(Exception):
    """A configuration file or an app section that cannot be used."""
