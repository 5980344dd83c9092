"""Request models of API v1 and v2, with the original's hyphenated keys.

Every key is accepted hyphenated (`call-id`, the original's spelling) and with underscores
(`call_id`, the spelling its README shows). Validation collects every bad field into one
deterministic message, sorted by key, so callers can fix a request in one go.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from .errors import InvalidRequest

Platform = Literal["apple", "firebase"]
Event = Literal["incoming_session", "incoming_conference_request", "cancel", "message", "transfer"]
MediaType = Literal["audio", "video", "image", "chat", "sms", "file-transfer"]

PLATFORM_ALIASES: dict[str, Platform] = {
    "apple": "apple",
    "ios": "apple",
    "apns": "apple",
    "firebase": "firebase",
    "android": "firebase",
    "fcm": "firebase",
}
# What a caller may send, in words: error messages say what is accepted, not a pattern
PLATFORMS_IN_WORDS = " or ".join(
    f"{name} (or {', '.join(a for a, p in PLATFORM_ALIASES.items() if p == name and a != name)})"
    for name in get_args(Platform)
)
MEDIA_TYPES_IN_WORDS = ", ".join(get_args(MediaType))
TOKEN_IN_WORDS = "letters, digits and _ : . - only; an Apple pair joins its two with - or #"
EVENT_ALIASES = {"incoming_conference": "incoming_conference_request"}
CALL_EVENTS = frozenset({"incoming_session", "incoming_conference_request"})

Text = Annotated[str, StringConstraints(max_length=1024)]
# Texts an app type shortens to fit the payload: a length the fitting would have shortened and
# sent is never refused; the bound (the body's own limit) only stops abuse.
FITTED_MAX = 64 * 1024
FittedText = Annotated[
    str,
    StringConstraints(max_length=FITTED_MAX),
    Field(description="shortened to fit the push service's payload limit, never refused for it"),
]
# APNs tokens are hex, FCM tokens base64url with ':' (an Apple "A-B" pair joins two, "A#B" in
# the original client's older spelling): the token becomes part of a URL path, so nothing
# else may pass, and a "#" (never sent: only one half is) only between the halves.
Token = Annotated[
    str,
    Strict(),  # a number is no device token
    StringConstraints(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9_:.\-]+(#[A-Za-z0-9_:.\-]+)?$"
    ),
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=255)]
MAX_ACCOUNT = 255  # characters of a v2 account (user@domain), decoded from the path

_URN_UUID = re.compile(r"^<urn:uuid:(.+)>$")


# The original's lax inputs, kept and stated exactly (the OpenAPI document lists them): a
# badge may be a numeric string, a flag 0/1 or a word in any case.
TRUE_WORDS = ("1", "true", "yes", "on", "t", "y")
FALSE_WORDS = ("0", "false", "no", "off", "f", "n")
BADGE_TEXT = re.compile(r"[0-9]{1,6}")


def _badge_value(value: Any) -> Any:
    if isinstance(value, str) and BADGE_TEXT.fullmatch(value):
        return int(value)
    return value


def _flag_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in TRUE_WORDS + FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    return value


def _apple_pairs_only(value: str, info: ValidationInfo) -> str:
    """A "#" joins the two tokens of an Apple device; no other token has one."""
    if "#" in value and info.data.get("platform") != "apple":
        raise ValueError("only an Apple token pair A#B may contain '#'")
    return value


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


Badge = Annotated[
    int,
    Strict(),
    Field(ge=0, le=1_000_000),
    BeforeValidator(_badge_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                {"type": "string", "pattern": f"^{BADGE_TEXT.pattern}$"},
            ]
        }
    ),
]
Flag = Annotated[
    bool,
    Strict(),
    BeforeValidator(_flag_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "integer", "enum": [0, 1]},
                {
                    "type": "string",
                    "pattern": "^(?:"
                    + "|".join(_any_case(w) for w in TRUE_WORDS + FALSE_WORDS)
                    + ")$",
                },
            ]
        }
    ),
]


def normalize_platform(value: str) -> Platform | None:
    """`ios`, `APNS`, `android`... to `apple` / `firebase`; None when unknown."""
    return PLATFORM_ALIASES.get(value.strip().lower())


def clean_device_id(device_id: str) -> str:
    """Remove a `<urn:uuid:...>` wrapper (SIP `+sip.instance`), nothing else."""
    match = _URN_UUID.match(device_id)
    return match.group(1) if match else device_id


def _platform_value(value: Any) -> Any:
    if isinstance(value, str):
        platform = normalize_platform(value)
        if platform is None:
            raise PydanticCustomError(
                "platform",
                "unknown platform {value}: use {accepted}",
                {"value": repr(value), "accepted": PLATFORMS_IN_WORDS},
            )
        return platform
    return value


# `ios`, `APNS`, `android`... accepted for the platform; a SIP instance wrapper removed
PlatformName = Annotated[Platform, BeforeValidator(_platform_value)]
DeviceId = Annotated[Id, AfterValidator(clean_device_id)]


def present(body: dict[str, Any]) -> dict[str, Any]:
    """The keys of `body` that have a value: a null counts as absent, so the other spelling
    of an aliased key applies (`{"from-display-name": null, "from_display_name": "Zoe"}`)."""
    return {key: value for key, value in body.items() if value is not None}


def _key(name: str, *, required: bool = False, default: Any = None) -> Any:
    """A field reachable as `name` and as its underscore spelling."""
    alias = AliasChoices(name, name.replace("-", "_"))
    if required:
        return Field(validation_alias=alias, serialization_alias=name)
    return Field(default, validation_alias=alias, serialization_alias=name)


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        coerce_numbers_to_str=True,
        frozen=True,
        populate_by_name=True,
        defer_build=True,  # built on first use: a v1 container never builds the v2 models
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return present(data) if isinstance(data, dict) else data


class PushFields(_Model):
    """What a push says about the call or message: shared by v1 and v2 push requests."""

    event: Event | None = _key("event")
    call_id: Id = _key("call-id", required=True)
    sip_from: Text = Field(
        validation_alias=AliasChoices("from", "sip_from"), serialization_alias="from"
    )
    from_display_name: FittedText | None = _key("from-display-name")
    to: Text = _key("to", required=True)
    media_type: MediaType | None = _key("media-type")
    reason: Text | None = _key("reason")
    badge: Badge = 1
    filename: Text | None = _key("filename")
    filetype: Text | None = _key("filetype")
    account: Text | None = _key("account")
    content: FittedText | None = _key("content")
    content_type: Text | None = _key("content-type")

    @field_validator("event", mode="before")
    @classmethod
    def _event_alias(cls, value: Any) -> Any:
        return EVENT_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("media_type", mode="before")
    @classmethod
    def _media_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


# Examples of the OpenAPI document (the sample config's apps): a fuzzer starts from them
_CALL: JsonDict = {
    "event": "incoming_session",
    "call-id": "call-1@example.com",
    "from": "alice@example.com",
    "from-display-name": "Alice",
    "to": "bob@example.com",
    "media-type": "audio",
}
_DEVICE: JsonDict = {
    "app-id": "com.example.sylk",
    "platform": "apple",
    "token": "ab" * 32 + "-" + "cd" * 32,
}


class PushRequest(PushFields):
    """v1 `POST /push`: one push to the token in the body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_DEVICE, **_CALL}]})

    app_id: Id = _key("app-id", required=True)
    platform: PlatformName = _key("platform", required=True)
    token: Token = _key("token", required=True)
    device_id: Text | None = _key("device-id")
    silent: Flag = _key("silent", default=True)

    _token_pair = field_validator("token")(_apple_pairs_only)


