"""What a push service sends: the notification an app type builds, and its bytes on the wire.

Neutral ground between the app types (`apps/`) and the transports (`pns/`): both import it,
it imports neither, so a transport never loads an app type or the request models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The transport sends exactly these bytes, so sizes measured here are the sizes on the wire.
_SEPARATORS = (",", ":")


@dataclass(frozen=True, slots=True)
class Notification:
    """What an app type asks a push service to send; no transport details."""

    token: str  # device token actually used (after the Apple A-B split)
    headers: dict[str, str]  # APNs: apns-push-type/-topic/-priority/-expiration; FCM: {}
    payload: dict[str, Any]  # APNs JSON body; FCM: {"message": {...}} (HTTP v1 shape)
    push_type: str  # APNs push type ("voip"/"alert"/"background"); "fcm" for Firebase


def encode(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact JSON, UTF-8, no ASCII escaping (smallest on the wire)."""
    return json.dumps(payload, separators=_SEPARATORS, ensure_ascii=False).encode()
