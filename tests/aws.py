"""moto in server mode for the whole test session: boto3 talks real HTTP to it.

Use as a plugin (`pytest_plugins = ["tests.aws"]` in a conftest) or import the fixture into a
test module (`from tests.aws import moto_server  # noqa: F401`).
"""

from __future__ import annotations

import logging
import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    # Hermetic: no profile or file of the developer's machine can redirect or sign requests.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# Variables that would win over ours (session credentials, service-specific endpoints).
_SHADOWING = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


# The endpoint of the running server. The fixture can be registered twice (as a plugin from
# a conftest and imported into a test module to run it standalone): the second one reuses the
# first's server instead of starting another and repointing the environment mid-session.
_running: list[str] = []


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto on a free loopback port, point boto3 at it through the environment (restored
    afterwards) and yield its endpoint URL."""
    if _running:
        yield _running[-1]
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        with pytest.MonkeyPatch.context() as patch:
            for name in [
                *_SHADOWING,
                *(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")),
            ]:
                patch.delenv(name, raising=False)
            for name, value in FAKE_ENV.items():
                patch.setenv(name, value)
            patch.setenv("AWS_ENDPOINT_URL", endpoint)
            # verbose=False does not quiet werkzeug's line per request.
            patch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
            _running.append(endpoint)
            try:
                yield endpoint
            finally:
                _running.remove(endpoint)
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Wipe every resource of every service in the moto server."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def idempotency_table(moto_server: str) -> str:
    """A fresh idempotency table in moto, for the retry consumer (IDEMPOTENCY_TABLE)."""
    import boto3

    from chalicelib.retry.idempotency import create_idempotency_table

    name = f"idempotency-{uuid.uuid4().hex[:12]}"
    create_idempotency_table(boto3.client("dynamodb"), name)
    return name
