"""When an app's credentials stop working: the not-after date of an APNs client certificate
(the most common push outage), and whether Google still grants a service account a token.

`.p8` keys and service accounts do not expire; a key that APNs or Google refuses while
pushing is counted as CredentialsRefused where the push is judged (delivery.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from . import audit, credentials, pns
from .config import AppConfig, Config
from .errors import ConfigError

WARN_DAYS = 30  # time to renew a certificate at Apple and roll it out
CRITICAL_DAYS = 7


@dataclass(frozen=True)
class CertificateExpiry:
    subject: str
    not_after: dt.datetime
    days_left: int

    @property
    def expires_soon(self) -> bool:
        return self.days_left < WARN_DAYS

    def as_data(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "not-after": self.not_after.isoformat(),
            "days-left": self.days_left,
            "expires-soon": self.expires_soon,
        }


def certificate_expiry(app: AppConfig, now: dt.datetime | None = None) -> CertificateExpiry | None:
    """The client certificate's expiry of a certificate-auth APNs app (None for other apps).
    ConfigError when the certificate cannot be read or parsed."""
    if app.platform != "apple" or app.apns_auth != "certificate" or not app.certificate:
        return None
    # imported here: parsing X.509 costs ~40 ms at cold start and only /health and the
    # daily check read a certificate (the TLS handshake loads it through ssl)
    from cryptography import x509

    try:
        # the file may hold the key too; the first certificate is the client's own
        certificate = x509.load_pem_x509_certificates(credentials.read(app.certificate))[0]
    except ValueError as exc:
        raise ConfigError(f"apple_certificate is not a PEM certificate: {exc}") from None
    not_after = certificate.not_valid_after_utc
    left = not_after - (now or dt.datetime.now(dt.UTC))
    return CertificateExpiry(certificate.subject.rfc4514_string(), not_after, left.days)


def check(config: Config, now: dt.datetime | None = None) -> None:
    """The daily check: days left per certificate as a metric (per app, and stage-wide for
    the alarm), a WARNING under 30 days, an ERROR under 7; a refused service account is
    counted and logged as a push refusal would be."""
    for app in config.apps.values():
        with audit.correlation(app_id=app.app_id, platform=app.platform):
            try:
                expiry = certificate_expiry(app, now)
                refusal = _service_account_refusal(app)
            except ConfigError as exc:
                audit.log("credentials not readable", logging.ERROR, reason=str(exc))
                continue
            if expiry is not None:
                _report_certificate(app, expiry)
            if refusal is not None:
                audit.count("CredentialsRefused", app_id=app.app_id, platform=app.platform)
                audit.count("CredentialsRefused")
                audit.log("credentials refused", logging.ERROR, reason=refusal)


def _report_certificate(app: AppConfig, expiry: CertificateExpiry) -> None:
    audit.count("CertificateDaysLeft", expiry.days_left, app_id=app.app_id, platform=app.platform)
    audit.count("CertificateDaysLeft", expiry.days_left)  # the alarm takes the stage's minimum
    if expiry.days_left < CRITICAL_DAYS:
        level = logging.ERROR
    elif expiry.expires_soon:
        level = logging.WARNING
    else:
        level = logging.INFO
    audit.log(
        f"APNs certificate expires in {expiry.days_left} days",
        level,
        subject=expiry.subject,
        not_after=expiry.not_after.isoformat(),
        days_left=expiry.days_left,
    )


def _service_account_refusal(app: AppConfig) -> str | None:
    if app.platform != "firebase":
        return None
    return pns.service_for(app).auth_refusal()
