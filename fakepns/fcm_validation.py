"""FCM v1 `messages:send` body rules (pns-protocols.md 2.2 and 5.2).

Field names are accepted in snake_case and lowerCamelCase, as proto3 JSON is.
Returns the parsed send or the Reply Google would give.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .fcm_errors import Reply

TARGETS = ("token", "topic", "condition", "fid")
PAYLOAD_LIMIT = 4096
TOPIC_PAYLOAD_LIMIT = 2048
MAX_TTL_SECONDS = 2_419_200
_TTL = re.compile(r"\d+(\.\d{1,9})?s")
_REQUEST_FIELDS = {"message", "validate_only", "validateOnly"}
_MESSAGE_FIELDS = {
    "name",
    "data",
    "notification",
    "android",
    "webpush",
    "apns",
    "fcm_options",
    "fcmOptions",
    *TARGETS,
}
_ANDROID_FIELDS = {
    "collapse_key",
    "collapseKey",
    "priority",
    "ttl",
    "restricted_package_name",
    "restrictedPackageName",
    "data",
    "notification",
    "fcm_options",
    "fcmOptions",
    "direct_boot_ok",
    "directBootOk",
    "bandwidth_constrained_ok",
    "bandwidthConstrainedOk",
    "restricted_satellite_ok",
    "restrictedSatelliteOk",
}
_ANDROID_PRIORITIES = {"normal", "high"}


@dataclass(frozen=True)
class ParsedSend:
    message: dict[str, Any]
    validate_only: bool
    target_kind: str
    target: str


def _invalid(message: str, field: str | None = None, error_code: str | None = None) -> Reply:
    violations = ((field, message),) if field is not None else ()
    return Reply(400, error_code, message, field_violations=violations)


def _unknown_names(obj: dict[str, Any], allowed: set[str], path: str) -> Reply | None:
    for name in obj:
        if name not in allowed:
            where = f" at '{path}'" if path else ""
            text = (
                f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'
            )
            return _invalid(text, path)
    return None


def _string_map(value: Any, path: str) -> Reply | None:
    """map<string, string>: every value must be a JSON string."""
    if not isinstance(value, dict):
        return _invalid(f"Invalid value at '{path}' (Map), {json.dumps(value)}", path)
    violations = tuple(
        (
            f"{path}[{i}].value",
            f"Invalid value at '{path}[{i}].value' (TYPE_STRING), {json.dumps(v)}",
        )
        for i, v in enumerate(value.values())
        if not isinstance(v, str)
    )
    if violations:
        text = "\n".join(description for _, description in violations)
        return Reply(400, None, text, field_violations=violations)
    return None


def _either(obj: dict[str, Any], snake: str, camel: str) -> Any:
    return obj[snake] if snake in obj else obj.get(camel)


def _check_data(data: dict[str, str], path: str) -> Reply | None:
    for key in data:
        if key in ("from", "message_type") or key.startswith(("google", "gcm")):
            return _invalid(f"Invalid data payload key: {key}", path, "INVALID_ARGUMENT")
    return None


def _check_android(android: Any) -> Reply | None:
    path = "message.android"
    if not isinstance(android, dict):
        return _invalid(f"Invalid value at '{path}' (AndroidConfig), {json.dumps(android)}", path)
    problem = _unknown_names(android, _ANDROID_FIELDS, path)
    if problem is None and "data" in android:
        problem = _string_map(android["data"], f"{path}.data") or _check_data(
            android["data"], f"{path}.data"
        )
    if problem is not None:
        return problem
    priority = android.get("priority")
    if priority is not None and not (
        (isinstance(priority, str) and priority.lower() in _ANDROID_PRIORITIES)
        or priority in (0, 1)
    ):
        return _invalid(
            f"Invalid value at '{path}.priority' "
            f"(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "
            f"{json.dumps(priority)}",
            f"{path}.priority",
        )
    ttl = android.get("ttl")
    if ttl is not None:
        if not isinstance(ttl, str) or not _TTL.fullmatch(ttl):
            return _invalid(
                f"Invalid value at '{path}.ttl' (type.googleapis.com/google.protobuf.Duration), "
                f"{json.dumps(ttl)}",
                f"{path}.ttl",
            )
        if float(ttl[:-1]) > MAX_TTL_SECONDS:
            return _invalid(
                f"TTL {ttl} is longer than the maximum of {MAX_TTL_SECONDS}s (4 weeks)",
                f"{path}.ttl",
                "INVALID_ARGUMENT",
            )
    return None


def payload_size(message: dict[str, Any]) -> int:
    """Bytes FCM counts against the limit: keys and values of data, notification texts.

    An approximation: FCM's exact accounting is not published.
    """
    size = 0
    android = message.get("android")
    android = android if isinstance(android, dict) else {}
    for data in (message.get("data"), android.get("data")):
        if isinstance(data, dict):
            size += sum(len(str(k).encode()) + len(str(v).encode()) for k, v in data.items())
    for notification in (message.get("notification"), android.get("notification")):
        if isinstance(notification, dict):
            size += sum(len(v.encode()) for v in notification.values() if isinstance(v, str))
    return size


def _check_target(message: dict[str, Any]) -> tuple[str, str] | Reply:
    targets = [t for t in TARGETS if t in message]
    if not targets:
        return _invalid("Recipient of the message is not set.", None, "INVALID_ARGUMENT")
    if len(targets) > 1:
        return _invalid(
            f"Invalid value at 'message' (oneof), oneof field 'target' is already set. "
            f"Cannot set '{targets[1]}'",
            "message",
        )
    kind = targets[0]
    value = message[kind]
    if not isinstance(value, str):
        return _invalid(
            f"Invalid value at 'message.{kind}' (TYPE_STRING), {json.dumps(value)}",
            f"message.{kind}",
        )
    if not value.strip():
        return _invalid("Recipient of the message is not set.", None, "INVALID_ARGUMENT")
    return kind, value


def parse_send(body: bytes) -> ParsedSend | Reply:
    try:
        document = json.loads(body)
    except ValueError:
        return _invalid("Invalid JSON payload received. Unexpected token.", "")
    if not isinstance(document, dict):
        return _invalid(
            'Invalid JSON payload received. Unknown name "": Root element must be a message.', ""
        )
    problem = _unknown_names(document, _REQUEST_FIELDS, "")
    if problem is not None:
        return problem
    message = document.get("message")
    if not isinstance(message, dict):
        return _invalid("Request contains an invalid argument.", "message", "INVALID_ARGUMENT")
    validate_only = _either(document, "validate_only", "validateOnly")
    if validate_only is not None and not isinstance(validate_only, bool):
        return _invalid(
            f"Invalid value at 'validate_only' (TYPE_BOOL), {json.dumps(validate_only)}",
            "validate_only",
        )
    problem = _unknown_names(message, _MESSAGE_FIELDS, "message")
    if problem is not None:
        return problem
    target = _check_target(message)
    if isinstance(target, Reply):
        return target
    if "data" in message:
        problem = _string_map(message["data"], "message.data") or _check_data(
            message["data"], "message.data"
        )
    if problem is None and "android" in message:
        problem = _check_android(message["android"])
    if problem is None:
        problem = _check_apns_webpush(message)
    if problem is not None:
        return problem
    limit = TOPIC_PAYLOAD_LIMIT if target[0] in ("topic", "condition") else PAYLOAD_LIMIT
    size = payload_size(message)
    if size > limit:
        return _invalid(
            f"Message is too big: {size} bytes of payload, the limit is {limit}.",
            None,
            "INVALID_ARGUMENT",
        )
    return ParsedSend(message, bool(validate_only), target[0], target[1])


def _check_apns_webpush(message: dict[str, Any]) -> Reply | None:
    """Header and data maps of the apns / webpush blocks are map<string, string> too."""
    for block, maps in (("apns", ("headers",)), ("webpush", ("headers", "data"))):
        config = message.get(block)
        if config is None:
            continue
        if not isinstance(config, dict):
            return _invalid(f"Invalid value at 'message.{block}', {json.dumps(config)}", block)
        for name in maps:
            if name in config:
                problem = _string_map(config[name], f"message.{block}.{name}")
                if problem is not None:
                    return problem
    return None
