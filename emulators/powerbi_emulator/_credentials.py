"""App registrations' credentials, as Entra keeps them: secrets, certificates, federated trusts.

Seeded from the configured clients; the control API adds and removes certificates and
federated credentials while the emulator runs, as an admin would in the portal.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from collections.abc import Iterator

    from powerbi_emulator._config import ClientApp, FederatedCredential

__all__ = ["AppRecord", "AppRegistry", "Certificate", "b64url"]


def b64url(raw: bytes) -> str:
    """Base64url without padding (the encoding of `x5t`)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A certificate registered on an app: its thumbprints, validity and public key."""

    pem: str
    sha1: bytes
    sha256: bytes
    not_before: float
    not_after: float
    subject: str
    key: rsa.RSAPublicKey

    @classmethod
    def from_pem(cls, pem: str) -> Certificate:
        """Parse one PEM X.509 certificate with an RSA key; raises ValueError."""
        try:
            cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("the certificate is not a PEM X.509 certificate") from None
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            # Entra takes RSA certificates only for client assertions.
            raise ValueError("the certificate's key is not an RSA key")  # noqa: TRY004 - bad input, not a bad call
        der = cert.public_bytes(serialization.Encoding.DER)
        return cls(
            pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            sha1=hashlib.sha1(der).digest(),  # noqa: S324 - the x5t thumbprint is SHA-1 by definition
            sha256=hashlib.sha256(der).digest(),
            not_before=cert.not_valid_before_utc.timestamp(),
            not_after=cert.not_valid_after_utc.timestamp(),
            subject=cert.subject.rfc4514_string(),
            key=public,
        )

    @property
    def thumbprint(self) -> str:
        """The SHA-1 thumbprint in upper-case hex, as the portal shows it."""
        return self.sha1.hex().upper()

    def to_json(self) -> dict[str, object]:
        """The certificate as the control API lists it (no key material)."""
        return {
            "thumbprint": self.thumbprint,
            "x5t": b64url(self.sha1),
            "x5t#S256": b64url(self.sha256),
            "subject": self.subject,
            "not_before": int(self.not_before),
            "not_after": int(self.not_after),
        }


@dataclasses.dataclass
class AppRecord:
    """One app registration and the credentials it has now."""

    client: ClientApp
    certificates: dict[bytes, Certificate]
    federated: dict[str, FederatedCredential]

    @property
    def client_id(self) -> str:
        """The app's client id."""
        return self.client.client_id

    @property
    def display_name(self) -> str:
        """The service principal's display name."""
        return self.client.display_name

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        """The registered redirect URIs (none: any absolute URI)."""
        return self.client.redirect_uris

    @property
    def confidential(self) -> bool:
        """Whether the app has any credential; an app with none is a public client."""
        return bool(self.client.client_secret or self.certificates or self.federated)

    def certificate(self, *, sha1: bytes | None, sha256: bytes | None) -> Certificate | None:
        """The registered certificate with this SHA-1 or SHA-256 thumbprint."""
        for cert in self.certificates.values():
            if cert.sha1 == sha1 or cert.sha256 == sha256:
                return cert
        return None

    def to_json(self) -> dict[str, object]:
        """The registration as the control API lists it (never the secret)."""
        return {
            "client_id": self.client_id,
            "name": self.client.display_name,
            "public_client": not self.confidential,
            "has_secret": self.client.client_secret is not None,
            "certificates": [c.to_json() for c in self.certificates.values()],
            "federated_credentials": [f.to_json() for f in self.federated.values()],
        }


class AppRegistry:
    """Every app registration of the tenant, by client id."""

    def __init__(self, clients: tuple[ClientApp, ...]) -> None:
        self._apps: dict[str, AppRecord] = {}
        for client in clients:
            record = AppRecord(client, {}, {})
            for pem in client.certificates:
                cert = Certificate.from_pem(pem)
                record.certificates[cert.sha1] = cert
            for credential in client.federated_credentials:
                record.federated[credential.name] = credential
            self._apps[client.client_id] = record

    def get(self, client_id: str) -> AppRecord | None:
        """The app with this client id, if registered."""
        return self._apps.get(client_id)

    def __iter__(self) -> Iterator[AppRecord]:
        return iter(self._apps.values())

    def add_certificate(self, client_id: str, pem: str) -> Certificate:
        """Register a certificate on an app (replacing one of the same thumbprint)."""
        cert = Certificate.from_pem(pem)
        self._apps[client_id].certificates[cert.sha1] = cert
        return cert

    def remove_certificate(self, client_id: str, thumbprint: str) -> bool:
        """Unregister the certificate of this SHA-1 thumbprint (hex); False if none."""
        try:
            key = bytes.fromhex(thumbprint)
        except ValueError:
            return False
        return self._apps[client_id].certificates.pop(key, None) is not None

    def add_federated(self, client_id: str, credential: FederatedCredential) -> None:
        """Add a federated credential to an app (replacing one of the same name)."""
        self._apps[client_id].federated[credential.name] = credential

    def remove_federated(self, client_id: str, name: str) -> bool:
        """Remove the federated credential of this name; False if none."""
        return self._apps[client_id].federated.pop(name, None) is not None
