"""Process settings from the environment, read and validated once per container.

Locally everything has an embedded default (config/ directory, SQLite tokens, in-process
retries). Any other stage is an AWS stage: its adapters are closed choices that never fall
back to SQLite or in-process retries, and every table or queue they need must be named.
Every problem is collected, so one answer names all that is missing.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_NAME = "rtc-pushserver"
LOCAL_STAGE = "local"
# No hyphen: "rtc-pushserver-dev-*" must not also match a stage called "dev-x".
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9]{0,15}")

TokenStoreKind = Literal["auto", "sqlite", "dynamodb", "keyspaces"]
RetryQueueKind = Literal["local", "sqs"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Flag = Literal["true", "false"]
LogFormat = Literal["json", "text"]  # text: readable lines for a terminal (make run / serve)
Choice = TypeVar("Choice", bound=str)


def deploy_stage(env: Mapping[str, str] = os.environ) -> str:
    """The Chalice stage this process belongs to (each stage sets STAGE)."""
    return env.get("STAGE") or LOCAL_STAGE


def gateway_api_keys(env: Mapping[str, str] = os.environ) -> bool:
    """API Gateway API keys required on every route (API_GATEWAY_KEYS=true in the stage):
    each caller's key in the stage's usage plan, with its quota."""
    return env.get("API_GATEWAY_KEYS", "").strip().lower() == "true"


def retry_queue_name(stage: str) -> str:
    """The stage's retry queue, named as infra/data.json names it."""
    return f"{APP_NAME}-{stage}-retries"


