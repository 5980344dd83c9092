"""Apple Push Notification service: HTTP/2 provider API, certificate or token auth."""

from __future__ import annotations

import httpcore

from .. import credentials
from ..config import AppConfig
from ..notification import Notification, encode
from .apns_jwt import ProviderToken
from .base import (
    Exchange,
    Outcome,
    Prepared,
    PushService,
    Reply,
    Verdict,
    json_body,
    retry_after,
    ssl_context,
    transport_outcome,
)

# Apple's reasons, in a few words (the caller sees "<reason> - <text>").
REASONS = {
    "BadCollapseId": "The collapse identifier exceeds the maximum allowed size.",
    "BadDeviceToken": "The specified device token is invalid (or for the other environment).",
    "BadExpirationDate": "The apns-expiration value is invalid.",
    "BadMessageId": "The apns-id value is invalid.",
    "BadPriority": "The apns-priority value is invalid.",
    "BadTopic": "The apns-topic value is invalid.",
    "DeviceTokenNotForTopic": "The device token does not match the specified topic.",
    "DuplicateHeaders": "One or more headers are repeated.",
    "IdleTimeout": "Idle timeout.",
    "InvalidPushType": "The apns-push-type value is invalid.",
    "MissingDeviceToken": "The device token is not specified in the request path.",
    "MissingTopic": "The apns-topic header is required but missing.",
    "PayloadEmpty": "The message payload is empty.",
    "TopicDisallowed": "Pushing to this topic is not allowed.",
    "BadCertificate": "The certificate is invalid.",
    "BadCertificateEnvironment": "The client certificate is for the wrong environment.",
    "ExpiredProviderToken": "The provider token is stale and a new token should be generated.",
    "Forbidden": "The specified action is not allowed.",
    "InvalidProviderToken": "The provider token is not valid, or its signature cannot be verified.",
    "MissingProviderToken": "No provider certificate was used and no provider token was given.",
    "UnrelatedKeyIdInToken": "The key ID in the provider token is unrelated to this connection.",
    "BadEnvironmentKeyIdInToken": "The key ID in the provider token is for the other environment.",
    "BadPath": "The request contained an invalid :path value.",
    "MethodNotAllowed": "The specified :method value is not POST.",
    "ExpiredToken": "The device token has expired.",
    "Unregistered": "The device token is inactive for the specified topic.",
    "PayloadTooLarge": "The message payload is too large.",
    "TooManyProviderTokenUpdates": "The provider token is being updated too often.",
    "TooManyRequests": "Too many requests were made consecutively to the same device token.",
    "InternalServerError": "An internal server error occurred.",
    "ServiceUnavailable": "The service is unavailable.",
    "Shutdown": "The APNs server is shutting down.",
}
DEAD_REASONS = frozenset({"BadDeviceToken", "Unregistered", "ExpiredToken"})
RETRY_REASONS = frozenset(
    {"TooManyRequests", "TooManyProviderTokenUpdates", "IdleTimeout", "Shutdown"}
)
# worth one immediate retry: on a newer token, or on the new connection that replaces one
# APNs closed (UnrelatedKeyIdInToken instead rebuilds the app's connections: pns.__init__)
RETRY_NOW_REASONS = frozenset({"ExpiredProviderToken", "IdleTimeout", "Shutdown"})


def describe(reason: str) -> str:
    text = REASONS.get(reason)
    return f"{reason} - {text}" if text else reason


def classify(status: int, reason: str) -> Verdict:
    if status == 200:
        return Verdict.DELIVERED
    if status == 410 or reason in DEAD_REASONS:
        return Verdict.DEAD_TOKEN
    if status >= 500 or reason in RETRY_REASONS:
        return Verdict.RETRY
    return Verdict.REJECTED


class ApnsService(PushService):
    name = "APNs"

    def __init__(self, app: AppConfig) -> None:
        self._jwt: ProviderToken | None = None
        if app.apns_auth == "token":
            assert app.key and app.key_id and app.team_id
            self._jwt = ProviderToken(credentials.read(app.key), app.key_id, app.team_id)
            context = ssl_context(app)
        else:
            context = ssl_context(app, app.certificate, app.key)
        super().__init__(app, context)

    def exchange(self, notification: Notification, apns_id: str | None) -> Exchange:
        url = f"{self.app.push_url}/3/device/{notification.token}"
        body = encode(notification.payload)
        for attempt in (1, 2):
            headers = dict(notification.headers)
            if apns_id:
                headers["apns-id"] = apns_id
            if self._jwt is not None:
                headers["authorization"] = f"bearer {self._jwt.get()}"
            result = yield Prepared(url, headers, body)
            if not isinstance(result, Reply):
                # GOAWAY, reset or a connection Lambda froze: once more on a fresh connection
                if attempt == 1 and not isinstance(result, httpcore.TimeoutException):
                    continue
                return transport_outcome(self.name, url, result)
            answer = json_body(result)
            reason = str(answer.get("reason", "")) if result.status != 200 else ""
            if attempt == 1 and reason in RETRY_NOW_REASONS:
                if reason == "ExpiredProviderToken" and self._jwt is not None:
                    self._jwt.renew()
                continue
            return Outcome(
                classify(result.status, reason),
                result.status,
                describe(reason),
                url,
                answer,
                retry_after(result),
                result.headers.get("apns-id", apns_id),
            )
        raise AssertionError("unreachable")
