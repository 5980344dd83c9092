"""Read general.ini and applications.ini in the original's format, plus our extensions.

A broken app section is recorded with its reason and skipped; the other apps still load.
"""

from __future__ import annotations

import configparser
import ipaddress
import math
import re
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from .. import credentials
from ..apps.registry import AppTypes
from ..errors import ConfigError
from ..models import normalize_platform
from .model import CALL_DEADLINE, MESSAGE_DEADLINE, AppConfig, Config, Network, ServerConfig

LEGACY_FCM = (
    "the legacy FCM API was shut down by Google in 2024; use firebase_authorization_file "
    "(a service-account JSON) for FCM HTTP v1"
)
# Four weeks: FCM's longest time to live; no push is worth more after that.
MAX_SECONDS = 28 * 24 * 3600
# An app id becomes the APNs topic, an HTTP/2 header value sent unchecked (pns/connection.py):
# printable ASCII without blanks, as bundle ids and package names are
APP_ID = re.compile(r"[!-~]+")
APP_OPTIONS = frozenset(
    {
        "app_id",
        "app_type",
        "app_platform",
        "apple_push_url",
        "apple_certificate",
        "apple_key",
        "key_id",
        "team_id",
        "voip",
        "firebase_push_url",
        "firebase_authorization_key",
        "firebase_authorization_file",
        "tls_ca_file",
        "log_remote_urls",
        "log_remote_key",
        "log_remote_timeout",
        "log_key",
        "log_time_out",
        "call_deadline",
        "message_deadline",
    }
)


def _parser() -> configparser.RawConfigParser:
    return configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _networks(value: str) -> tuple[Network, ...]:
    nets: list[Network] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"allowed_hosts: {item!r} is not an IP address or network") from None
    return tuple(nets)


def load_server(config_dir: Path, warnings: list[str]) -> ServerConfig:
    """general.ini; absent means defaults, as in the original."""
    parser = _parser()
    path = config_dir / "general.ini"
    if path.exists():
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"general.ini: {exc}") from None

    def get(section: str, option: str, default: str = "") -> str:
        return parser.get(section, option, fallback=default).strip()

    if get("server", "tls_certificate"):
        warnings.append("general.ini: tls_certificate is ignored; TLS ends at API Gateway")
    apps_file = Path(get("applications", "config_file", "applications.ini"))
    apps_file = apps_file if apps_file.is_absolute() else config_dir / apps_file
    creds = Path(get("applications", "credentials_folder", "credentials"))
    extra = Path(get("applications", "extra_applications_dir", "applications"))
    return ServerConfig(
        config_dir=config_dir,
        credentials_dir=creds if creds.is_absolute() else config_dir / creds,
        applications_file=apps_file,
        extra_applications_dir=extra if extra.is_absolute() else config_dir / extra,
        return_async=_flag(get("server", "return_async"), True),
        allowed_hosts=_networks(get("server", "allowed_hosts")),
        api_key=get("server", "api_key") or None,
        debug=_flag(get("server", "debug"), False),
        cassandra_contact_points=tuple(
            filter(None, (p.strip() for p in get("Cassandra", "cluster_contact_points").split(",")))
        ),
        cassandra_keyspace=get("Cassandra", "keyspace"),
        cassandra_table=get("Cassandra", "table") or "push_tokens",
    )


def _https_url(option: str, value: str) -> SplitResult:
    """An https URL with a host and, if any, a valid port."""
    parts = urlsplit(value)
    try:
        valid = parts.scheme == "https" and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or out of range
        valid = False
    if not valid:
        raise ConfigError(f"{option} {value!r} is not a valid https URL")
    return parts


def _https_base(value: str) -> str:
    """`api.push.apple.com` (the original's host-only form) or a full URL with a port."""
    url = value if "://" in value else f"https://{value}"
    return f"https://{_https_url('apple_push_url', url).netloc}"