class SettingsError(ValueError):
    """Settings this container cannot work with; `problems` names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class PnsTimeouts:
    """Seconds: connecting to a PNS, waiting for its answer, and how long a connection may
    sit idle before it is replaced (across a Lambda freeze a silently dropped connection
    would otherwise cost the next push a full read timeout)."""

    connect: float = 3.0
    read: float = 5.0
    idle_reconnect: float = 600.0


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    config_ssm_path: str | None  # SSM parameter path holding general.ini / applications.ini
    data_dir: Path
    token_store: TokenStoreKind  # auto: keyspaces when general.ini names hosts, else sqlite
    tokens_table: str
    retry_queue: RetryQueueKind
    retry_queue_url: str
    config_check_interval: float
    api_key: str | None
    idempotency_table: str
    retry_delay_scale: float  # < 1 shortens in-process retry delays (demos and tests)
    cql: dict[str, str]  # CQL_* variables: port, credentials, Keyspaces region, CA file
    stage: str = LOCAL_STAGE
    log_level: LogLevel = "INFO"
    # The queue's mapping reports failed messages one by one (ReportBatchItemFailures). The
    # packaged template turns it on; chalice deploy cannot, so its stages say false.
    partial_batch_responses: bool = True
    log_format: LogFormat = "json"
    pns: PnsTimeouts = field(default_factory=PnsTimeouts)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SettingsError(problems)

    @property
    def on_aws(self) -> bool:
        return self.stage != LOCAL_STAGE

    def problems(self) -> list[str]:
        """What makes these settings unusable together (each value may be fine alone)."""
        found: list[str] = []
        stage = f"stage {self.stage}"
        if self.on_aws and self.token_store not in ("dynamodb", "keyspaces"):
            found.append(
                f"TOKEN_STORE must be dynamodb or keyspaces in {stage}, not {self.token_store}:"
                " SQLite would write into the function's read-only package"
            )
        if self.on_aws and self.retry_queue != "sqs":
            found.append(
                f"RETRY_QUEUE must be sqs in {stage}, not {self.retry_queue}:"
                " an in-process retry dies with the invocation"
            )
        if self.token_store == "dynamodb" and not self.tokens_table:
            found.append("TOKENS_TABLE is missing (TOKEN_STORE=dynamodb needs the table)")
        if self.retry_queue == "sqs" and not self.retry_queue_url:
            found.append("RETRY_QUEUE_URL is missing (RETRY_QUEUE=sqs needs the queue)")
        if self.on_aws and not self.idempotency_table:
            found.append(
                f"IDEMPOTENCY_TABLE is missing ({stage} keeps SQS redeliveries from pushing twice)"
            )
        return found

    def keyspaces_options(self) -> dict[str, Any]:
        region = self.cql.get("CQL_SIGV4_REGION")
        return {
            # unset: the store picks 9142 with TLS (always for Keyspaces), else 9042
            "port": int(self.cql["CQL_PORT"]) if self.cql.get("CQL_PORT") else None,
            "region": region,
            "sigv4": bool(region),
            "username": self.cql.get("CQL_USERNAME"),
            "password": self.cql.get("CQL_PASSWORD"),
            "ca_file": self.cql.get("CQL_CA_FILE"),
            "tls": self.cql.get("CQL_TLS", "").lower() in ("1", "true", "yes"),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of `env` (default: this process); SettingsError naming every problem."""
        read = _Reader(os.environ if env is None else env)
        stage = read.text("STAGE") or LOCAL_STAGE
        if not STAGE_PATTERN.fullmatch(stage):
            read.problems.append(f"STAGE {stage!r} must be 1-16 lower-case letters and digits")
        if stage == LOCAL_STAGE and read.text("AWS_LAMBDA_FUNCTION_NAME"):
            # running on Lambda without a stage would quietly take every local fallback
            read.problems.append("STAGE is missing: a Lambda function must name its stage")
            stage = "unnamed"
        if gateway_api_keys(read.env) and read.text("API_KEY"):
            # both would read x-api-key: one caller's gateway key would have to be the app's
            read.problems.append("API_KEY and API_GATEWAY_KEYS both check x-api-key: keep one")
        if read.text("CQL_PORT") and not read.text("CQL_PORT").isdigit():
            read.problems.append(f"CQL_PORT must be a port number, not {read.text('CQL_PORT')!r}")
        fields: dict[str, Any] = {
            "stage": stage,
            "config_dir": Path(read.text("CONFIG_DIR") or PROJECT_DIR / "config").resolve(),
            "config_ssm_path": read.text("CONFIG_SSM_PATH") or None,
            "data_dir": Path(read.text("DATA_DIR") or PROJECT_DIR / "var").resolve(),
            "token_store": read.choice("TOKEN_STORE", TokenStoreKind, "auto"),
            "tokens_table": read.text("TOKENS_TABLE"),
            "retry_queue": read.choice("RETRY_QUEUE", RetryQueueKind, "local"),
            "retry_queue_url": read.text("RETRY_QUEUE_URL"),
            "config_check_interval": read.number("CONFIG_CHECK_INTERVAL", 2),
            "api_key": read.text("API_KEY") or None,
            "idempotency_table": read.text("IDEMPOTENCY_TABLE"),
            "retry_delay_scale": read.number("RETRY_DELAY_SCALE", 1),
            "cql": {k: v for k, v in read.env.items() if k.startswith("CQL_") and v},
            "log_level": read.choice("LOG_LEVEL", LogLevel, "INFO"),
            "partial_batch_responses": read.choice("RETRY_PARTIAL_BATCH", Flag, "true") == "true",
            "log_format": read.choice("LOG_FORMAT", LogFormat, "json"),
            "pns": PnsTimeouts(
                connect=read.number("PNS_CONNECT_TIMEOUT", PnsTimeouts.connect, positive=True),
                read=read.number("PNS_READ_TIMEOUT", PnsTimeouts.read, positive=True),
                idle_reconnect=read.number("PNS_IDLE_RECONNECT", PnsTimeouts.idle_reconnect),
            ),
        }
        try:
            settings = cls(**fields)
        except SettingsError as exc:
            raise SettingsError(read.problems + exc.problems) from None
        if read.problems:
            raise SettingsError(read.problems)
        return settings


class _Reader:
    """Reads variables, noting every unusable value instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str:
        return self.env.get(name, "").strip()

    def choice(self, name: str, kind: Any, default: Choice) -> Choice:
        choices: tuple[str, ...] = get_args(kind)
        raw = self.text(name) or default
        value = raw.upper() if default.isupper() else raw.lower()
        if value in choices:
            return cast(Choice, value)
        self.problems.append(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
        return default

    def number(self, name: str, default: float, positive: bool = False) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and (value > 0 if positive else value >= 0):
            return value
        bound = "above 0" if positive else "0 or more"
        self.problems.append(f"{name} must be a number {bound}, not {raw!r}")
        return default
