"""A fake Google OAuth token endpoint for the service-account JWT-bearer grant."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_ASSERTION_LIFETIME = 3600
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


@dataclass(frozen=True)
class OAuthAnswer:
    status: int
    document: dict[str, Any]


def _error(error: str, description: str) -> OAuthAnswer:
    return OAuthAnswer(400, {"error": error, "error_description": description})


class AccessTokenIssuer:
    """Exchanges signed assertions for `ya29.fake-<n>` tokens and remembers them."""

    def __init__(
        self,
        public_key: rsa.RSAPublicKey,
        key_id: str,
        clock: Callable[[], float],
        lifetime: int = 3599,
    ) -> None:
        self._public_key = public_key
        self._key_id = key_id
        self._clock = clock
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry
        self._issued = 0
        self.requests = 0

    @classmethod
    def from_pem(
        cls, private_key_pem: bytes, key_id: str, clock: Callable[[], float]
    ) -> AccessTokenIssuer:
        private = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the service-account key must be RSA")
        return cls(private.public_key(), key_id, clock)

    def exchange(self, form_body: bytes, audiences: Collection[str]) -> OAuthAnswer:
        with self._lock:
            self.requests += 1
        form = urllib.parse.parse_qs(form_body.decode("utf-8", "replace"), keep_blank_values=True)
        grant_type = form.get("grant_type", [""])[0]
        assertion = form.get("assertion", [""])[0]
        if grant_type != GRANT_TYPE:
            return _error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        if not assertion:
            return _error("invalid_request", "Missing required parameter: assertion")
        claims = self._verify(assertion)
        if isinstance(claims, OAuthAnswer):
            return claims
        problem = self._check_claims(claims, audiences)
        if problem is not None:
            return problem
        return OAuthAnswer(
            200,
            {"access_token": self._issue(), "expires_in": self.lifetime, "token_type": "Bearer"},
        )

    def _verify(self, assertion: str) -> dict[str, Any] | OAuthAnswer:
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256" or header.get("kid", self._key_id) != self._key_id:
                return _error("invalid_grant", BAD_SIGNATURE)
            return jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            return _error("invalid_grant", BAD_SIGNATURE)

    def _check_claims(
        self, claims: dict[str, Any], audiences: Collection[str]
    ) -> OAuthAnswer | None:
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer.endswith(".iam.gserviceaccount.com"):
            return _error("invalid_grant", "Invalid grant: account not found")
        # google-auth always sends Google's audience, even with a custom token_uri.
        if claims.get("aud") not in audiences:
            return _error("invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), self._clock()
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or exp - iat > MAX_ASSERTION_LIFETIME
            or exp <= now
            or iat > now + 300
        ):
            return _error("invalid_grant", BAD_TIMEFRAME)
        scope = claims.get("scope")
        if not isinstance(scope, str) or FCM_SCOPE not in scope.split():
            return _error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return None

    def _issue(self) -> str:
        with self._lock:
            self._issued += 1
            token = f"ya29.fake-{self._issued}"
            self._tokens[token] = self._clock() + self.lifetime
            return token

    def is_valid(self, access_token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(access_token)
        return expiry is not None and self._clock() < expiry

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def reset_count(self) -> None:
        with self._lock:
            self.requests = 0
