"""APNs provider-token (JWT) checks, with the per-connection rules APNs applies."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOKEN_MAX_AGE = 3600.0  # iat older than this: ExpiredProviderToken
TOKEN_FUTURE_SKEW = 60.0  # iat further ahead than this: InvalidProviderToken
TOKEN_UPDATE_INTERVAL = 1200.0  # a new token sooner than this: TooManyProviderTokenUpdates


@dataclass(frozen=True)
class AuthError:
    status: int
    reason: str


@dataclass
class TokenState:
    """What one connection has learnt about its provider token so far.

    `token` is the last verified JWT string (to skip re-verifying it).
    """

    token: str | None = None
    iat: int = 0
    key_id: str | None = None
    changed_at: float = 0.0


@dataclass(frozen=True)
class _SigningKey:
    team_id: str
    public_key: ec.EllipticCurvePublicKey


def _invalid() -> AuthError:
    return AuthError(403, "InvalidProviderToken")


class ProviderTokenVerifier:
    """Verifies `authorization: bearer <ES256 JWT>` against the registered .p8 keys."""

    def __init__(self, clock: Callable[[], float], update_interval: float) -> None:
        self._clock = clock
        self.update_interval = update_interval
        self._lock = threading.Lock()
        self._keys: dict[str, _SigningKey] = {}

    def add_key(self, key_id: str, team_id: str, p8: Path) -> None:
        private = serialization.load_pem_private_key(p8.read_bytes(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{p8} is not an EC private key")
        with self._lock:
            self._keys = {**self._keys, key_id: _SigningKey(team_id, private.public_key())}

    def check(self, state: TokenState, authorization: str | None) -> AuthError | None:
        """None if the request is authorised; updates `state` on a new valid token."""
        if not authorization or not authorization.strip():
            return AuthError(403, "MissingProviderToken")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _invalid()
        now = self._clock()
        if token == state.token:
            iat, key_id = state.iat, state.key_id
        else:
            verified = self._verify(token)
            if isinstance(verified, AuthError):
                return verified
            iat, key_id = verified
            if state.key_id is not None and key_id != state.key_id:
                return AuthError(403, "UnrelatedKeyIdInToken")
        if now - iat > TOKEN_MAX_AGE:
            return AuthError(403, "ExpiredProviderToken")
        if iat > now + TOKEN_FUTURE_SKEW:
            return _invalid()
        # A token is "new" when its claims change: ES256 signatures are randomised, so
        # re-signing the same kid + iat yields different bytes but the same token.
        changed = (iat, key_id) != (state.iat, state.key_id)
        if state.token is not None and changed:
            if now - state.changed_at < self.update_interval:
                return AuthError(429, "TooManyProviderTokenUpdates")
            state.changed_at = now
        elif state.token is None:
            state.changed_at = now
        state.token, state.iat, state.key_id = token, iat, key_id
        return None

    def _verify(self, token: str) -> tuple[int, str] | AuthError:
        """(iat, kid) of a well-signed token from a known key and team."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return _invalid()
        key_id = header.get("kid")
        with self._lock:
            key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if header.get("alg") != "ES256" or key is None or not isinstance(key_id, str):
            return _invalid()
        try:
            # PyJWT wants raw R||S signatures, as APNs is observed to; DER fails here.
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=["ES256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            return _invalid()
        iat = claims.get("iat")
        if claims.get("iss") != key.team_id or not isinstance(iat, int) or isinstance(iat, bool):
            return _invalid()
        return iat, key_id
