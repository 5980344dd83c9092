"""The single-push connection: one TLS write per push, the provider token HPACK-indexed, and
a GOAWAY that arrived between two pushes learnt before the next one is sent."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import pns
from fakepns.fake_apns import FakeApns
from fakepns.server_config import LINPHONE
from tests.helpers import call
from tests.test_push_v1 import body


class Writes:
    """The size of every TLS write (ssl.SSLSocket.send, which sendall calls too)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def clear(self) -> None:
        self.sizes.clear()


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Writes]:
    seen = Writes()
    original = ssl.SSLSocket.send

    def send(sock: ssl.SSLSocket, data: Any, flags: int = 0) -> int:
        seen.sizes.append(len(data))
        return original(sock, data, flags)

    monkeypatch.setattr(ssl.SSLSocket, "send", send)
    yield seen


def push(client: Client, n: int) -> None:
    status, answer = call(
        client, "POST", "/push", body(LINPHONE, "ios", None, **{"call-id": f"lean-{n}"})
    )
    assert status == 200, answer


def test_a_warm_push_is_one_tls_write(client: Client, apns: FakeApns, writes: Writes) -> None:
    push(client, 0)  # connection, SETTINGS and the first provider token
    writes.clear()
    for n in range(1, 4):
        push(client, n)
    assert writes.sizes and len(writes.sizes) == 3
    assert len(apns.received) == 4


def test_the_provider_token_is_sent_once_per_connection(
    client: Client, apns: FakeApns, writes: Writes
) -> None:
    pns.close_all()  # a fresh connection: its HPACK table starts empty
    push(client, 0)
    first = max(writes.sizes)  # the request (the others: preface, SETTINGS ACK)
    writes.clear()
    push(client, 1)
    [second] = writes.sizes
    token = apns.received[-1].headers["authorization"]
    assert token.startswith("bearer ")
    # the second push refers to the indexed token (and topic, push type) in a few bytes
    assert first - second >= len(token) * 0.6
    assert apns.received[0].headers["authorization"] == token


def test_a_goaway_between_pushes_costs_no_failed_attempt(client: Client, apns: FakeApns) -> None:
    push(client, 0)
    apns.disconnect_all("Shutdown")
    push(client, 1)
    assert [a.outcome for a in apns.attempts] == ["reply", "reply"]
    assert len({r.connection_id for r in apns.received}) == 2


@pytest.mark.parametrize("token", ["ab\r\ncd", "ab cd", "ab/../cd", "ab?x=1", "\u00e4b"])
def test_a_token_that_cannot_be_a_path_is_refused_before_sending(
    client: Client, apns: FakeApns, token: str
) -> None:
    """The token goes into `:path` unchecked by h2 (connection.py): the models refuse it."""
    request = {**body(LINPHONE, "ios", None), "token": token}
    status, answer = call(client, "POST", "/push", request)
    assert status == 400, answer
    assert "token" in answer["data"]["errors"]
    assert apns.received == [] and apns.attempts == []
