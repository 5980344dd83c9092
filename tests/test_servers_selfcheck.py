"""Self-checks of the fake APNs / FCM servers in fakepns.

Clients are real httpx HTTP/2 clients with an explicit SSLContext trusting only
the test CA (this machine's SSL_CERT_FILE must not matter).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.oauth2 import service_account
from h2.settings import SettingCodes

from chalicelib.pns.fcm import HttpxAuthRequest
from fakepns.credentials import (
    GOOGLE_TOKEN_AUDIENCE,
    TestCredentials,
    service_account_email,
    write_service_account,
)
from fakepns.fake_apns import FakeApns, GoAway, Hang, Reply
from fakepns.fake_fcm import FakeFcm
from fakepns.fake_fcm import Reply as FcmReply
from fakepns.fcm_oauth import FCM_SCOPE, GRANT_TYPE
from fakepns.tls import client_context

DEVICE = "a1b2c3d4" * 8
BUNDLE = "com.example.sylk"
PAYLOAD = {"aps": {"alert": "hi"}, "event": "incoming_session"}


# -- fixtures -------------------------------------------------------------------------


# -- helpers --------------------------------------------------------------------------


# One iat for the run: two pushes of a test on one connection must present the same token,
# or a second boundary between them makes it a new token (TooManyProviderTokenUpdates)
SESSION_IAT = int(time.time())


def provider_token(creds: TestCredentials, *, iat: float | None = None) -> str:
    issued = int(SESSION_IAT if iat is None else iat)
    return jwt.encode(
        {"iss": creds.apns_team_id, "iat": issued},
        creds.apns_p8.read_bytes(),
        algorithm="ES256",
        headers={"kid": creds.apns_key_id},
    )


def apns_headers(
    creds: TestCredentials | None, push_type: str = "alert", topic: str = BUNDLE
) -> dict[str, str]:
    """Push headers; token auth when creds are given, else none (certificate auth)."""
    headers = {"apns-push-type": push_type, "apns-topic": topic, "apns-priority": "10"}
    if creds is not None:
        headers["authorization"] = f"bearer {provider_token(creds)}"
    return headers


def h2_client(creds: TestCredentials, *, cert: bool = False, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(http2=True, verify=client_context(creds, client_cert=cert), timeout=timeout)


def push(
    client: httpx.Client,
    apns: FakeApns,
    headers: Mapping[str, str],
    body: bytes | None = None,
    device: str = DEVICE,
) -> httpx.Response:
    content = json.dumps(PAYLOAD).encode() if body is None else body
    return client.post(f"{apns.url}/3/device/{device}", headers=dict(headers), content=content)


def initial_settings(port: int, creds: TestCredentials, *, cert: bool) -> dict[int, int]:
    """The server's first SETTINGS frame, read with a bare h2 client."""
    ctx = client_context(creds, client_cert=cert)
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        while True:
            for event in conn.receive_data(tls.recv(65536)):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    return {int(k): v.new_value for k, v in event.changed_settings.items()}


def fcm_access_token(creds: TestCredentials, fcm: FakeFcm, client: httpx.Client) -> str:
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": service_account_email("rtc-test"),
            "scope": FCM_SCOPE,
            "aud": GOOGLE_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + 3600,
        },
        creds.service_account_key.read_bytes(),
        algorithm="RS256",
    )
    response = client.post(fcm.token_uri, data={"grant_type": GRANT_TYPE, "assertion": assertion})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def fcm_send(
    client: httpx.Client, fcm: FakeFcm, token: str, message: dict[str, Any]
) -> httpx.Response:
    return client.post(
        fcm.send_url, headers={"authorization": f"Bearer {token}"}, json={"message": message}
    )


# -- APNs -----------------------------------------------------------------------------


def test_apns_token_auth_push(creds: TestCredentials, apns: FakeApns) -> None:
    apns_id = str(uuid.uuid4())
    with h2_client(creds) as client:
        response = push(client, apns, {**apns_headers(creds), "apns-id": apns_id})
    assert response.status_code == 200, response.text
    assert response.http_version == "HTTP/2"
    assert response.headers["apns-id"] == apns_id
    assert response.content == b""
    [got] = apns.received
    assert (got.token, got.auth, got.json) == (DEVICE, "token", PAYLOAD)
    assert got.headers["apns-push-type"] == "alert"


