"""Test PKI and push credentials, generated at test time (never committed).

One P-256 CA signs the fakes' server certificate and the APNs provider (client)
certificate; a separate self-signed certificate exists for TLS-failure tests.
Only one RSA key is made (the Google service account needs RS256) because RSA
generation is the slow part.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

APNS_KEY_ID = "ABC123DEFG"
APNS_TEAM_ID = "TEAM123456"
APNS_BUNDLE_ID = "com.example.sylk"
CLIENT_CERT_CN = f"Apple VoIP Services: {APNS_BUNDLE_ID}"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

# Stable file names: the simulator's users (e.g. a committed applications.ini) name them.
CA_CERT = "ca.pem"
SERVER_CERT, SERVER_KEY = "server-cert.pem", "server-key.pem"
UNTRUSTED_CERT, UNTRUSTED_KEY = "untrusted-cert.pem", "untrusted-key.pem"
CLIENT_CERT, CLIENT_KEY = "apns-client-cert.pem", "apns-client-key.pem"
CLIENT_COMBINED = "apns-cert.pem"
APNS_P8 = "apns-token.p8"
SERVICE_ACCOUNT_KEY = "fcm-service-account-key.pem"

_VALIDITY = datetime.timedelta(days=3650)  # simulator dirs outlive a test run


@dataclass(frozen=True)
class TestCredentials:
    """Paths of the generated credential files (plus the APNs token ids)."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    dir: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    untrusted_cert: Path
    untrusted_key: Path
    client_cert: Path
    client_key: Path
    client_combined: Path
    apns_p8: Path
    apns_key_id: str
    apns_team_id: str
    service_account_key: Path


def _paths(directory: Path) -> TestCredentials:
    return TestCredentials(
        dir=directory,
        ca_cert=directory / CA_CERT,
        server_cert=directory / SERVER_CERT,
        server_key=directory / SERVER_KEY,
        untrusted_cert=directory / UNTRUSTED_CERT,
        untrusted_key=directory / UNTRUSTED_KEY,
        client_cert=directory / CLIENT_CERT,
        client_key=directory / CLIENT_KEY,
        client_combined=directory / CLIENT_COMBINED,
        apns_p8=directory / APNS_P8,
        apns_key_id=APNS_KEY_ID,
        apns_team_id=APNS_TEAM_ID,
        service_account_key=directory / SERVICE_ACCOUNT_KEY,
    )


def load_credentials(directory: Path) -> TestCredentials | None:
    """The credentials already in `directory`, or None if any file is missing."""
    creds = _paths(directory)
    files = [getattr(creds, name) for name in creds.__dataclass_fields__ if name != "dir"]
    if all(f.is_file() for f in files if isinstance(f, Path)):
        return creds
    return None


def _name(common_name: str, *extra: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), *extra])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    validity: datetime.timedelta = _VALIDITY,
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _leaf_usage(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def _server_sans() -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    path.write_bytes(data)
    if secret:
        path.chmod(0o600)


def make_credentials(
    directory: Path, client_valid_for: datetime.timedelta = _VALIDITY
) -> TestCredentials:
    """Generate a fresh CA, server/client certificates and push keys into `directory`; the
    APNs client certificate expires `client_valid_for` from now."""
    directory.mkdir(parents=True, exist_ok=True)
    creds = _paths(directory)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("rtc-pushserver test CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        _leaf_usage(_builder(_name("localhost"), ca_name, server_key.public_key()))
        .add_extension(_server_sans(), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ca_aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    # Self-signed, so no client trusting only the test CA accepts it.
    untrusted_key = ec.generate_private_key(ec.SECP256R1())
    untrusted_name = _name("localhost (untrusted)")
    untrusted_cert = (
        _leaf_usage(_builder(untrusted_name, untrusted_name, untrusted_key.public_key()))
        .add_extension(_server_sans(), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(untrusted_key, hashes.SHA256())
    )

    # Shaped like an Apple provider certificate: CN "<kind>: <bundle>", UID = bundle, OU = team.
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_name = _name(
        CLIENT_CERT_CN,
        x509.NameAttribute(NameOID.USER_ID, APNS_BUNDLE_ID),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, APNS_TEAM_ID),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Inc."),
    )
    client_cert = (
        _leaf_usage(_builder(client_name, ca_name, client_key.public_key(), client_valid_for))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(ca_aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    apns_key = ec.generate_private_key(ec.SECP256R1())
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    _write(creds.ca_cert, _cert_pem(ca_cert))
    _write(creds.server_cert, _cert_pem(server_cert))
    _write(creds.server_key, _key_pem(server_key), secret=True)
    _write(creds.untrusted_cert, _cert_pem(untrusted_cert))
    _write(creds.untrusted_key, _key_pem(untrusted_key), secret=True)
    _write(creds.client_cert, _cert_pem(client_cert))
    _write(creds.client_key, _key_pem(client_key), secret=True)
    _write(creds.client_combined, _cert_pem(client_cert) + _key_pem(client_key), secret=True)
    _write(creds.apns_p8, _key_pem(apns_key), secret=True)
    _write(creds.service_account_key, _key_pem(sa_key), secret=True)
    return creds


def service_account_email(project_id: str) -> str:
    return f"rtc-pushserver@{project_id}.iam.gserviceaccount.com"


def service_account_key_id(creds: TestCredentials) -> str:
    """A stable `private_key_id` derived from the key (google-auth sends it as JWT kid)."""
    key = serialization.load_pem_private_key(creds.service_account_key.read_bytes(), None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


def write_service_account(
    creds: TestCredentials, path: Path, token_uri: str, project_id: str = "rtc-test"
) -> Path:
    """Write a Google service-account JSON file whose key is creds.service_account_key."""
    email = service_account_email(project_id)
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": service_account_key_id(creds),
        "private_key": creds.service_account_key.read_text(),
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}"
        ),
        "universe_domain": "googleapis.com",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, (json.dumps(info, indent=2) + "\n").encode(), secret=True)
    return path
