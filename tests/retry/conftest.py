"""AWS clients for the retry tests, on the session's moto server (tests/aws.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def sqs(moto_server: str) -> Any:
    import boto3

    return boto3.client("sqs")


@pytest.fixture
def dynamodb(moto_server: str) -> Any:
    import boto3

    return boto3.client("dynamodb")