def test_apns_certificate_auth_push(creds: TestCredentials, apns: FakeApns) -> None:
    headers = {**apns_headers(None, "voip", f"{BUNDLE}.voip"), "authorization": "bearer junk"}
    with h2_client(creds, cert=True) as client:
        response = push(client, apns, headers)
    assert response.status_code == 200, response.text
    assert len(response.headers["apns-id"]) == 36  # generated when not sent
    [got] = apns.received
    assert (got.auth, got.topic, got.push_type) == ("certificate", f"{BUNDLE}.voip", "voip")


def test_apns_provider_token_errors(creds: TestCredentials, apns: FakeApns) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        {"iss": creds.apns_team_id, "iat": int(time.time())},
        other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        algorithm="ES256",
        headers={"kid": creds.apns_key_id},
    )
    stale = provider_token(creds, iat=time.time() - 3700)
    cases = {
        f"bearer {forged}": (403, "InvalidProviderToken"),
        "": (403, "MissingProviderToken"),
        f"bearer {stale}": (403, "ExpiredProviderToken"),
    }
    with h2_client(creds) as client:
        for authorization, expected in cases.items():
            headers = {**apns_headers(None), "authorization": authorization}
            response = push(client, apns, headers)
            assert (response.status_code, response.json()["reason"]) == expected
            assert response.headers["content-type"] == "application/json"
            assert response.headers["apns-id"]
    assert apns.received == []


def test_apns_new_token_within_20_minutes_is_refused(
    creds: TestCredentials, apns: FakeApns
) -> None:
    with h2_client(creds) as client:
        assert push(client, apns, apns_headers(creds)).status_code == 200
        # another token: an iat of its own (now - 5 s was the session's own token when the
        # test ran 5 s after the module was imported)
        other_token = provider_token(creds, iat=SESSION_IAT - 1)
        newer = {**apns_headers(None), "authorization": f"bearer {other_token}"}
        response = push(client, apns, newer)
    assert (response.status_code, response.json()["reason"]) == (429, "TooManyProviderTokenUpdates")


@pytest.mark.parametrize(
    ("push_type", "topic", "reason"),
    [
        ("voip", BUNDLE, "BadTopic"),
        ("alert", f"{BUNDLE}.voip", "BadTopic"),
        ("alert", "com.example.other", "TopicDisallowed"),
        ("alert", "", "MissingTopic"),
    ],
)
def test_apns_topic_rules(
    creds: TestCredentials, apns: FakeApns, push_type: str, topic: str, reason: str
) -> None:
    headers = apns_headers(creds, push_type, topic)
    if not topic:
        del headers["apns-topic"]
    with h2_client(creds) as client:
        response = push(client, apns, headers)
    assert (response.status_code, response.json()["reason"]) == (400, reason)


@pytest.mark.parametrize(
    ("change", "body", "expected"),
    [
        ({"apns-priority": "7"}, None, (400, "BadPriority")),
        ({"apns-push-type": "banana"}, None, (400, "InvalidPushType")),
        ({"apns-id": str(uuid.uuid4()).upper()}, None, (400, "BadMessageId")),
        ({"apns-expiration": "soon"}, None, (400, "BadExpirationDate")),
        ({"apns-collapse-id": "x" * 65}, None, (400, "BadCollapseId")),
        ({}, b"", (400, "PayloadEmpty")),
        ({}, b"{" + b" " * 4095 + b"}", (413, "PayloadTooLarge")),
    ],
)
def test_apns_header_and_payload_rules(
    creds: TestCredentials,
    apns: FakeApns,
    change: dict[str, str],
    body: bytes | None,
    expected: tuple[int, str],
) -> None:
    with h2_client(creds) as client:
        response = push(client, apns, {**apns_headers(creds), **change}, body)
    assert (response.status_code, response.json()["reason"]) == expected


def test_apns_paths_methods_and_duplicates(creds: TestCredentials, apns: FakeApns) -> None:
    headers = apns_headers(creds)
    voip_body = b'{"aps":{}, "pad":"' + b"x" * 5000 + b'"}'
    with h2_client(creds) as client:
        got = client.get(f"{apns.url}/3/device/{DEVICE}", headers=headers)
        assert got.json()["reason"] == "MethodNotAllowed"
        assert client.post(f"{apns.url}/3/device/", headers=headers).status_code == 400
        assert client.post(f"{apns.url}/4/device/{DEVICE}", headers=headers).status_code == 404
        duplicated = [*headers.items(), ("apns-priority", "10")]
        response = client.post(f"{apns.url}/3/device/{DEVICE}", headers=duplicated, content=b"{}")
        assert response.json()["reason"] == "DuplicateHeaders"
        voip = apns_headers(creds, "voip", f"{BUNDLE}.voip")
        assert push(client, apns, voip, voip_body).status_code == 200  # 5120 limit for voip