class TokenAddRequest(_Model):
    """v2 `POST /v2/tokens/{account}`: store a device token."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_DEVICE, "device-id": "iphone"}]})

    app_id: Id = _key("app-id", required=True)
    platform: PlatformName = _key("platform", required=True)
    token: Token = _key("token", required=True)
    device_id: DeviceId = _key("device-id", required=True)
    silent: Flag = _key("silent", default=True)
    user_agent: Text | None = _key("user-agent")

    _token_pair = field_validator("token")(_apple_pairs_only)


class TokenRemoveRequest(_Model):
    """v2 `DELETE /v2/tokens/{account}`: forget a device token."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"app-id": "com.example.sylk", "device-id": "iphone"}]}
    )

    app_id: Id = _key("app-id", required=True)
    device_id: DeviceId = _key("device-id", required=True)


class AccountPushRequest(PushFields):
    """v2 `POST /v2/tokens/{account}/push[/{device}]`: the device data comes from storage."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CALL]})


M = TypeVar("M", bound=_Model)


def field_errors(model: type[_Model], exc: ValidationError) -> dict[str, str]:
    """Pydantic errors keyed by the hyphenated JSON key."""
    names = {name: (info.serialization_alias or name) for name, info in model.model_fields.items()}
    keys = set(names.values())
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = str(error["loc"][0]) if error["loc"] else "body"
        key = loc if loc in keys else names.get(loc, loc.replace("_", "-"))
        # a token's pattern, as a regular expression, would say little
        pattern = key == "token" and error["type"] == "string_pattern_mismatch"
        errors.setdefault(key, f"must be {TOKEN_IN_WORDS}" if pattern else error["msg"])
    return errors


def json_key(name: str) -> str:
    """The hyphenated JSON key of a body key given in either spelling (`call_id`: `call-id`)."""
    return "from" if name == "sip_from" else name.replace("_", "-")


def invalid(errors: dict[str, str]) -> InvalidRequest:
    """One message naming every bad field, sorted by key."""
    ordered = dict(sorted(errors.items()))
    text = "; ".join(f"{key}: {msg}" for key, msg in ordered.items())
    return InvalidRequest(f"invalid request: {text}", {"errors": ordered})


def parse(model: type[M], body: dict[str, Any], extra: dict[str, str] | None = None) -> M:
    """Validate `body`; raise InvalidRequest naming every bad field (plus `extra` ones)."""
    errors = dict(extra or {})
    try:
        result = model.model_validate(body)
    except ValidationError as exc:
        errors.update(field_errors(model, exc))
        raise invalid(errors) from None
    if errors:
        raise invalid(errors)
    return result
