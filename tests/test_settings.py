"""Settings: the adapters chosen from the environment in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.api import reset_runtime
from chalicelib.settings import Settings, SettingsError
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


AWS_STAGE = {"STAGE": "prod", "TOKEN_STORE": "dynamodb", "RETRY_QUEUE": "sqs"}
COMPLETE = {
    **AWS_STAGE,
    "TOKENS_TABLE": "rtc-pushserver-prod-tokens",
    "RETRY_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/rtc-pushserver-prod-retries",
    "IDEMPOTENCY_TABLE": "rtc-pushserver-prod-idempotency",
}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value.problems


def test_an_aws_stage_names_every_missing_table_and_queue() -> None:
    found = problems(AWS_STAGE)
    assert [p.split()[0] for p in found] == ["TOKENS_TABLE", "RETRY_QUEUE_URL", "IDEMPOTENCY_TABLE"]
    settings = Settings.from_env(COMPLETE)
    assert (settings.stage, settings.on_aws, settings.token_store) == ("prod", True, "dynamodb")


def test_an_aws_stage_never_falls_back_to_local_adapters() -> None:
    found = problems({**COMPLETE, "TOKEN_STORE": "auto", "RETRY_QUEUE": "local"})
    assert found[0].startswith("TOKEN_STORE must be dynamodb or keyspaces in stage prod")
    assert found[1].startswith("RETRY_QUEUE must be sqs in stage prod")
    assert len(found) == 2
    # nor does a Lambda function that forgot its stage
    found = problems({**COMPLETE, "STAGE": "", "AWS_LAMBDA_FUNCTION_NAME": "fn"})
    assert "STAGE is missing: a Lambda function must name its stage" in found


def test_choices_are_closed_and_numbers_checked() -> None:
    found = problems(
        {
            "TOKEN_STORE": "redis",
            "RETRY_QUEUE": "SQS ",  # case and spaces do not matter: the URL is missing
            "LOG_LEVEL": "verbose",
            "PNS_READ_TIMEOUT": "0",
            "PNS_CONNECT_TIMEOUT": "soon",
            "CONFIG_CHECK_INTERVAL": "-1",
            "STAGE": "Prod-1",
            "CQL_PORT": "cql",
        }
    )
    assert found == [
        "STAGE 'Prod-1' must be 1-16 lower-case letters and digits",
        "CQL_PORT must be a port number, not 'cql'",
        "TOKEN_STORE must be one of auto, sqlite, dynamodb, keyspaces, not 'redis'",
        "CONFIG_CHECK_INTERVAL must be a number 0 or more, not '-1'",
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'verbose'",
        "PNS_CONNECT_TIMEOUT must be a number above 0, not 'soon'",
        "PNS_READ_TIMEOUT must be a number above 0, not '0'",
        "TOKEN_STORE must be dynamodb or keyspaces in stage Prod-1, not auto:"
        " SQLite would write into the function's read-only package",
        "RETRY_QUEUE_URL is missing (RETRY_QUEUE=sqs needs the queue)",
        "IDEMPOTENCY_TABLE is missing (stage Prod-1 keeps SQS redeliveries from pushing twice)",
    ]
    settings = Settings.from_env({"PNS_READ_TIMEOUT": "1.5", "LOG_LEVEL": "debug"})
    assert (settings.pns.read, settings.pns.connect, settings.log_level) == (1.5, 3.0, "DEBUG")


def test_gateway_keys_and_the_app_key_cannot_both_check_x_api_key() -> None:
    found = problems({"API_GATEWAY_KEYS": "true", "API_KEY": "s3cret"})
    assert found == ["API_KEY and API_GATEWAY_KEYS both check x-api-key: keep one"]
    assert Settings.from_env({"API_GATEWAY_KEYS": "true"}).api_key is None