def test_apns_scripted_unregistered_then_success(creds: TestCredentials, apns: FakeApns) -> None:
    apns.script(DEVICE, Reply(410, "Unregistered"))
    with h2_client(creds) as client:
        first = push(client, apns, apns_headers(creds))
        second = push(client, apns, apns_headers(creds))
    assert first.status_code == 410
    document = first.json()
    assert document["reason"] == "Unregistered"
    assert isinstance(document["timestamp"], int)
    assert abs(document["timestamp"] - time.time() * 1000) < 60_000
    assert second.status_code == 200
    assert len(apns.received) == 1
    assert [a.status for a in apns.attempts] == [410, 200]


def test_apns_goaway_closes_the_connection(creds: TestCredentials, apns: FakeApns) -> None:
    apns.script(DEVICE, GoAway("Shutdown"))
    with h2_client(creds) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="ConnectionTerminated"):
            push(client, apns, apns_headers(creds))
        assert push(client, apns, apns_headers(creds)).status_code == 200
    assert apns.connections == 2
    assert [a.outcome for a in apns.attempts] == ["goaway", "reply"]


def test_apns_goaway_every_n_requests(creds: TestCredentials, apns: FakeApns) -> None:
    apns.goaway_every(3)
    with h2_client(creds) as client:
        statuses = [push(client, apns, apns_headers(creds)).status_code for _ in range(7)]
    assert statuses == [200] * 7
    assert apns.connections == 3


