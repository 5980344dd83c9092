"""APNs request rules (pns-protocols.md 1.2-1.3): path, headers, topic, payload."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .actions import Request

DEVICE_PREFIX = "/3/device/"
PAYLOAD_LIMIT = 4096
VOIP_PAYLOAD_LIMIT = 5120
COLLAPSE_ID_LIMIT = 64

# The topic suffix each push type requires after the bundle ID.
PUSH_TYPE_SUFFIXES: dict[str, str] = {
    "alert": "",
    "background": "",
    "voip": ".voip",
    "complication": ".complication",
    "controls": ".push-type.controls",
    "fileprovider": ".pushkit.fileprovider",
    "liveactivity": ".push-type.liveactivity",
    "location": ".location-query",
    "mdm": "",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
}
_SUFFIXES = sorted({s for s in PUSH_TYPE_SUFFIXES.values() if s}, key=len, reverse=True)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2})+")


@dataclass(frozen=True)
class ApnsError:
    status: int
    reason: str


def is_apns_id(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def split_topic(topic: str) -> tuple[str, str]:
    """('com.app', '.voip') for 'com.app.voip'; a bare bundle ID has suffix ''."""
    for suffix in _SUFFIXES:
        if topic.endswith(suffix) and len(topic) > len(suffix):
            return topic[: -len(suffix)], suffix
    return topic, ""


def parse_device_path(request: Request) -> str | ApnsError:
    """The device token of a `POST /3/device/<hex>` request."""
    if request.method != "POST":
        return ApnsError(405, "MethodNotAllowed")
    path = request.path.split("?", 1)[0]
    if path in ("/3/device", DEVICE_PREFIX):
        return ApnsError(400, "MissingDeviceToken")
    token = path[len(DEVICE_PREFIX) :]
    if not path.startswith(DEVICE_PREFIX) or "/" in token:
        return ApnsError(404, "BadPath")
    if not _HEX_TOKEN.fullmatch(token):
        return ApnsError(400, "BadDeviceToken")
    return token


def check_headers(request: Request) -> ApnsError | None:
    names = [name for name, _ in request.headers]
    if len(names) != len(set(names)):
        return ApnsError(400, "DuplicateHeaders")
    push_type = request.header("apns-push-type")
    if push_type is not None and push_type not in PUSH_TYPE_SUFFIXES:
        return ApnsError(400, "InvalidPushType")
    priority = request.header("apns-priority")
    if priority is not None and priority not in ("10", "5", "1"):
        return ApnsError(400, "BadPriority")
    if push_type == "background" and priority == "10":
        return ApnsError(400, "BadPriority")  # Apple: background is always 5
    expiration = request.header("apns-expiration")
    if expiration is not None and not (expiration.isascii() and expiration.isdigit()):
        return ApnsError(400, "BadExpirationDate")
    apns_id = request.header("apns-id")
    if apns_id is not None and not is_apns_id(apns_id):
        return ApnsError(400, "BadMessageId")
    collapse_id = request.header("apns-collapse-id")
    if collapse_id is not None and len(collapse_id.encode()) > COLLAPSE_ID_LIMIT:
        return ApnsError(400, "BadCollapseId")
    return None


def effective_push_type(request: Request) -> str:
    """The declared push type, else a guess from the topic (APNs tolerates its absence)."""
    push_type = request.header("apns-push-type")
    if push_type is not None:
        return push_type
    topic = request.header("apns-topic") or ""
    return "voip" if split_topic(topic)[1] == ".voip" else "alert"


def resolve_topic(
    request: Request,
    allowed_bundles: frozenset[str],
    default_bundle: str | None,
    required_bundle: str | None,
) -> str | ApnsError:
    """The topic the push goes to.

    default_bundle: the certificate's app, used when the header is absent.
    required_bundle: with certificate auth, the only app the certificate may push to.
    """
    push_type = effective_push_type(request)
    suffix = PUSH_TYPE_SUFFIXES[push_type]
    topic = request.header("apns-topic")
    if not topic:
        if default_bundle is None:
            return ApnsError(400, "MissingTopic")
        topic = default_bundle + suffix
    if push_type == "mdm":
        return topic  # the topic is the MDM certificate's UID: nothing to check
    bundle, topic_suffix = split_topic(topic)
    if topic_suffix != suffix:
        return ApnsError(400, "BadTopic")
    if bundle not in allowed_bundles:
        return ApnsError(400, "TopicDisallowed")
    if required_bundle is not None and bundle != required_bundle:
        return ApnsError(400, "TopicDisallowed")
    return topic


def check_payload(body: bytes, push_type: str) -> ApnsError | None:
    if not body:
        return ApnsError(400, "PayloadEmpty")
    limit = VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT
    if len(body) > limit:
        return ApnsError(413, "PayloadTooLarge")
    return None
