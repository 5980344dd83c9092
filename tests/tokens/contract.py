"""The one behaviour every TokenStore backend must show.

A backend's test module subclasses `TokenStoreContract` as `Test<Backend>` and overrides the
`store` fixture with a fresh, empty store per test. Nothing here knows about a backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.tokens.base import Device, TokenStore

ACCOUNT = "alice@example.com"
T0 = 1_700_000_000.25  # explicit timestamps so stored records compare equal to the input


def device(
    account: str = ACCOUNT,
    app_id: str = "com.agprojects.sylk",
    device_id: str = "device-1",
    **fields: Any,
) -> Device:
    values: dict[str, Any] = {"platform": "apple", "token": "token-1", "updated_at": T0}
    values.update(fields)
    return Device(account=account, app_id=app_id, device_id=device_id, **values)


def run_together(tasks: list[Callable[[], None]]) -> None:
    """Run every task in its own thread, released at the same moment; re-raise failures."""
    barrier = threading.Barrier(len(tasks))

    def run(task: Callable[[], None]) -> None:
        barrier.wait(timeout=10)
        task()

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        for future in [pool.submit(run, task) for task in tasks]:
            future.result(timeout=60)


class TokenStoreContract:
    """Subclass me; not collected by itself (no `Test` prefix)."""

    @pytest.fixture
    def store(self) -> Iterator[TokenStore]:
        raise NotImplementedError("a backend's test class provides a fresh `store` fixture")

    def test_upsert_then_devices(self, store: TokenStore) -> None:
        stored = device()
        store.upsert(stored)
        assert store.devices(ACCOUNT) == [stored]

    def test_upsert_same_key_replaces(self, store: TokenStore) -> None:
        store.upsert(device(token="old", background_token="old-bg", user_agent="Sylk 1"))
        newer = device(
            platform="firebase",
            token="new",
            background_token=None,
            silent=False,
            user_agent=None,
            updated_at=T0 + 60,
        )
        store.upsert(newer)
        assert store.devices(ACCOUNT) == [newer]

    def test_same_device_id_under_two_apps_is_two_devices(self, store: TokenStore) -> None:
        first = device(app_id="com.example.one", token="t1")
        second = device(app_id="com.example.two", token="t2")
        store.upsert(first)
        store.upsert(second)
        assert store.devices(ACCOUNT) == [first, second]

    def test_remove_existing(self, store: TokenStore) -> None:
        kept = device(device_id="device-2")
        store.upsert(device())
        store.upsert(kept)
        assert store.remove(ACCOUNT, "com.agprojects.sylk", "device-1") is True
        assert store.devices(ACCOUNT) == [kept]
        assert store.remove(ACCOUNT, "com.agprojects.sylk", "device-1") is False

    def test_remove_missing(self, store: TokenStore) -> None:
        stored = device()
        store.upsert(stored)
        assert store.remove(ACCOUNT, "com.agprojects.sylk", "no-such-device") is False
        assert store.remove(ACCOUNT, "com.other.app", "device-1") is False
        assert store.remove("nobody@example.com", "com.agprojects.sylk", "device-1") is False
        assert store.devices(ACCOUNT) == [stored]

    def test_remove_if_token_stale_token_keeps_device(self, store: TokenStore) -> None:
        current = device(token="new-token")
        store.upsert(current)
        assert store.remove_if_token(ACCOUNT, current.app_id, current.device_id, "old") is False
        assert store.devices(ACCOUNT) == [current]

    def test_remove_if_token_current_token_removes(self, store: TokenStore) -> None:
        current = device(token="new-token")
        store.upsert(current)
        assert store.remove_if_token(ACCOUNT, current.app_id, current.device_id, "new-token")
        assert store.devices(ACCOUNT) == []

    def test_forget_background_if_keeps_the_device_and_its_main_token(
        self, store: TokenStore
    ) -> None:
        stored = device(token="voip", background_token="regular")
        store.upsert(stored)
        assert store.forget_background_if(ACCOUNT, stored.app_id, stored.device_id, "regular")
        assert store.devices(ACCOUNT) == [device(token="voip", background_token=None)]
        assert not store.forget_background_if(ACCOUNT, stored.app_id, stored.device_id, "regular")

    def test_forget_background_if_a_stale_token_changes_nothing(self, store: TokenStore) -> None:
        stored = device(token="voip", background_token="new-regular")
        store.upsert(stored)
        assert not store.forget_background_if(ACCOUNT, stored.app_id, stored.device_id, "old")
        assert not store.forget_background_if(ACCOUNT, stored.app_id, stored.device_id, "voip")
        assert not store.forget_background_if(ACCOUNT, stored.app_id, "other-device", "old")
        assert store.devices(ACCOUNT) == [stored]

    def test_remove_if_token_missing_device(self, store: TokenStore) -> None:
        assert store.remove_if_token(ACCOUNT, "com.agprojects.sylk", "device-1", "t") is False

    def test_register_again_after_remove(self, store: TokenStore) -> None:
        store.upsert(device())
        store.remove(ACCOUNT, "com.agprojects.sylk", "device-1")
        again = device(token="token-2", updated_at=T0 + 1)
        store.upsert(again)
        assert store.devices(ACCOUNT) == [again]

    def test_ids_with_separator_characters_stay_distinct(self, store: TokenStore) -> None:
        # A backend that joins app_id and device_id into one key must not merge these.
        keys = [("a#b", "c"), ("a", "b#c"), ("a-b", "c"), ("a", "b-c"), ("a:b", "c"), ("a", "b:c")]
        stored = [device(app_id=a, device_id=d, token=f"{a}|{d}") for a, d in keys]
        for one in stored:
            store.upsert(one)
        assert store.devices(ACCOUNT) == sorted(stored, key=lambda d: (d.app_id, d.device_id))
        assert store.remove(ACCOUNT, "a", "b#c") is True
        assert len(store.devices(ACCOUNT)) == len(keys) - 1

    def test_unknown_account_has_no_devices(self, store: TokenStore) -> None:
        store.upsert(device())
        assert store.devices("nobody@example.com") == []

    def test_other_accounts_untouched(self, store: TokenStore) -> None:
        alice = device()
        bob = device(account="bob@example.com")
        # Accounts are compared exactly: case matters.
        upper = device(account="Alice@example.com")
        for stored in (alice, bob, upper):
            store.upsert(stored)
        assert store.remove(ACCOUNT, alice.app_id, alice.device_id) is True
        assert store.devices(ACCOUNT) == []
        assert store.devices("bob@example.com") == [bob]
        assert store.devices("Alice@example.com") == [upper]

    def test_devices_ordered_by_app_id_then_device_id(self, store: TokenStore) -> None:
        # Prefixes, punctuation below "#" and "." and case: an order of (app_id, device_id)
        # by code point, which is what Python's sorted() gives.
        keys = [
            ("com.x", "b"),
            ("com.x.beta", "a"),
            ("com.x", "B"),
            ("com x", "z"),
            ("com.x", "10"),
            ("com!x", "a"),
            ("com.x", "9"),
            ("com.xa", "0"),
            ("Com.x", "a"),
            ("com.x", "a#b"),
        ]
        for number, (app_id, device_id) in enumerate(keys):
            store.upsert(device(app_id=app_id, device_id=device_id, token=f"t{number}"))
        listed = [(d.app_id, d.device_id) for d in store.devices(ACCOUNT)]
        assert listed == sorted(keys)

    @pytest.mark.parametrize(
        "account",
        ["jöhn.dœ@exämple.org", "📱🎉@例え.jp", "用户@例子.中国", "sip:alice@example.com"],
    )
    def test_unicode_accounts(self, store: TokenStore, account: str) -> None:
        stored = device(account=account, app_id="com.exämple.app", device_id="gerät-😀")
        store.upsert(stored)
        assert store.devices(account) == [stored]
        assert store.devices(ACCOUNT) == []
        assert store.remove(account, "com.exämple.app", "gerät-😀") is True
        assert store.devices(account) == []

    @pytest.mark.parametrize("char", ["d", "ü", "😀"])
    def test_long_ids_and_token(self, store: TokenStore, char: str) -> None:
        # The validation maxima: 255-character ids, 1024-character tokens.
        stored = device(
            app_id="a" + char * 254,
            device_id=char * 255,
            token="t" * 1024,
            background_token="b" * 1024,
            user_agent="u" * 1024,
        )
        store.upsert(stored)
        assert store.devices(ACCOUNT) == [stored]
        assert store.remove_if_token(ACCOUNT, stored.app_id, stored.device_id, "t" * 1024)
        assert store.devices(ACCOUNT) == []

    @pytest.mark.parametrize("background_token", [None, "voip-less-token"])
    def test_background_token_round_trips(
        self, store: TokenStore, background_token: str | None
    ) -> None:
        stored = device(background_token=background_token)
        store.upsert(stored)
        assert store.devices(ACCOUNT)[0].background_token == background_token

    @pytest.mark.parametrize("silent", [False, True])
    def test_silent_round_trips(self, store: TokenStore, silent: bool) -> None:
        stored = device(silent=silent)
        store.upsert(stored)
        assert store.devices(ACCOUNT)[0].silent is silent

    @pytest.mark.parametrize("user_agent", [None, "SylkMobile/5.0 (iPhone; iOS 17.4)"])
    def test_user_agent_round_trips(self, store: TokenStore, user_agent: str | None) -> None:
        stored = device(user_agent=user_agent)
        store.upsert(stored)
        assert store.devices(ACCOUNT)[0].user_agent == user_agent

    def test_platforms_round_trip(self, store: TokenStore) -> None:
        apple = device(device_id="phone", platform="apple")
        firebase = device(device_id="tablet", platform="firebase")
        store.upsert(apple)
        store.upsert(firebase)
        assert store.devices(ACCOUNT) == [apple, firebase]

    def test_concurrent_upserts_of_one_device_leave_one_record(self, store: TokenStore) -> None:
        tokens = [f"token-{n}" for n in range(10)]

        def register(token: str) -> Callable[[], None]:
            return lambda: store.upsert(device(token=token, updated_at=time.time()))

        run_together([register(token) for token in tokens])
        stored = store.devices(ACCOUNT)
        assert len(stored) == 1
        assert stored[0].token in tokens

    def test_concurrent_upserts_of_different_devices_all_land(self, store: TokenStore) -> None:
        devices = [device(device_id=f"device-{n:02}", token=f"token-{n}") for n in range(10)]

        def register(stored: Device) -> Callable[[], None]:
            return lambda: store.upsert(stored)

        run_together([register(stored) for stored in devices])
        assert store.devices(ACCOUNT) == devices


class NewestRegistrationWinsContract:
    """Opt-in for backends that order writes by `updated_at` (SQLite and DynamoDB do): a late,
    older registration must not replace a newer one, and an unstamped device (updated_at 0.0,
    the dataclass default) gets the time of the write. Mix in next to TokenStoreContract."""

    def test_older_registration_does_not_replace_newer(self, store: TokenStore) -> None:
        current = device(token="new", updated_at=T0 + 60)
        store.upsert(current)
        store.upsert(device(token="late-and-old", updated_at=T0))
        assert store.devices(ACCOUNT) == [current]

    def test_same_timestamp_replaces(self, store: TokenStore) -> None:
        store.upsert(device(token="first"))
        second = device(token="second")
        store.upsert(second)
        assert store.devices(ACCOUNT) == [second]

    def test_unstamped_device_gets_the_write_time(self, store: TokenStore) -> None:
        before = time.time()
        store.upsert(device(updated_at=0.0))
        after = time.time()
        (stored,) = store.devices(ACCOUNT)
        assert before <= stored.updated_at <= after
