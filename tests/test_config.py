"""general.ini and applications.ini in the original's format, with our extensions."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from chalicelib.config.loader import load
from chalicelib.config.source import ConfigSource
from chalicelib.errors import ConfigError

KEY = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "AuthKey.p8").write_text(KEY)
    (tmp_path / "credentials" / "sa.json").write_text(json.dumps({"project_id": "proj-1"}))
    return tmp_path


def write(config: Path, applications: str, general: str = "[applications]\n") -> None:
    (config / "general.ini").write_text(general)
    (config / "applications.ini").write_text(applications)


APPLE = """
[ios]
app_id = com.example.app
app_type = sylk
app_platform = apple
apple_push_url = {url}
apple_key = AuthKey.p8
key_id = KEY1234567
team_id = TEAM123456
"""


def test_the_original_host_only_url_and_a_full_url_with_a_port(config: Path) -> None:
    write(config, APPLE.format(url="api.sandbox.push.apple.com"))
    app = load(config).apps[("com.example.app", "apple")]
    assert app.push_url == "https://api.sandbox.push.apple.com"
    assert app.apns_auth == "token"
    assert app.key == str(config / "credentials" / "AuthKey.p8")
    write(config, APPLE.format(url="https://127.0.0.1:8443"))
    assert load(config).apps[("com.example.app", "apple")].push_url == "https://127.0.0.1:8443"


@pytest.mark.parametrize("url", ["https://host:notaport", "http://api.push.apple.com", "https://"])
def test_a_bad_push_url_breaks_only_its_app(config: Path, url: str) -> None:
    write(
        config,
        APPLE.format(url=url)
        + APPLE.format(url="api.push.apple.com")
        .replace("[ios]", "[ok]")
        .replace("com.example.app", "com.example.ok"),
    )
    loaded = load(config)
    assert "apple_push_url" in loaded.broken["ios"]
    assert list(loaded.apps) == [("com.example.ok", "apple")]


@pytest.mark.parametrize("app_id", ["com.example app", "com.example.\u00e4pp", "com.\x7fexample"])
def test_an_app_id_that_cannot_be_an_apns_topic_breaks_only_its_app(
    config: Path, app_id: str
) -> None:
    """The app id is sent as the `apns-topic` header, which nothing checks after the config."""
    url = "api.push.apple.com"
    write(
        config,
        APPLE.format(url=url).replace("com.example.app", app_id)
        + APPLE.format(url=url).replace("[ios]", "[ok]"),
    )
    loaded = load(config)
    assert "app_id" in loaded.broken["ios"]
    assert list(loaded.apps) == [("com.example.app", "apple")]


def test_missing_keys_unknown_options_duplicates_and_legacy_fcm(config: Path) -> None:
    write(
        config,
        "[nameless]\napp_type = sylk\napp_platform = apple\n"
        + APPLE.format(url="api.push.apple.com").replace("team_id", "colour = blue\nteam_id")
        + APPLE.format(url="api.push.apple.com").replace("[ios]", "[ios-again]")
        + "[legacy]\napp_id = com.legacy\napp_type = linphone\napp_platform = firebase\n"
        "firebase_authorization_key = AAAA\n",
    )
    loaded = load(config)
    assert loaded.broken["nameless"] == "missing app_id"
    assert "shut down by Google in 2024" in loaded.broken["legacy"]
    assert loaded.apps[("com.example.app", "apple")].section == "ios-again"
    assert any("unknown options ignored: colour" in w for w in loaded.warnings)
    assert any("[ios-again] replaces [ios]" in w for w in loaded.warnings)


def test_firebase_url_from_the_service_account_and_the_original_log_option_names(
    config: Path,
) -> None:
    write(
        config,
        "[android]\napp_id = com.example.app\napp_type = sylk\napp_platform = android\n"
        "firebase_authorization_file = sa.json\nlog_remote_urls = http://a/1, http://b/2\n"
        "log_key = id\nlog_time_out = 7\nmessage_deadline = 600\n",
    )
    app = load(config).apps[("com.example.app", "firebase")]
    assert app.push_url == "https://fcm.googleapis.com/v1/projects/proj-1/messages:send"
    assert app.log_remote_urls == ("http://a/1", "http://b/2")
    assert (app.log_remote_key, app.log_remote_timeout) == ("id", 7.0)
    assert (app.deadline("message"), app.deadline("cancel")) == (600.0, 64.0)


def test_general_ini_server_options(config: Path) -> None:
    write(
        config,
        "",
        "[server]\nreturn_async = false\nallowed_hosts = 10.0.0.0/8, 192.0.2.1,2001:db8::/32\n"
        "tls_certificate = x.pem\n[applications]\ncredentials_folder = /etc/creds\n",
    )
    loaded = load(config)
    server = loaded.server
    assert server.return_async is False
    assert [str(n) for n in server.allowed_hosts] == ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"]
    assert str(server.credentials_dir) == "/etc/creds"
    assert any("tls_certificate is ignored" in w for w in loaded.warnings)
    write(config, "", "[server]\nallowed_hosts = 10.0.0.300\n[applications]\n")
    with pytest.raises(ConfigError, match="allowed_hosts"):
        load(config)


def test_no_general_ini_means_defaults(tmp_path: Path) -> None:
    loaded = load(tmp_path)
    assert loaded.server.return_async is True
    assert loaded.apps == {}
    assert any("not found" in w for w in loaded.warnings)


def test_a_changed_file_is_reloaded_and_a_broken_change_keeps_the_last_good(config: Path) -> None:
    write(config, APPLE.format(url="api.push.apple.com"))
    source = ConfigSource(config, check_interval=0)
    assert list(source.get().apps) == [("com.example.app", "apple")]
    time.sleep(0.01)
    write(
        config, APPLE.format(url="api.push.apple.com").replace("com.example.app", "com.example.new")
    )
    assert list(source.get().apps) == [("com.example.new", "apple")]
    time.sleep(0.01)
    write(
        config,
        APPLE.format(url="api.push.apple.com"),
        general="[server]\nallowed_hosts = nonsense\n",
    )
    assert list(source.get().apps) == [("com.example.new", "apple")]
    assert source.error is not None and "allowed_hosts" in source.error


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e309", "-5", "0", "2419201", "Infinity"])
@pytest.mark.parametrize("option", ["call_deadline", "message_deadline", "log_remote_timeout"])
def test_a_deadline_that_is_not_a_finite_positive_time_breaks_only_its_app(
    config: Path, option: str, value: str
) -> None:
    other = APPLE.format(url="api.push.apple.com").replace("[ios]", "[other]")
    other = other.replace("com.example.app", "com.example.other")
    write(config, APPLE.format(url="api.push.apple.com") + f"{option} = {value}\n" + other)
    loaded = load(config)
    assert "more than 0 and at most 2419200 seconds" in loaded.broken["ios"]
    assert option in loaded.broken["ios"]
    assert list(loaded.apps) == [("com.example.other", "apple")]


def test_a_deadline_of_four_weeks_is_accepted(config: Path) -> None:
    write(config, APPLE.format(url="api.push.apple.com") + "message_deadline = 2419200\n")
    assert load(config).apps[("com.example.app", "apple")].deadline("message") == 2419200.0


def plugin_app(config: Path, app_type: str) -> None:
    write(config, APPLE.format(url="api.push.apple.com").replace("= sylk", f"= {app_type}"))


PLUGIN = """
from chalicelib.apps.sylk import Sylk


