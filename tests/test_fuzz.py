"""Random bodies of every shape on every route: always the envelope, never a 500."""

from __future__ import annotations

import json
import random
from typing import Any

from chalice.test import Client

from fakepns.fake_apns import FakeApns
from fakepns.fake_fcm import FakeFcm
from fakepns.server_config import LINPHONE, SYLK
from tests.helpers import call

KEYS = [
    "app-id", "platform", "event", "token", "device-id", "call-id", "from", "from-display-name",
    "to", "media-type", "silent", "reason", "badge", "filename", "filetype", "account",
    "content", "content-type", "user-agent", "app_id", "call_id",
]  # fmt: skip
GOOD = {
    "app-id": [SYLK, LINPHONE, "com.unknown"],
    "platform": ["ios", "android", "APNS", "fcm", "windows"],
    "event": ["incoming_session", "cancel", "message", "transfer", "incoming_conference", "x"],
    "media-type": ["audio", "video", "sms", "file-transfer", "fax"],
}


def value(rng: random.Random, key: str) -> Any:
    kind = rng.randrange(10)
    if kind < 4 and key in GOOD:
        return rng.choice(GOOD[key])
    if kind < 6:
        length = rng.choice([0, 1, 8, 64, 300, 2000])
        return "".join(rng.choice('ab0-:@\u00e9\u4e2d\U0001f600\x00\n"\\') for _ in range(length))
    return rng.choice([None, True, False, 0, -1, 10**20, 3.5, [], ["a"], {}, {"k": "v"}])


VALID = {
    "app-id": SYLK,
    "platform": "ios",
    "event": "incoming_session",
    "token": "ab" * 32,
    "device-id": "dev/x",
    "call-id": "fuzz-1",
    "from": "a@example.com",
    "to": "b@example.com",
    "media-type": "audio",
}


def body(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.4:  # a valid request with one field changed, or none
        changed = dict(VALID)
        if rng.random() < 0.5:
            key = rng.choice(KEYS)
            changed[key] = value(rng, key)
        return changed
    return {key: value(rng, key) for key in rng.sample(KEYS, rng.randrange(len(KEYS)))}


def test_random_bodies_never_crash_the_api(client: Client, apns: FakeApns, fcm: FakeFcm) -> None:
    rng = random.Random(20261127)
    routes = [
        ("POST", "/push"),
        ("POST", "/v2/tokens/fuzz@example.com"),
        ("DELETE", "/v2/tokens/fuzz@example.com"),
        ("POST", "/v2/tokens/fuzz@example.com/push"),
        ("POST", "/v2/tokens/fuzz@example.com/push/dev%2Fx"),
    ]
    statuses: set[int] = set()
    for _ in range(400):
        method, path = rng.choice(routes)
        payload: Any = body(rng) if rng.random() < 0.9 else rng.choice([[], "x", 1, None])
        status, answer = call(client, method, path, json.dumps(payload))
        statuses.add(status)
        assert status < 500 or status in (502, 503), (method, path, payload, answer)
        assert set(answer) == {"code", "description", "data"}
        assert answer["code"] == status
    assert {200, 400, 404} <= statuses  # the sweep reached valid requests as well as bad ones
