"""The loaded configuration: server options, apps, and what could not be used."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..models import Platform

if TYPE_CHECKING:  # annotation only: loading a config model loads no app type
    from ..apps.base import AppType

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ApnsAuth = Literal["certificate", "token"]

CALL_DEADLINE = 64.0
MESSAGE_DEADLINE = 3600.0


@dataclass(frozen=True)
class ServerConfig:
    """general.ini `[server]` and `[applications]`."""

    config_dir: Path
    credentials_dir: Path
    applications_file: Path
    extra_applications_dir: Path | None = None  # custom app types (apps/plugins.py)
    return_async: bool = True
    allowed_hosts: tuple[Network, ...] = ()
    api_key: str | None = None
    debug: bool = False
    cassandra_contact_points: tuple[str, ...] = ()
    cassandra_keyspace: str = ""
    cassandra_table: str = "push_tokens"


@dataclass(frozen=True)
class AppConfig:
    """One usable section of applications.ini."""

    section: str
    app_id: str
    app_type: str  # its name, as applications.ini gives it
    # the app type itself, as this config loaded it (a plug-in is read again with the config)
    builder: AppType = field(compare=False, repr=False)
    platform: Platform
    push_url: str  # APNs: https://host[:port]; FCM: the full messages:send URL
    tls_ca_file: str | None = None
    # APNs
    certificate: str | None = None  # PEM client cert (may hold the key too)
    key: str | None = None  # PEM key (certificate auth) or .p8 (token auth)
    key_id: str | None = None
    team_id: str | None = None
    # FCM
    service_account: str | None = None
    # audit
    log_remote_urls: tuple[str, ...] = ()
    log_remote_key: str | None = None
    log_remote_timeout: float = 2.0
    # retry deadlines, seconds
    call_deadline: float = CALL_DEADLINE
    message_deadline: float = MESSAGE_DEADLINE
    # changes when a credential file changes, so warm clients are rebuilt
    credentials_stamp: tuple[float, ...] = ()

    @property
    def apns_auth(self) -> ApnsAuth:
        return "token" if self.key_id and self.team_id else "certificate"

    def deadline(self, event: str) -> float:
        """Seconds a push of `event` stays worth delivering."""
        return self.message_deadline if event in ("message", "transfer") else self.call_deadline


@dataclass
class Config:
    server: ServerConfig
    apps: dict[tuple[str, Platform], AppConfig] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # section -> reason
    warnings: list[str] = field(default_factory=list)

    def app(self, app_id: str, platform: Platform) -> AppConfig | None:
        return self.apps.get((app_id, platform))
