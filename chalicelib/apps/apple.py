"""APNs conventions shared by app types: topics, headers, limits, the A-B token split."""

from __future__ import annotations

from ..models import CALL_EVENTS

APNS_LIMIT = 4096
APNS_VOIP_LIMIT = 5120
_STAGE_SUFFIXES = (".dev", ".prod")


def topic_base(app_id: str) -> str:
    """The bundle id: app ids may carry a `.dev`/`.prod` stage that APNs does not know."""
    if app_id.endswith(_STAGE_SUFFIXES):
        return app_id.rpartition(".")[0]
    return app_id


def expiration(event: str, deadline: float) -> str:
    """`apns-expiration`: calls and cancels are worth nothing later ("0" = now or never);
    messages and transfers may wait in APNs storage until the deadline."""
    if event in CALL_EVENTS or event == "cancel":
        return "0"
    return str(int(deadline))


def headers(push_type: str, topic: str, priority: str, expires: str) -> dict[str, str]:
    """The APNs request headers an app type decides (auth and apns-id are the transport's)."""
    return {
        "apns-push-type": push_type,
        "apns-topic": topic,
        "apns-priority": priority,
        "apns-expiration": expires,
    }


def limit(push_type: str) -> int:
    """APNs payload limit in bytes: VoIP pushes get more room."""
    return APNS_VOIP_LIMIT if push_type == "voip" else APNS_LIMIT


def select_token(token: str, event: str, platform: str) -> str:
    """Apple tokens `A-B` carry two tokens: A (PushKit) for calls on the voip topic, B
    (regular) for everything on the app topic. No B -> A. Firebase tokens are unchanged."""
    if platform != "apple":
        return token
    first, _, second = token.partition("-")
    if event in CALL_EVENTS:
        return first or second or token
    return second or first or token
