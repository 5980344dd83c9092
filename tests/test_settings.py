"""Settings: the adapters chosen from the environment in one place."""

from __future__ import annotations

from pathlib import Path

from chalicelib.api import reset_runtime
from chalicelib.settings import Settings
from chalicelib.tokens.sqlite import SqliteTokenStore


def test_defaults_need_no_account_anywhere(tmp_path: Path) -> None:
    settings = Settings.from_env({"CONFIG_DIR": str(tmp_path), "DATA_DIR": str(tmp_path / "d")})
    assert (settings.token_store, settings.retry_queue) == ("auto", "local")
    runtime = reset_runtime(settings)
    assert isinstance(runtime.tokens, SqliteTokenStore)
    assert type(runtime.retry_queue).__name__ == "LocalRetryQueue"


def test_keyspaces_options_follow_the_cql_variables() -> None:
    keyspaces = Settings.from_env({"CQL_SIGV4_REGION": "eu-west-1"}).keyspaces_options()
    assert (keyspaces["sigv4"], keyspaces["region"]) == (True, "eu-west-1")
    cassandra = Settings.from_env({"CQL_USERNAME": "u", "CQL_TLS": "1"}).keyspaces_options()
    assert (cassandra["sigv4"], cassandra["port"], cassandra["tls"]) == (False, None, True)
    assert Settings.from_env({"CQL_PORT": "9043"}).keyspaces_options()["port"] == 9043
    assert cassandra["username"] == "u"