def _seconds(section: configparser.SectionProxy, option: str, default: float) -> float:
    raw = section.get(option, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{option} must be a number of seconds, not {raw!r}") from None
    # inf/nan parse as floats; a push would then fail after its retry was queued
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise ConfigError(f"{option} must be more than 0 and at most {MAX_SECONDS} seconds")
    return value


def _credential(section: configparser.SectionProxy, option: str, base: Path) -> str | None:
    raw = section.get(option, "").strip()
    if not raw:
        return None
    ref = credentials.resolve(raw, base)
    if not credentials.is_secret(ref) and not Path(ref).is_file():
        raise ConfigError(f"{option}: file {ref} not found")
    return ref


def load_app(
    name: str, section: configparser.SectionProxy, server: ServerConfig, app_types: AppTypes
) -> AppConfig:
    """One applications.ini section; ConfigError says why it cannot be used."""
    missing = [k for k in ("app_id", "app_type", "app_platform") if not section.get(k, "").strip()]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)}")
    if not APP_ID.fullmatch(section["app_id"].strip()):
        raise ConfigError(f"app_id {section['app_id'].strip()!r}: printable ASCII, no blanks")
    platform = normalize_platform(section["app_platform"])
    if platform is None:
        raise ConfigError(f"app_platform {section['app_platform']!r} is not apple or firebase")
    app_type = section["app_type"].strip().lower()
    try:
        builder = app_types.get(app_type)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    base = server.credentials_dir
    ca = _credential(section, "tls_ca_file", base)
    remote_urls = tuple(
        filter(None, (u.strip() for u in section.get("log_remote_urls", "").split(",")))
    )
    remote_key = section.get("log_remote_key", "").strip() or section.get("log_key", "").strip()
    timeout_option = "log_remote_timeout" if "log_remote_timeout" in section else "log_time_out"
    common = {
        "section": name,
        "app_id": section["app_id"].strip(),
        "app_type": app_type,
        "builder": builder,
        "platform": platform,
        "tls_ca_file": ca,
        "log_remote_urls": remote_urls,
        "log_remote_key": remote_key or None,
        "log_remote_timeout": _seconds(section, timeout_option, 2.0),
        "call_deadline": _seconds(section, "call_deadline", CALL_DEADLINE),
        "message_deadline": _seconds(section, "message_deadline", MESSAGE_DEADLINE),
    }
    if platform == "apple":
        url = section.get("apple_push_url", "").strip()
        if not url:
            raise ConfigError("missing apple_push_url")
        cert = _credential(section, "apple_certificate", base)
        key = _credential(section, "apple_key", base)
        key_id = section.get("key_id", "").strip() or None
        team_id = section.get("team_id", "").strip() or None
        if bool(key_id) != bool(team_id):
            raise ConfigError("token auth needs both key_id and team_id")
        if key_id and not key:
            raise ConfigError("token auth needs apple_key (the .p8 file)")
        if not key_id and not cert:
            raise ConfigError(
                "set apple_certificate (certificate auth) or key_id, team_id and apple_key"
            )
        refs = [r for r in (cert, key, ca) if r]
        return AppConfig(
            **common,  # type: ignore[arg-type]
            push_url=_https_base(url),
            certificate=None if key_id else cert,
            key=key,
            key_id=key_id,
            team_id=team_id,
            credentials_stamp=tuple(credentials.stamp(r) for r in refs),
        )
    if section.get("firebase_authorization_key", "").strip():
        raise ConfigError(LEGACY_FCM)
    account = _credential(section, "firebase_authorization_file", base)
    if not account:
        raise ConfigError("missing firebase_authorization_file (service-account JSON)")
    url = section.get("firebase_push_url", "").strip()
    if url.rstrip("/").endswith("/fcm/send"):
        raise ConfigError(LEGACY_FCM)
    if not url:
        project = (
            credentials.read_json(account).get("project_id")
            if not credentials.is_secret(account)
            else None
        )
        if not project:
            raise ConfigError("missing firebase_push_url")
        url = f"https://fcm.googleapis.com/v1/projects/{project}/messages:send"
    _https_url("firebase_push_url", url)
    refs = [r for r in (account, ca) if r]
    return AppConfig(
        **common,  # type: ignore[arg-type]
        push_url=url,
        service_account=account,
        credentials_stamp=tuple(credentials.stamp(r) for r in refs),
    )


def load(config_dir: Path) -> Config:
    """The whole configuration; ConfigError only when general.ini itself is unusable."""
    warnings: list[str] = []
    server = load_server(config_dir, warnings)
    config = Config(server=server, warnings=warnings)
    app_types = AppTypes(server.extra_applications_dir)
    parser = _parser()
    if not server.applications_file.exists():
        warnings.append(f"{server.applications_file} not found: no apps configured")
        return config
    try:
        parser.read(server.applications_file, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{server.applications_file.name}: {exc}") from None
    for name in parser.sections():
        section = parser[name]
        unknown = sorted(set(section) - APP_OPTIONS)
        if unknown:
            warnings.append(f"[{name}] unknown options ignored: {', '.join(unknown)}")
        try:
            app = load_app(name, section, server, app_types)
        except ConfigError as exc:
            config.broken[name] = str(exc)
            continue
        key = (app.app_id, app.platform)
        if key in config.apps:
            warnings.append(
                f"[{name}] replaces [{config.apps[key].section}] for {app.app_id} ({app.platform})"
            )
        config.apps[key] = app
    return config
