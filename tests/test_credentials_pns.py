"""APNs provider tokens and FCM access tokens: reused while valid, renewed when needed."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jwt
from chalice.test import Client
from cryptography.hazmat.primitives import serialization

from app import app
from chalicelib import api
from chalicelib.config import AppConfig
from chalicelib.pns import service_for
from chalicelib.pns.apns_jwt import BUCKET_SECONDS, ProviderToken
from chalicelib.pns.fcm import FcmService
from fakepns.credentials import TestCredentials
from fakepns.fake_apns import FakeApns, Reply
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call
from tests.test_push_v1 import VOIP_TOKEN, body

T0 = 1_789_200_000  # a bucket boundary in the past: T0 % 1800 == 0


def provider_token(creds: TestCredentials) -> ProviderToken:
    return ProviderToken(creds.apns_p8.read_bytes(), creds.apns_key_id, creds.apns_team_id)


def claims(token: str, creds: TestCredentials) -> dict[str, object]:
    key = serialization.load_pem_private_key(creds.apns_p8.read_bytes(), None)
    decoded: dict[str, object] = jwt.decode(token, key.public_key(), algorithms=["ES256"])  # type: ignore[arg-type]
    return decoded


def test_every_container_mints_the_same_token_within_a_bucket(creds: TestCredentials) -> None:
    one, other = provider_token(creds), provider_token(creds)
    token = one.get(T0 + 5)
    assert token == other.get(T0 + 1700)  # another container, later in the same bucket
    assert token == one.get(T0 + 1799)
    assert claims(token, creds) == {"iss": creds.apns_team_id, "iat": T0}
    assert jwt.get_unverified_header(token)["kid"] == creds.apns_key_id


def test_a_new_bucket_gives_a_new_token_never_older_than_30_minutes(creds: TestCredentials) -> None:
    minter = provider_token(creds)
    first = minter.get(T0 + 1799)
    second = minter.get(T0 + BUCKET_SECONDS)
    assert first != second
    assert claims(second, creds)["iat"] == T0 + BUCKET_SECONDS
    for offset in range(0, 4 * BUCKET_SECONDS, 97):
        assert (
            T0 + offset - int(str(claims(minter.get(T0 + offset), creds)["iat"])) < BUCKET_SECONDS
        )


def test_renewal_after_expired_provider_token_is_newer_and_shared(creds: TestCredentials) -> None:
    one, other = provider_token(creds), provider_token(creds)
    before = one.get(T0 + 600)
    renewed = one.renew(T0 + 630)
    assert renewed != before
    assert claims(renewed, creds)["iat"] == T0 + 600  # minute-aligned: 630 -> 600
    assert other.renew(T0 + 659) == renewed  # a container renewing in the same minute agrees
    early = provider_token(creds)
    assert claims(early.renew(T0 + 20), creds)["iat"] == T0 + 20  # first minute: to the second
    assert one.get(T0 + 700) == renewed  # kept until its own bucket ends
    assert claims(one.get(T0 + 600 + BUCKET_SECONDS), creds)["iat"] == T0 + BUCKET_SECONDS


def test_expired_provider_token_is_renewed_and_the_push_retried(
    config_dir: Path, creds: TestCredentials
) -> None:
    # A fake of its own that tolerates token updates: APNs answers ExpiredProviderToken only
    # for tokens over an hour old, long after the 20-minute update rule.
    with FakeApns(creds, topics=(LINPHONE, f"{LINPHONE}.voip"), token_update_interval=0) as apns:
        (config_dir / "applications.ini").write_text(
            f"[linphone-ios]\napp_id = {LINPHONE}\napp_type = linphone\napp_platform = apple\n"
            f"apple_push_url = {apns.url}\napple_key = {creds.apns_p8}\n"
            f"key_id = {creds.apns_key_id}\nteam_id = {creds.apns_team_id}\n"
            f"tls_ca_file = {creds.ca_cert}\n"
        )
        api.reset_runtime(settings_for(config_dir))
        apns.script(VOIP_TOKEN, Reply(403, "ExpiredProviderToken"))
        with Client(app) as client:
            status, answer = call(client, "POST", "/push", body(LINPHONE, "ios", None))
        assert status == 200, answer
        first, second = apns.attempts
    assert first.reason == "ExpiredProviderToken"
    assert first.headers["apns-id"] == second.headers["apns-id"]
    iats = [claims(a.headers["authorization"].split()[1], creds)["iat"] for a in (first, second)]
    assert int(str(iats[1])) > int(str(iats[0]))


def test_the_jwt_is_reused_across_pushes(client: Client, apns: FakeApns) -> None:
    for n in range(3):
        token = f"{n:064x}"
        status, _ = call(client, "POST", "/push", {**body(LINPHONE, "ios", None), "token": token})
        assert status == 200
    assert len({r.headers["authorization"] for r in apns.received}) == 1


def test_fcm_access_token_is_cached_then_refreshed_on_401(client: Client, fcm: FakeFcm) -> None:
    for n in range(5):
        request = body(SYLK, "fcm", "incoming_session", **{"call-id": f"c{n}"})
        assert call(client, "POST", "/push", request)[0] == 200
    assert fcm.token_requests == 1
    fcm.expire_tokens()
    status, _ = call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert status == 200
    assert fcm.token_requests == 2
    assert [a.status for a in fcm.attempts][-2:] == [401, 200]


def test_fcm_access_token_is_refreshed_five_minutes_before_expiry(
    client: Client, fcm: FakeFcm
) -> None:
    call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    app_config: AppConfig | None = api.current_runtime().config.get().app(SYLK, "firebase")
    assert app_config is not None
    service = service_for(app_config)
    assert isinstance(service, FcmService)
    google_creds = service._token._credentials
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    google_creds.expiry = now + datetime.timedelta(minutes=6)
    call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert fcm.token_requests == 1
    google_creds.expiry = now + datetime.timedelta(minutes=4)
    call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert fcm.token_requests == 2


def test_oversized_content_is_shortened_not_refused(
    client: Client, fcm: FakeFcm, apns: FakeApns
) -> None:
    text = "ü" * 8000
    status, _ = call(client, "POST", "/push", body(SYLK, "fcm", "message", content=text))
    assert status == 200
    message = fcm.received[0].message
    compact = json.dumps({"message": message}, ensure_ascii=False, separators=(",", ":"))
    assert len(compact.encode()) <= 4096
    assert message["data"]["content"].endswith("…")
    status, _ = call(client, "POST", "/push", body(SYLK, "ios", "message", content=text))
    assert status == 200
    assert len(apns.received[0].body) <= 4096
    assert VOIP_TOKEN not in apns.received[0].token


def test_a_refused_service_account_is_a_clear_502_not_a_crash(
    config_dir: Path, fcm: FakeFcm
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    account_file = config_dir.parent / "service-account.json"
    info = json.loads(account_file.read_text())
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = wrong.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account_file.write_text(json.dumps(info))
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert status == 502
    assert answer["data"]["reason"].startswith("OAuth token not obtained")
    assert "invalid_grant" in answer["data"]["reason"]
    assert fcm.received == []


def test_a_wrong_fcm_url_is_not_mistaken_for_a_dead_token(config_dir: Path, fcm: FakeFcm) -> None:
    apps = (config_dir / "applications.ini").read_text()
    (config_dir / "applications.ini").write_text(apps.replace("/messages:send", "/messages:sned"))
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", body(SYLK, "fcm", "incoming_session"))
    assert status == 404  # FCM's HTML 404: a rejection to fix in the config, not a 410
    assert answer["data"]["code"] == 404
