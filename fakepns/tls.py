"""Explicit SSL contexts for the fakes and their test clients.

Contexts are always built by hand: this machine sets SSL_CERT_FILE /
REQUESTS_CA_BUNDLE, and default contexts would pick those up instead of the test CA.
"""

from __future__ import annotations

import ssl
from typing import Literal

from .credentials import TestCredentials

ClientAuth = Literal["none", "optional", "required"]

_VERIFY_MODES: dict[ClientAuth, ssl.VerifyMode] = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}


def server_context(
    creds: TestCredentials,
    *,
    client_auth: ClientAuth = "none",
    untrusted: bool = False,
    alpn: tuple[str, ...] = ("h2",),
) -> ssl.SSLContext:
    """Server side: the CA-signed (or the untrusted self-signed) cert, ALPN as given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if untrusted:
        ctx.load_cert_chain(creds.untrusted_cert, creds.untrusted_key)
    else:
        ctx.load_cert_chain(creds.server_cert, creds.server_key)
    ctx.set_alpn_protocols(list(alpn))
    ctx.verify_mode = _VERIFY_MODES[client_auth]
    if client_auth != "none":
        ctx.load_verify_locations(cafile=creds.ca_cert)
    return ctx


def client_context(creds: TestCredentials, *, client_cert: bool = False) -> ssl.SSLContext:
    """Client side: trusts only the test CA; optionally presents the APNs provider cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=creds.ca_cert)
    if client_cert:
        ctx.load_cert_chain(creds.client_combined)
    return ctx
