"""FCM v1 error replies in Google's error envelope (pns-protocols.md 2.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
QUOTA_FAILURE_TYPE = "type.googleapis.com/google.rpc.QuotaFailure"
JSON_TYPE = "application/json; charset=UTF-8"

# HTTP status -> canonical gRPC status name, as Google reports it.
CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class Reply:
    """An FCM error (or, with status 200, a plain success) for scripts and validation.

    error_code is the FcmError detail (None: a generic Google error without it);
    field_violations become a google.rpc.BadRequest detail.
    """

    status: int
    error_code: str | None = None
    message: str = ""
    retry_after: int | None = None
    field_violations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def unregistered(cls) -> Reply:
        return cls(404, "UNREGISTERED", "Requested entity was not found.")

    @classmethod
    def invalid_token(cls) -> Reply:
        return cls(
            400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"
        )

    @classmethod
    def quota_exceeded(cls, retry_after: int | None = None) -> Reply:
        return cls(429, "QUOTA_EXCEEDED", "Quota exceeded for sending messages.", retry_after)

    @classmethod
    def unavailable(cls, retry_after: int | None = None) -> Reply:
        return cls(503, "UNAVAILABLE", "The service is currently unavailable.", retry_after)

    @classmethod
    def internal(cls) -> Reply:
        return cls(500, "INTERNAL", "Internal error encountered.")

    @classmethod
    def sender_id_mismatch(cls) -> Reply:
        return cls(403, "SENDER_ID_MISMATCH", "SenderId mismatch")

    @classmethod
    def third_party_auth_error(cls) -> Reply:
        return cls(401, "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service")

    @classmethod
    def unauthenticated(cls) -> Reply:
        """What Google answers for a missing, unknown or expired OAuth token."""
        return cls(
            401,
            None,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )


def error_document(reply: Reply) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if reply.error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": reply.error_code})
    if reply.error_code == "QUOTA_EXCEEDED":
        details.append(
            {
                "@type": QUOTA_FAILURE_TYPE,
                "violations": [{"subject": "device", "description": "Device message rate"}],
            }
        )
    if reply.field_violations:
        violations = [{"field": f, "description": d} for f, d in reply.field_violations]
        details.append({"@type": BAD_REQUEST_TYPE, "fieldViolations": violations})
    error: dict[str, Any] = {
        "code": reply.status,
        "message": reply.message,
        "status": CANONICAL_STATUS.get(reply.status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def error_body(reply: Reply) -> bytes:
    return json.dumps(error_document(reply), indent=2).encode()
