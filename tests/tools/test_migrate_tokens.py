"""tools/migrate_tokens.py: Sylk Pushserver's pickle token file into a token store."""

from __future__ import annotations

import os
import pickle
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.tokens.base import Device
from chalicelib.tokens.sqlite import SqliteTokenStore
from tools import migrate_tokens
from tools.migrate_tokens import Malformed, RefusedPickle, load_pickle, main, plan, to_device

MTIME = 1_700_000_000.5  # the file's modification time becomes every device's updated_at
SYLK = "com.agprojects.sylk"
IOS_ID = "7b1f3c2e-5d4a-4e6f-9a8b-0c1d2e3f4a5b"
ANDROID_ID = "c0ffee00-1234-4abc-8def-0123456789ab"
VOIP = "a1" * 32
BACKGROUND = "b2" * 32
FCM = "fcm:APA91b" + "x" * 140


def original_file() -> defaultdict[str, dict[str, dict[str, Any]]]:
    """What Sylk Pushserver's FileStorage pickles, warts included."""
    data: defaultdict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    data["alice@example.com"][f"{SYLK}-{IOS_ID}"] = {
        "app_id": SYLK,
        "platform": "apple",
        "token": VOIP,
        "background_token": BACKGROUND,  # the second half of the "A-B" apple token
        "device_id": IOS_ID,
        "silent": True,
        "user_agent": "Sylk 3.1 (iOS)",
    }
    # A v2 push merged its fields into the stored record, and the file kept them.
    data["alice@example.com"][f"{SYLK}-{ANDROID_ID}"] = {
        "app_id": SYLK,
        "platform": "firebase",
        "token": FCM,
        "background_token": None,
        "device_id": ANDROID_ID,
        "silent": False,
        "user_agent": "Sylk 3.1 (Android)",
        "event": "incoming_session",
        "call_id": "4f1d@example.com",
        "call-id": "4f1d@example.com",
        "sip_from": "bob@example.org",
        "from_display_name": "Bob",
        "to": "alice@example.com",
        "media_type": "audio",
        "reason": None,
        "badge": 1,
    }
    data["bob@example.org"]["org.linphone.phone-dev1"] = {
        "app_id": "org.linphone.phone",
        "platform": "ios",  # an alias, as older records may hold
        "token": "c3" * 32,
        "background_token": None,
        "device_id": "<urn:uuid:dev1>",
        "silent": "0",
        "user_agent": None,
    }
    data["bob@example.org"]["org.linphone.phone-broken"] = {
        "app_id": "org.linphone.phone",
        "platform": "android",
        "device_id": "broken",  # no token: cannot be pushed
    }
    data["bob@example.org"]["org.linphone.phone-winphone"] = {
        "app_id": "org.linphone.phone",
        "platform": "windows",
        "token": "t",
        "device_id": "winphone",
    }
    data["carol"]["x-y"] = {"app_id": "x", "platform": "apple", "token": "t", "device_id": "y"}
    return data


EXPECTED_ALICE = [
    Device(
        "alice@example.com",
        SYLK,
        IOS_ID,
        "apple",
        VOIP,
        background_token=BACKGROUND,
        silent=True,
        user_agent="Sylk 3.1 (iOS)",
        updated_at=MTIME,
    ),
    Device(
        "alice@example.com",
        SYLK,
        ANDROID_ID,
        "firebase",
        FCM,
        background_token=None,
        silent=False,
        user_agent="Sylk 3.1 (Android)",
        updated_at=MTIME,
    ),
]
EXPECTED_ALICE.sort(key=lambda d: (d.app_id, d.device_id))
EXPECTED_BOB = [
    Device(
        "bob@example.org",
        "org.linphone.phone",
        "dev1",
        "apple",
        "c3" * 32,
        silent=False,
        updated_at=MTIME,
    )
]
EXPECTED_SKIPPED = {
    "bob@example.org org.linphone.phone-broken: missing token",
    "bob@example.org org.linphone.phone-winphone: unknown platform 'windows'",
    "carol *: account is not user@domain",
}


def write_pickle(path: Path, data: Any, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    os.utime(path, (MTIME, MTIME))
    return path


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return write_pickle(tmp_path / "webrtc_device_tokens", original_file())


def stored(db: Path) -> dict[str, list[Device]]:
    store = SqliteTokenStore(db)
    try:
        return {
            account: store.devices(account)
            for account in ("alice@example.com", "bob@example.org", "carol")
        }
    finally:
        store.close()


def summary_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.startswith("  ")}


