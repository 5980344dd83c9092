"""The token store contract (API v2): device tokens per account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..models import Platform


@dataclass(frozen=True)
class Device:
    """One stored device of an account. Upsert key: (account, app_id, device_id)."""

    account: str
    app_id: str
    device_id: str
    platform: Platform
    token: str
    background_token: str | None = None
    silent: bool = True
    user_agent: str | None = None
    updated_at: float = 0.0


class TokenStore(Protocol):
    """Every backend (SQLite, DynamoDB, Keyspaces) passes tests/tokens/contract.py."""

    def upsert(self, device: Device) -> None:
        """Store `device`, replacing the one with the same (account, app_id, device_id)."""

    def remove(self, account: str, app_id: str, device_id: str) -> bool:
        """Forget one device; False when it was not stored."""

    def remove_if_token(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        """Forget a device only while it still has `token` (a dead token must not delete a
        device that re-registered with a new token in the meantime)."""

    def forget_background_if(self, account: str, app_id: str, device_id: str, token: str) -> bool:
        """Drop a device's background token only while it is still `token`; the device and
        its main token stay. False when the device is gone or has another one now."""

    def devices(self, account: str) -> list[Device]:
        """The account's devices, ordered by (app_id, device_id); [] when none."""
