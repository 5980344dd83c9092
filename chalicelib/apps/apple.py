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


def split_token(token: str) -> tuple[str, str | None]:
    """An Apple device's `A-B` as (A: the PushKit token, B: the regular token), B None when
    there is none. `A#B`, the original client's older spelling, is the same pair."""
    voip, _, regular = token.replace("#", "-").partition("-")
    return voip, regular or None


def select_token(token: str, event: str, platform: str) -> str:
    """The one token a push of `event` goes to: of an Apple pair, A for calls on the voip
    topic, B for everything on the app topic; one token alone serves both. Other platforms'
    tokens are used as they are. Sending, results, logs and dead-token handling all ask this."""
    if platform != "apple":
        return token
    voip, regular = split_token(token)
    if event in CALL_EVENTS:
        return voip or regular or token
    return regular or voip or token