def test_apns_hang_times_out_on_the_client(creds: TestCredentials, apns: FakeApns) -> None:
    apns.script(DEVICE, Hang())
    started = time.monotonic()
    with h2_client(creds, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        push(client, apns, apns_headers(creds))
    assert time.monotonic() - started < 2
    assert apns.received == []


def test_apns_hangs_randomly_until_switched_off(creds: TestCredentials, apns: FakeApns) -> None:
    apns.hang_randomly(1.0)
    with h2_client(creds, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            push(client, apns, apns_headers(creds))
        apns.hang_randomly(0.0)
        assert push(client, apns, apns_headers(creds)).status_code == 200
    assert [a.outcome for a in apns.attempts] == ["hang", "reply"]
    assert len(apns.received) == 1


def test_apns_100_concurrent_pushes_share_one_connection(
    creds: TestCredentials, apns: FakeApns
) -> None:
    headers = apns_headers(creds)

    async def burst() -> list[int]:
        ctx = client_context(creds)
        async with httpx.AsyncClient(http2=True, verify=ctx, timeout=10) as client:
            url = f"{apns.url}/3/device/{DEVICE}"
            responses = await asyncio.gather(
                *(client.post(url, headers=headers, json=PAYLOAD) for _ in range(100))
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 100
    assert apns.connections == 1
    assert len(apns.received) == 100
    assert apns.max_concurrent_streams_seen > 1


def test_apns_token_connections_start_with_one_stream(
    creds: TestCredentials, apns: FakeApns
) -> None:
    token_side = initial_settings(apns.port, creds, cert=False)
    cert_side = initial_settings(apns.port, creds, cert=True)
    assert token_side[SettingCodes.MAX_CONCURRENT_STREAMS] == 1
    assert cert_side[SettingCodes.MAX_CONCURRENT_STREAMS] == 1000


def test_apns_refuses_http1(creds: TestCredentials, apns: FakeApns) -> None:
    with (
        httpx.Client(http2=False, verify=client_context(creds)) as client,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        push(client, apns, apns_headers(creds))


def test_apns_untrusted_certificate_fails_verification(creds: TestCredentials) -> None:
    with (
        FakeApns(creds, untrusted=True) as fake,
        h2_client(creds) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        push(client, fake, apns_headers(creds))


def test_apns_required_client_certificate(creds: TestCredentials) -> None:
    with FakeApns(creds, client_auth="required") as fake:
        with h2_client(creds) as client, pytest.raises(httpx.TransportError):
            push(client, fake, apns_headers(None))
        with h2_client(creds, cert=True) as client:
            assert push(client, fake, apns_headers(None)).status_code == 200


def test_apns_down_then_up_on_the_same_port(creds: TestCredentials) -> None:
    with FakeApns(creds) as fake, h2_client(creds) as client:
        port = fake.port
        assert push(client, fake, apns_headers(creds)).status_code == 200
        fake.stop()
        with pytest.raises(httpx.TransportError):
            push(client, fake, apns_headers(creds))
        fake.start()
        assert fake.port == port
        assert push(client, fake, apns_headers(creds)).status_code == 200


# -- FCM ------------------------------------------------------------------------------


def test_fcm_google_auth_token_flow(creds: TestCredentials, fcm: FakeFcm, tmp_path: Path) -> None:
    account = write_service_account(creds, tmp_path / "sa.json", fcm.token_uri)
    info = json.loads(account.read_text())
    from_info = service_account.Credentials.from_service_account_info
    google_creds = from_info(info, scopes=[FCM_SCOPE])  # type: ignore[no-untyped-call]
    message = {"token": "fcm-token-1", "data": {"event": "incoming_session"}}
    with h2_client(creds) as client:
        google_creds.refresh(HttpxAuthRequest(client))
        assert google_creds.token.startswith("ya29.fake-")
        response = fcm_send(client, fcm, google_creds.token, message)
        assert response.status_code == 200, response.text
        assert response.http_version == "HTTP/2"
        assert response.json()["name"].startswith("projects/rtc-test/messages/")
        fcm.expire_tokens()
        expired = fcm_send(client, fcm, google_creds.token, message)
    assert expired.status_code == 401
    assert expired.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "details" not in expired.json()["error"]
    assert fcm.token_requests == 1
    [got] = fcm.received
    assert (got.token, got.message["data"]) == ("fcm-token-1", {"event": "incoming_session"})


def test_fcm_token_endpoint_rejects_a_bad_signature(creds: TestCredentials, fcm: FakeFcm) -> None:
    now = int(time.time())
    claims = {"iss": service_account_email("rtc-test"), "scope": FCM_SCOPE, "iat": now}
    assertion = jwt.encode(
        {**claims, "aud": GOOGLE_TOKEN_AUDIENCE, "exp": now + 3600},
        creds.service_account_key.read_bytes(),
        algorithm="RS256",
    )
    head, payload, signature = assertion.split(".")
    tampered = f"{head}.{payload}.{signature[::-1]}"
    with h2_client(creds) as client:
        response = client.post(
            fcm.token_uri, data={"grant_type": GRANT_TYPE, "assertion": tampered}
        )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }


def test_fcm_data_values_must_be_strings(creds: TestCredentials, fcm: FakeFcm) -> None:
    with h2_client(creds) as client:
        token = fcm_access_token(creds, fcm, client)
        response = fcm_send(client, fcm, token, {"token": "t", "data": {"a": "1", "b": 2}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    [detail] = error["details"]
    assert detail["fieldViolations"][0]["field"] == "message.data[1].value"
    assert fcm.received == []


def test_fcm_scripted_unregistered_then_success(creds: TestCredentials, fcm: FakeFcm) -> None:
    fcm.script("gone", FcmReply.unregistered())
    with h2_client(creds) as client:
        token = fcm_access_token(creds, fcm, client)
        first = fcm_send(client, fcm, token, {"token": "gone"})
        second = fcm_send(client, fcm, token, {"token": "gone"})
    assert first.status_code == 404
    error = first.json()["error"]
    assert (error["status"], error["details"][0]["errorCode"]) == ("NOT_FOUND", "UNREGISTERED")
    assert second.status_code == 200


def test_fcm_http1_and_legacy_api(creds: TestCredentials, fcm: FakeFcm) -> None:
    with httpx.Client(http2=False, verify=client_context(creds)) as client:
        token = fcm_access_token(creds, fcm, client)
        response = fcm_send(client, fcm, token, {"topic": "news", "android": {"priority": "high"}})
        assert (response.status_code, response.http_version) == (200, "HTTP/1.1")
        legacy = client.post(f"{fcm.url}/fcm/send", json={"to": "x"})
        assert legacy.status_code == 404
        bad_ttl = fcm_send(client, fcm, token, {"token": "t", "android": {"ttl": "10"}})
        assert bad_ttl.status_code == 400
