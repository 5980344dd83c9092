"""Process settings from the environment: where config lives and which adapters to use.

Locally everything has an embedded default (config/ directory, SQLite tokens, in-process
retries); a Chalice stage sets the AWS adapters through its environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_NAME = "rtc-pushserver"


def deploy_stage(env: Mapping[str, str] = os.environ) -> str:
    """The Chalice stage this process belongs to (each stage sets STAGE)."""
    return env.get("STAGE") or "local"


def retry_queue_name(stage: str) -> str:
    """The stage's retry queue, named as infra/data.json names it."""
    return f"{APP_NAME}-{stage}-retries"


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    config_ssm_path: str | None  # SSM parameter path holding general.ini / applications.ini
    data_dir: Path
    # "sqlite" | "dynamodb" | "keyspaces" | "auto" (keyspaces when general.ini names hosts)
    token_store: str
    tokens_table: str
    retry_queue: str  # "local" | "sqs"
    retry_queue_url: str
    config_check_interval: float
    api_key: str | None
    idempotency_table: str
    retry_delay_scale: float  # < 1 shortens in-process retry delays (demos and tests)
    cql: dict[str, str]  # CQL_* variables: port, credentials, Keyspaces region, CA file

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
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            config_dir=Path(env.get("CONFIG_DIR") or PROJECT_DIR / "config").resolve(),
            config_ssm_path=env.get("CONFIG_SSM_PATH") or None,
            data_dir=Path(env.get("DATA_DIR") or PROJECT_DIR / "var").resolve(),
            token_store=env.get("TOKEN_STORE", "auto").lower(),
            tokens_table=env.get("TOKENS_TABLE", "rtc-push-tokens"),
            retry_queue=env.get("RETRY_QUEUE", "local").lower(),
            retry_queue_url=env.get("RETRY_QUEUE_URL", ""),
            config_check_interval=float(env.get("CONFIG_CHECK_INTERVAL", "2")),
            api_key=env.get("API_KEY") or None,
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            retry_delay_scale=float(env.get("RETRY_DELAY_SCALE", "1")),
            cql={k: v for k, v in env.items() if k.startswith("CQL_") and v},
        )
