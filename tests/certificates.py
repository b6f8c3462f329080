"""Certificates and client assertions for the tests: a self-signed RSA certificate per call,
and assertions signed the way MSAL signs them (or deliberately not)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import time
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A certificate, its private key (PEM), and its thumbprints."""

    key_pem: str
    cert_pem: str
    sha1_hex: str
    sha256_hex: str

    @property
    def x5t(self) -> str:
        return b64url(bytes.fromhex(self.sha1_hex))

    @property
    def x5t_s256(self) -> str:
        return b64url(bytes.fromhex(self.sha256_hex))

    @property
    def pem(self) -> str:
        """Key and certificate in one PEM file, as azure-identity and most tools take them."""
        return self.key_pem + self.cert_pem

    def key(self) -> RSAKey:
        return RSAKey.import_key(self.key_pem)


def make_certificate(name: str = "connectorkit-test", *, days: int = 30) -> Certificate:
    """A self-signed RSA certificate valid for `days` more (negative: expired)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=days)
    not_before = min(now, not_after) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return Certificate(
        key_pem=key_pem,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        sha1_hex=hashlib.sha1(der).hexdigest(),  # noqa: S324 - x5t is SHA-1 by definition
        sha256_hex=hashlib.sha256(der).hexdigest(),
    )


def assertion(
    cert: Certificate,
    client_id: str,
    audience: str,
    *,
    alg: str = "RS256",
    thumbprint: str = "x5t",
    header: dict | None = None,
    claims: dict | None = None,
    key: RSAKey | None = None,
) -> str:
    """A client assertion as MSAL makes one: `iss` = `sub` = client id, `aud`, ten minutes."""
    now = int(time.time())
    head = {"alg": alg, "typ": "JWT"}
    if thumbprint == "x5t":
        head["x5t"] = cert.x5t
    elif thumbprint == "x5t#S256":
        head["x5t#S256"] = cert.x5t_s256
    body = {
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    head |= header or {}
    body |= claims or {}
    claims_set = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(head, claims_set, key or cert.key(), algorithms=[alg])
