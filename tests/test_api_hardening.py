"""Hostile HTTP input: deep JSON, foreign content types, and what /health may show to whom."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import api
from fakepns.server_config import settings_for
from tests.gateway import gateway_event, invoke
from tests.helpers import call

DEEP = "[" * 1000 + "]" * 1000
ROUTES = [
    ("POST", "/push", "/push", None),
    ("POST", "/v2/tokens/{account}", "/v2/tokens/a@b", {"account": "a@b"}),
    ("DELETE", "/v2/tokens/{account}", "/v2/tokens/a@b", {"account": "a@b"}),
    ("POST", "/v2/tokens/{account}/push", "/v2/tokens/a@b/push", {"account": "a@b"}),
    (
        "POST",
        "/v2/tokens/{account}/push/{device}",
        "/v2/tokens/a@b/push/d",
        {"account": "a@b", "device": "d"},
    ),
]


@pytest.mark.parametrize(("method", "resource", "path", "params"), ROUTES)
def test_deeply_nested_json_is_400_without_a_traceback(
    client: Client,
    capsys: pytest.CaptureFixture[str],
    method: str,
    resource: str,
    path: str,
    params: dict[str, str] | None,
) -> None:
    for nested in (DEEP, '{"token":' + DEEP + "}"):
        status, answer = call(client, method, path, nested)
        assert (status, answer["code"]) == (400, 400), answer
        assert "nested too deeply" in answer["description"]
        status, answer = invoke(gateway_event(method, resource, path, nested, params=params))
        assert (status, answer["code"]) == (400, 400), answer
    logged = capsys.readouterr()
    assert "Traceback" not in logged.out + logged.err
    assert "RecursionError" not in logged.out + logged.err


@pytest.mark.parametrize(("method", "resource", "path", "params"), ROUTES)
def test_a_foreign_content_type_is_415_in_the_envelope(
    client: Client, method: str, resource: str, path: str, params: dict[str, str] | None
) -> None:
    for content_type in ("application/xml", "multipart/form-data; boundary=x", "image/png"):
        status, answer = call(client, method, path, "{}", **{"Content-Type": content_type})
        assert status == 415
        assert set(answer) == {"code", "description", "data"}
        assert answer["code"] == 415
        assert "application/json" in answer["description"]
        headers = {"content-type": content_type}
        status, answer = invoke(gateway_event(method, resource, path, "{}", headers, params))
        assert (status, answer["code"]) == (415, 415)
        assert answer["data"]["accepted"][0] == "application/json"


def test_json_content_types_still_reach_the_route(client: Client) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", "text/plain"):
        status, answer = call(client, "POST", "/push", "{}", **{"Content-Type": content_type})
        assert status == 400, (content_type, answer)


def broken_certificate_config(config_dir: Path, general: str) -> Path:
    """One app whose certificate file is missing, under a private directory."""
    missing = config_dir / "secret-place" / "missing-cert.pem"
    apps = (config_dir / "applications.ini").read_text()
    apps += f"""
[broken-ios]
app_id = com.example.broken
app_type = sylk
app_platform = apple
apple_push_url = api.push.apple.com
apple_certificate = {missing}
"""
    (config_dir / "applications.ini").write_text(apps)
    (config_dir / "general.ini").write_text(general)
    return missing


def test_health_obeys_the_api_key(config_dir: Path) -> None:
    broken_certificate_config(config_dir, "[server]\n[applications]\n")
    api.reset_runtime(settings_for(config_dir, API_KEY="s3cret"))
    with Client(app) as client:
        status, answer = call(client, "GET", "/health")
        assert answer == {"code": 403, "description": "access denied by access list", "data": {}}
        assert status == 403
        status, answer = call(client, "GET", "/health", **{"x-api-key": "s3cret"})
        assert status == 200
        assert answer["description"] == "degraded"
        status, answer = call(client, "GET", "/")
        assert status == 200
        assert set(answer["data"]) == {"version"}


def test_health_obeys_allowed_hosts(config_dir: Path) -> None:
    broken_certificate_config(config_dir, "[server]\nallowed_hosts = 10.0.0.0/8\n")
    api.reset_runtime(settings_for(config_dir))
    status, answer = invoke(gateway_event("GET", "/health", "/health", None))  # 127.0.0.1
    assert (status, answer["data"]) == (403, {})
    event = gateway_event("GET", "/health", "/health", None)
    event["requestContext"]["identity"]["sourceIp"] = "10.1.2.3"
    status, answer = invoke(event)
    assert status == 200
    assert "broken-ios" in answer["data"]["unavailable"]


def test_health_never_shows_where_the_server_keeps_its_files(config_dir: Path) -> None:
    missing = broken_certificate_config(config_dir, "[server]\n[applications]\n")
    (config_dir / "applications.ini").write_text(
        (config_dir / "applications.ini").read_text()
        + f"\n[broken-key]\napp_id = com.example.k\napp_type = sylk\napp_platform = apple\n"
        f"apple_push_url = api.push.apple.com\napple_key = {config_dir / 'bad.p8'}\n"
        f"key_id = K\nteam_id = T\n"
    )
    (config_dir / "bad.p8").write_text("not a key")
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "GET", "/health")
    assert status == 200
    text = json.dumps(answer)
    assert str(missing.parent) not in text
    assert str(config_dir) not in text
    assert "missing-cert.pem not found" in answer["data"]["unavailable"]["broken-ios"]
    assert "broken-key" in answer["data"]["unavailable"]


def test_answers_keep_urls_and_relative_names() -> None:
    from chalicelib.api import without_paths

    assert without_paths("file /etc/push/creds/cert.pem not found") == "file cert.pem not found"
    assert without_paths("[Errno 2] No such file: '/srv/keys/x.p8'") == (
        "[Errno 2] No such file: 'x.p8'"
    )
    assert without_paths("https://api.push.apple.com/3/device/ab") == (
        "https://api.push.apple.com/3/device/ab"
    )
    assert without_paths("credentials/cert.pem") == "credentials/cert.pem"


def test_an_unusable_config_is_503_without_its_path(config_dir: Path) -> None:
    (config_dir / "general.ini").write_text("no section header\n")
    api.reset_runtime(settings_for(config_dir))
    with Client(app) as client:
        status, answer = call(client, "POST", "/push", "{}")
    assert status == 503
    assert "general.ini" in answer["description"]
    assert str(config_dir) not in answer["description"]
