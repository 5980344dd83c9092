"""APNs provider tokens (ES256 JWT) that every container of the fleet mints identically.

`iat` is rounded down to a 30-minute bucket and the ECDSA signature is deterministic
(RFC 6979), so all containers present the very same token within a bucket: APNs never sees
two tokens within 20 minutes (TooManyProviderTokenUpdates), and no token is older than
30 minutes (APNs rejects those older than 60 with ExpiredProviderToken).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import der_to_raw_signature

BUCKET_SECONDS = 1800
RENEWED_GRANULARITY = 60


class _DeterministicES256(ECAlgorithm):
    """PyJWT's ES256 with RFC 6979 nonces instead of random ones."""

    def sign(self, msg: bytes, key: Any) -> bytes:
        der = key.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return der_to_raw_signature(der, key.curve)


_jws = PyJWS(algorithms=[])
_jws.register_algorithm("ES256", _DeterministicES256(ECAlgorithm.SHA256))


class ProviderToken:
    def __init__(self, key_pem: bytes, key_id: str, team_id: str) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the APNs auth key must be an EC P-256 key (.p8)")
        self._key = key
        self._header = {"alg": "ES256", "kid": key_id}
        self._team_id = team_id
        self._iat = -1
        self._token = ""
        self._renewed_iat = -1

    def get(self, now: float | None = None) -> str:
        """The token of the current bucket (or of a newer forced renewal)."""
        current = int(time.time() if now is None else now)
        iat = current - current % BUCKET_SECONDS
        if self._renewed_iat > iat and current - self._renewed_iat < BUCKET_SECONDS:
            iat = self._renewed_iat
        if iat != self._iat:
            self._iat, self._token = iat, self._sign(iat)
        return self._token

    def renew(self, now: float | None = None) -> str:
        """After ExpiredProviderToken: a newer `iat`, minute-aligned so that containers hitting
        the same error in the same minute still agree."""
        current = int(time.time() if now is None else now)
        aligned = current - current % RENEWED_GRANULARITY
        # in the first minute of a bucket the aligned iat is the bucket's own: use the second
        self._renewed_iat = aligned if aligned > current - current % BUCKET_SECONDS else current
        return self.get(current)

    def _sign(self, iat: int) -> str:
        claims = json.dumps({"iat": iat, "iss": self._team_id}, separators=(",", ":")).encode()
        return _jws.encode(claims, self._key, algorithm="ES256", headers=self._header)
