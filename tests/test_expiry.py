"""Certificate expiry in /health and the daily credential check, with certificates generated
to expire soon and a service account the fake Google token endpoint refuses."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import api, audit, expiry
from fakepns.credentials import TestCredentials, make_credentials, write_service_account
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK, settings_for
from tests.helpers import call, read_lines

SYLK_APPLE = f"{SYLK} (apple)"


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> TestCredentials:
    """Credentials whose APNs client certificate expires in 10 days."""
    return make_credentials(tmp_path_factory.mktemp("short"), dt.timedelta(days=10))


def use_certificate(config_dir: Path, certificate: Path) -> None:
    ini = config_dir / "applications.ini"
    sections = ini.read_text().split("\n[")
    sylk_ios = next(i for i, s in enumerate(sections) if s.startswith("sylk-ios]"))
    lines = [
        f"apple_certificate = {certificate}" if line.startswith("apple_certificate") else line
        for line in sections[sylk_ios].splitlines()
    ]
    sections[sylk_ios] = "\n".join(lines)
    ini.write_text("\n[".join(sections))


@pytest.fixture
def expiring(config_dir: Path, short_lived: TestCredentials) -> Iterator[Client]:
    use_certificate(config_dir, short_lived.client_combined)
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        yield client


def emf(out: str, name: str) -> list[tuple[str | None, list[float]]]:
    """(app_id, values) of each EMF document on stdout that carries metric `name`."""
    found = []
    for line in out.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        if "_aws" in document and name in document:
            value = document[name]
            found.append((document.get("app_id"), value if isinstance(value, list) else [value]))
    return found


def test_health_shows_a_certificate_expiring_in_10_days(expiring: Client) -> None:
    status, answer = call(expiring, "GET", "/health")
    assert status == 200
    certificate = answer["data"]["apps"][SYLK_APPLE]["certificate"]
    assert certificate["days-left"] in (9, 10)
    assert certificate["expires-soon"] is True
    assert "Apple VoIP Services" in certificate["subject"]
    not_after = dt.datetime.fromisoformat(certificate["not-after"])
    assert dt.timedelta(days=9) < not_after - dt.datetime.now(dt.UTC) <= dt.timedelta(days=10)
    [warning] = [w for w in answer["data"]["warnings"] if "certificate" in w]
    assert warning.startswith("sylk-ios: APNs certificate expires in")
    assert "certificate" not in answer["data"]["apps"][f"{LINPHONE} (apple)"]  # token auth
    assert "certificate" not in answer["data"]["apps"][f"{SYLK} (firebase)"]


def test_health_shows_a_distant_expiry_without_warning(client: Client) -> None:
    _, answer = call(client, "GET", "/health")
    certificate = answer["data"]["apps"][SYLK_APPLE]["certificate"]
    assert certificate["days-left"] > 3000
    assert certificate["expires-soon"] is False
    assert not [w for w in answer["data"]["warnings"] if "certificate" in w]


def test_the_daily_check_warns_and_publishes_days_left(
    expiring: Client, log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit.flush()  # what earlier tests left pending
    capsys.readouterr()
    event = expiring.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    expiring.lambda_.invoke("check_credentials", event)
    [line] = [x for x in read_lines(log_file) if x["message"].startswith("APNs certificate")]
    assert line["level"] == "WARNING"
    assert (line["app_id"], line["platform"], line["days_left"]) == (SYLK, "apple", 9)
    assert "Apple VoIP Services" in line["subject"]
    days = emf(capsys.readouterr().out, "CertificateDaysLeft")
    assert sorted(days, key=str) == [(SYLK, [9.0]), (None, [9.0])]
    assert not [x for x in read_lines(log_file) if x["level"] == "ERROR"]


def test_under_7_days_the_check_logs_an_error(expiring: Client, log_file: Path) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    try:
        expiry.check(api.current_runtime().config.get(), now=later)
    finally:
        audit.flush()  # its metrics must not reach the next test's output
    [line] = [x for x in read_lines(log_file) if x["message"].startswith("APNs certificate")]
    assert (line["level"], line["days_left"]) == ("ERROR", 5)


def test_a_refused_service_account_is_reported_by_the_daily_check(
    config_dir: Path,
    fcm: FakeFcm,
    tmp_path: Path,
    log_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stranger = make_credentials(tmp_path / "stranger")  # a key Google does not know
    write_service_account(stranger, config_dir.parent / "service-account.json", fcm.token_uri)
    api.reset_runtime(settings_for(config_dir))
    capsys.readouterr()
    api.check_credentials()
    refused = [x for x in read_lines(log_file) if x["message"] == "credentials refused"]
    assert {(x["app_id"], x["platform"], x["level"]) for x in refused} == {
        (SYLK, "firebase", "ERROR"),
        (LINPHONE, "firebase", "ERROR"),
    }
    assert all("invalid_grant" in x["reason"] for x in refused)
    counted = emf(capsys.readouterr().out, "CredentialsRefused")
    assert sorted(counted, key=str) == [(LINPHONE, [1.0]), (SYLK, [1.0]), (None, [1.0, 1.0])]