class Branded(Sylk):
    name = "branded"
    brand = {brand!r}


APP_TYPE = Branded()
"""


def test_an_app_type_is_a_plain_name_never_a_path(config: Path) -> None:
    (config / "applications").mkdir()
    outside = config.parent / "x.py"  # what `../../x` reached from the plug-in directory
    ran = config.parent / "x-ran"
    outside.write_text(PLUGIN.format(brand="x") + f"open({str(ran)!r}, 'w').close()\n")
    for name in ("../../x", "..", "a/b", "a\\\\b", "x.py"):
        plugin_app(config, name)
        loaded = load(config)
        assert not loaded.apps, name
        assert "must be a plain name" in loaded.broken["ios"], loaded.broken
    assert not ran.exists()


def test_an_app_type_name_ignores_case_and_spaces(config: Path) -> None:
    plugin_app(config, " Sylk ")
    app = load(config).apps[("com.example.app", "apple")]
    assert (app.app_type, app.builder.name) == ("sylk", "sylk")


def test_a_plug_in_belongs_to_the_config_that_loaded_it(config: Path) -> None:
    plugins = config / "applications"
    plugins.mkdir()
    (plugins / "branded.py").write_text(PLUGIN.format(brand="first"))
    plugin_app(config, "branded")
    source = ConfigSource(config, check_interval=0)
    first = source.get().apps[("com.example.app", "apple")].builder
    assert first.brand == "first"  # type: ignore[attr-defined]
    # edited: read again (the built-in app types are not touched)
    (plugins / "branded.py").write_text(PLUGIN.format(brand="second"))
    stamp = time.time() + 5
    os.utime(plugins / "branded.py", (stamp, stamp))
    second = source.get().apps[("com.example.app", "apple")].builder
    assert second.brand == "second"  # type: ignore[attr-defined]
    assert first.brand == "first"  # type: ignore[attr-defined]  # the old config keeps its own
    # removed: gone, and so is the app that used it
    (plugins / "branded.py").unlink()
    assert not source.get().apps
    assert "'branded' is not one of linphone, sylk" in source.get().broken["ios"]
