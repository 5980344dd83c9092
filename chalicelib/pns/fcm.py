"""Firebase Cloud Messaging HTTP v1 with a service account (OAuth2 through google-auth)."""

from __future__ import annotations

import contextlib
import datetime
import threading
from typing import Any

import httpcore
import httpx

from .. import credentials
from ..config import AppConfig
from ..notification import Notification, encode
from . import base
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

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
REFRESH_MARGIN = datetime.timedelta(minutes=5)
RETRY_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})


def error_code(answer: dict[str, Any]) -> tuple[str, str]:
    """(FcmError errorCode or canonical status, message) of a Google error envelope."""
    error = answer.get("error")
    if not isinstance(error, dict):
        return "", ""
    code = str(error.get("status", ""))
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("FcmError"):
            code = str(detail.get("errorCode", code))
    return code, str(error.get("message", ""))


def classify(status: int, code: str, message: str) -> Verdict:
    if status == 200:
        return Verdict.DELIVERED
    # Only FCM's own error detail says the token is gone: a bare 404 NOT_FOUND (a wrong URL
    # or project, whatever its message) must not cost stored devices
    if code == "UNREGISTERED":
        return Verdict.DEAD_TOKEN
    if code == "INVALID_ARGUMENT" and "registration token" in message.lower():
        return Verdict.DEAD_TOKEN
    if code in RETRY_CODES or status == 429 or status >= 500:
        return Verdict.RETRY
    return Verdict.REJECTED


class HttpxAuthRequest:
    """google-auth's transport interface over httpx, so `requests` is not needed and our
    SSL context (not REQUESTS_CA_BUNDLE) decides what to trust."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> Any:
        from google.auth import exceptions

        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or base.timeouts.read
            )
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(str(exc)) from exc  # type: ignore[no-untyped-call]
        return _AuthResponse(response)


class _AuthResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.data = response.content


class OAuthToken:
    """An access token cached until five minutes before it expires."""

    def __init__(self, info: dict[str, Any], context: Any) -> None:
        from google.oauth2 import service_account

        self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
        self._request = HttpxAuthRequest(httpx.Client(verify=context, timeout=base.timeouts.read))
        self._lock = threading.Lock()
        self._invalid = False

    def get(self) -> str:
        creds = self._credentials
        if creds.token is None or self._invalid or self._expiring():
            with self._lock:
                creds.refresh(self._request)
                self._invalid = False
        return str(creds.token)

    def invalidate(self) -> None:
        """FCM refused the token (revoked or expired early): fetch a new one next time."""
        self._invalid = True

    def _expiring(self) -> bool:
        expiry = self._credentials.expiry
        if expiry is None:
            return False
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return bool(expiry - now < REFRESH_MARGIN)


class FcmService(PushService):
    name = "FCM"

    def __init__(self, app: AppConfig) -> None:
        assert app.service_account
        context = ssl_context(app)
        info = credentials.read_json(app.service_account)
        missing = [k for k in ("private_key", "client_email", "token_uri") if not info.get(k)]
        if missing:
            raise ValueError(f"service account lacks {', '.join(missing)}")
        self._token = OAuthToken(info, context)
        super().__init__(app, context)

    def warm_auth(self) -> None:
        # a failure here is met again, and reported per push, by the exchange
        with contextlib.suppress(Exception):
            self._token.get()

    def auth_refusal(self) -> str | None:
        from google.auth.exceptions import RefreshError

        try:
            self._token.get()
        except RefreshError as exc:  # Google answered, and said no (unlike a TransportError)
            return f"OAuth token refused: {exc}"
        return None

    def exchange(self, notification: Notification, apns_id: str | None) -> Exchange:
        url = self.app.push_url
        body = encode(notification.payload)
        for attempt in (1, 2):
            try:
                token = self._token.get()
            except Exception as exc:  # google-auth's RefreshError / TransportError
                retryable = (
                    getattr(exc, "retryable", False) or "TransportError" in type(exc).__name__
                )
                verdict = Verdict.RETRY if retryable else Verdict.REJECTED
                return Outcome(verdict, 0, f"OAuth token not obtained: {exc}", url)
            headers = {
                "authorization": f"Bearer {token}",
                "content-type": "application/json; UTF-8",
            }
            result = yield Prepared(url, headers, body)
            if not isinstance(result, Reply):
                if attempt == 1 and not isinstance(result, httpcore.TimeoutException):
                    continue
                return transport_outcome(self.name, url, result)
            answer = json_body(result)
            code, message = error_code(answer)
            if result.status == 401 and code != "THIRD_PARTY_AUTH_ERROR" and attempt == 1:
                self._token.invalidate()
                continue
            reason = "" if result.status == 200 else f"{code or result.status} {message}".strip()
            return Outcome(
                classify(result.status, code, message),
                result.status,
                reason,
                url,
                answer,
                retry_after(result),
            )
        raise AssertionError("unreachable")