def test_imports_exact_devices_into_sqlite(
    token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tokens.sqlite3"
    assert main(["--pickle", str(token_file), "--store", "sqlite", "--sqlite", str(db)]) == 0

    assert stored(db) == {
        "alice@example.com": EXPECTED_ALICE,
        "bob@example.org": EXPECTED_BOB,
        "carol": [],
    }
    out = capsys.readouterr().out
    assert "accounts: 2\n" in out
    assert "devices imported: 3\n" in out
    assert "skipped: 3\n" in out
    assert summary_lines(out) == EXPECTED_SKIPPED


def test_running_twice_gives_the_same_store(token_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "tokens.sqlite3"
    argv = ["--pickle", str(token_file), "--store", "sqlite", "--sqlite", str(db)]
    assert main(argv) == 0
    first = stored(db)
    assert main(argv) == 0
    assert stored(db) == first


def test_a_newer_registration_is_kept(token_file: Path, tmp_path: Path) -> None:
    # The device re-registered through rtc-pushserver after the file was written: keep that.
    db = tmp_path / "tokens.sqlite3"
    newer = Device(
        "bob@example.org", "org.linphone.phone", "dev1", "apple", "new", updated_at=MTIME + 60
    )
    store = SqliteTokenStore(db)
    store.upsert(newer)
    store.close()
    assert main(["--pickle", str(token_file), "--store", "sqlite", "--sqlite", str(db)]) == 0
    assert stored(db)["bob@example.org"] == [newer]


def test_dry_run_writes_nothing(
    token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tokens.sqlite3"
    assert (
        main(["--pickle", str(token_file), "--dry-run", "--store", "sqlite", "--sqlite", str(db)])
        == 0
    )
    assert not db.exists()
    assert list(tmp_path.iterdir()) == [token_file]

    out = capsys.readouterr().out
    upserts = [line for line in out.splitlines() if line.startswith("would upsert ")]
    assert len(upserts) == 3
    assert (
        "would upsert bob@example.org org.linphone.phone dev1 apple token=c3c3c3... silent=False"
        in upserts
    )
    assert VOIP not in out and FCM not in out  # tokens are masked
    assert "devices to import: 3\n" in out
    assert summary_lines(out) == EXPECTED_SKIPPED


def test_dry_run_needs_no_store(token_file: Path) -> None:
    assert main(["--pickle", str(token_file), "--dry-run"]) == 0


def test_imports_into_dynamodb(token_file: Path, moto_server: str) -> None:
    from chalicelib.tokens.dynamodb import DynamoTokenStore, create_table, default_client
    from tests.aws import reset_moto

    reset_moto(moto_server)
    create_table(default_client(), "migrated")
    assert main(["--pickle", str(token_file), "--store", "dynamodb", "--table", "migrated"]) == 0
    store = DynamoTokenStore("migrated")
    assert store.devices("alice@example.com") == EXPECTED_ALICE
    assert store.devices("bob@example.org") == EXPECTED_BOB


def test_unreachable_keyspaces_fails_with_exit_1(
    token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--pickle", str(token_file), "--store", "keyspaces"]
    argv += ["--contact-points", "127.0.0.1", "--keyspace", "sylk", "--port", "1"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "token storage unavailable" in captured.err
    assert "devices imported: 0\n" in captured.out


class Evil:
    def __init__(self, call: Callable[..., Any], *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.call, self.args


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        (lambda marker: Evil(os.system, f"touch {marker}"), "system"),
        (lambda marker: Evil(eval, f"open({str(marker)!r}, 'w')"), "builtins.eval"),
        (lambda marker: Evil(getattr, str(marker), "upper"), "builtins.getattr"),
    ],
)
def test_malicious_pickle_is_refused_without_running_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    payload: Callable[[Path], Evil],
    name: str,
) -> None:
    marker = tmp_path / "pwned"
    data = defaultdict(dict, {"alice@example.com": {"k": payload(marker)}})
    path = write_pickle(tmp_path / "webrtc_device_tokens", data)
    db = tmp_path / "tokens.sqlite3"

    assert main(["--pickle", str(path), "--store", "sqlite", "--sqlite", str(db)]) == 2
    assert not marker.exists()
    assert not db.exists()
    assert "refusing pickle global" in capsys.readouterr().err
    with pytest.raises(RefusedPickle, match=name):
        load_pickle(path)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_of_plain_containers_loads(tmp_path: Path, protocol: int) -> None:
    data = original_file()
    path = write_pickle(tmp_path / "tokens", data, protocol)
    assert load_pickle(path) == data


def test_ordered_dict_and_python2_builtins_load(tmp_path: Path) -> None:
    data = OrderedDict({"alice@example.com": OrderedDict({"k": {"silent": True}})})
    assert load_pickle(write_pickle(tmp_path / "a", data, 2)) == data
    # Protocol 0/1 of Python 2 name the builtins module "__builtin__".
    legacy = b"c__builtin__\ndict\n(tR."
    (tmp_path / "b").write_bytes(legacy)
    assert load_pickle(tmp_path / "b") == {}


def test_not_a_mapping_or_not_a_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pickle", str(write_pickle(tmp_path / "a", ["x"])), "--dry-run"]) == 2
    (tmp_path / "b").write_bytes(b"not a pickle")
    assert main(["--pickle", str(tmp_path / "b"), "--dry-run"]) == 2
    assert main(["--pickle", str(tmp_path / "missing"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "not {account: devices}" in err
    assert "cannot read" in err


def test_store_options_are_checked(token_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--pickle", str(token_file), "--store", "keyspaces", "--keyspace", "k"])
    assert exit_info.value.code == 2
    assert "--store keyspaces needs --contact-points" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--pickle", str(token_file)])
    assert "--store is required" in capsys.readouterr().err


def record(**fields: Any) -> dict[str, Any]:
    return {"app_id": "app", "platform": "apple", "token": "t", "device_id": "d", **fields}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"platform": "APNS"}, {"platform": "apple"}),
        ({"platform": "fcm"}, {"platform": "firebase"}),
        ({"device_id": "<urn:uuid:abc>"}, {"device_id": "abc"}),
        ({"device_id": "deadphone"}, {"device_id": "deadphone"}),  # no character-set strip
        ({"silent": 0}, {"silent": False}),
        ({"silent": "true"}, {"silent": True}),
        ({"silent": None}, {"silent": True}),
        ({"background_token": ""}, {"background_token": None}),
        ({"app_id": None, "app-id": "app2"}, {"app_id": "app2"}),
    ],
)
def test_record_normalisation(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    device = to_device("a@b", "app-d", record(**fields))
    for name, value in expected.items():
        assert getattr(device, name) == value


def test_device_id_from_the_key_when_missing() -> None:
    device = to_device("a@b", "app-5d0b-11ee", record(device_id=None))
    assert device.device_id == "5d0b-11ee"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not a dict", "record is a str, not a mapping"),
        (record(token=None), "missing token"),
        (record(token=123), "token is not a string (int)"),
        (record(app_id="a" * 256), "app_id is longer than 255 characters"),
        (record(silent="maybe"), "silent is not a boolean ('maybe')"),
        (record(device_id=None), "missing device_id"),
    ],
)
def test_malformed_records(value: Any, reason: str) -> None:
    with pytest.raises(Malformed) as info:
        to_device("a@b", "other-key", value)
    assert str(info.value) == reason


def test_duplicates_after_cleaning_keep_the_last() -> None:
    data = {
        "a@b": {
            "app-<urn:uuid:d>": record(device_id="<urn:uuid:d>", token="old"),
            "app-d": record(token="new"),
        },
        "c@d": ["not", "a", "mapping"],
    }
    result = plan(data)
    assert [d.token for d in result.devices] == ["new"]
    reasons = {(s.account, s.key, s.reason) for s in result.skipped}
    assert reasons == {
        ("a@b", "app-<urn:uuid:d>", "superseded by app-d"),
        ("c@d", "*", "devices are a list, not a mapping"),
    }


def test_factory_builds_a_sqlite_store(tmp_path: Path) -> None:
    options = migrate_tokens.parser().parse_args(
        ["--pickle", "x", "--store", "sqlite", "--sqlite", str(tmp_path / "t.db")]
    )
    store = migrate_tokens.make_store(options)
    assert isinstance(store, SqliteTokenStore)
    assert store.path == tmp_path / "t.db"


# bytes(200 MiB) in 28 bytes: the global, the size as an argument tuple, REDUCE
HUGE_BYTES = b"\x80\x04\x8c\x08builtins\x8c\x05bytes\x93J\x00\x00\x80\x0c\x85R."


def test_a_pickle_that_asks_for_gigabytes_is_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "webrtc_device_tokens"
    path.write_bytes(HUGE_BYTES)
    with pytest.raises(RefusedPickle, match=r"bytes\(\) would build 209,715,200 bytes"):
        load_pickle(path)
    assert main(["--pickle", str(path), "--dry-run"]) == 2
    assert "more than the 67,108,864 a token file ever needs" in capsys.readouterr().err


def test_many_small_calls_share_one_budget(tmp_path: Path) -> None:
    # 100 calls of list(bytes(1 MiB)): each within the bound, together over it
    one = b"cbuiltins\nlist\n(cbuiltins\nbytes\n(J\x00\x00\x10\x00tRtR"
    path = tmp_path / "tokens"
    path.write_bytes(b"\x80\x02(" + one * 100 + b"l.")
    with pytest.raises(RefusedPickle, match="a token file ever needs"):
        load_pickle(path)


def test_str_of_a_container_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_bytes(b"\x80\x02cbuiltins\nstr\n]\x85R.")  # str([])
    with pytest.raises(RefusedPickle, match=r"str\(\) of a container"):
        load_pickle(path)


# a tuple of two references to the level below, 60 levels: 2**60 leaves in 500 bytes
SHARED = b"q\x000h\x00h\x00\x86" * 60  # memoize, pop, push it twice, pair them


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x02cbuiltins\nstr\n)" + SHARED + b"\x85R.",  # str() of it: its repr
        b"\x80\x02})" + SHARED + b"K\x01s.",  # a dict key: its hash
    ],
)
def test_shared_containers_are_refused_before_anything_is_built(
    tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "tokens"
    path.write_bytes(data)
    started = time.monotonic()
    with pytest.raises(RefusedPickle, match="a container referenced twice"):
        load_pickle(path)
    assert time.monotonic() - started < 1


def test_a_length_longer_than_the_file_is_not_allocated(tmp_path: Path) -> None:
    # BINBYTES8 announcing 2**40 bytes in a 14-byte file
    path = tmp_path / "tokens"
    path.write_bytes(b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"abc")
    with pytest.raises(pickle.UnpicklingError, match="truncated"):
        load_pickle(path)
