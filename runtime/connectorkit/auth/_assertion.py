"""Client assertions (RFC 7523, ``private_key_jwt``): signed with a certificate, or federated.

A **certificate** connection holds a PEM (the value ``certificate``, or a file at
``certificate_path``) with the private key and, usually, the certificate; its thumbprints go in
the assertion's header as ``x5t`` (SHA-1) and ``x5t#S256`` (SHA-256), by which an identity
provider finds the certificate registered for the client. A **federated** connection presents
another issuer's token instead (workload identity federation), read from where the pack says:
a value, a file, an environment variable, or a CI's OIDC endpoint asked over HTTP.

cryptography and authlib (with joserfc under it) load only when a connection signs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit.auth._oauth import EndpointRequest
from connectorkit.core._errors import AuthError, InvalidConnection
from connectorkit.core._json import loads_service
from connectorkit.core._redact import remember_secrets
from connectorkit.core._template import ABSENT, render_value
from connectorkit.pack._definitions import ClientAssertionDef

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping

    from connectorkit.pack._definitions import AssertionSourceDef

__all__ = [
    "ClientCertificate",
    "assertion_signer",
    "federated_assertion",
    "load_certificate",
    "sign_assertion",
]

_CACHE_SIZE = 64


def _field(key: str, message: str) -> InvalidConnection:
    return InvalidConnection(
        f"connection value '{key}' {message}",
        details=[{"field": f"connection.values.{key}", "message": message}],
    )


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client's private key and what it says about its certificate (thumbprints, expiry)."""

    key: Any = field(repr=False)  # a joserfc RSAKey
    sha1: bytes | None
    sha256: bytes | None
    subject: str | None
    not_after: float | None

    @property
    def thumbprint(self) -> str | None:
        """The SHA-1 thumbprint in upper-case hex, as identity providers' portals show it."""
        return self.sha1.hex().upper() if self.sha1 else None

    def describe(self) -> str:
        """One line for a person: the subject, thumbprints and expiry (never key material)."""
        parts = [self.subject or "a private key without its certificate"]
        if self.sha1:
            parts.append(f"thumbprint {self.thumbprint}")
        if self.sha256:
            parts.append(f"SHA-256 {self.sha256.hex().upper()}")
        if self.not_after is not None:
            ended = "expired" if self.not_after < time.time() else "expires"
            parts.append(f"{ended} {datetime.fromtimestamp(self.not_after, UTC):%Y-%m-%d}")
        return ", ".join(parts)


_certificates: dict[tuple[str, str | None, str | None], ClientCertificate] = {}
_lock = threading.Lock()


def load_certificate(values: Mapping[str, Any]) -> ClientCertificate:
    """The certificate of a connection's values; :class:`InvalidConnection` says what is wrong.

    Reads ``certificate`` (PEM text) or ``certificate_path`` (a PEM file), optionally
    ``certificate_password`` (an encrypted key) and ``certificate_thumbprint`` (SHA-1 hex,
    when the PEM holds the key only). Loaded once per process for the same content.
    """
    text, where = _pem_of(values)
    password = values.get("certificate_password") or None
    given = values.get("certificate_thumbprint") or None
    cache_key = (hashlib.sha256(text.encode()).hexdigest(), password, given)
    with _lock:
        known = _certificates.get(cache_key)
    if known is not None:
        return known
    remember_secrets([text])
    loaded = _parse(text, where, None if password is None else str(password), given)
    with _lock:
        _certificates[cache_key] = loaded
        while len(_certificates) > _CACHE_SIZE:
            _certificates.pop(next(iter(_certificates)))
    return loaded


def _pem_of(values: Mapping[str, Any]) -> tuple[str, str]:
    inline, path = values.get("certificate"), values.get("certificate_path")
    if inline and path:
        raise _field("certificate", "and certificate_path are both given: give one of them")
    if inline:
        return str(inline), "certificate"
    if not path:
        raise InvalidConnection(
            "the connection signs its client assertion with a certificate, but has neither "
            "'certificate' (the PEM text) nor 'certificate_path' (a PEM file)",
            details=[
                {"field": "connection.values.certificate", "message": "is missing"},
                {"field": "connection.values.certificate_path", "message": "is missing"},
            ],
        )
    try:
        return Path(str(path)).expanduser().read_text(encoding="ascii"), "certificate_path"
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a PEM file"
        raise _field("certificate_path", f"cannot be read: {reason} ({path})") from None


def _parse(text: str, where: str, password: str | None, given: object) -> ClientCertificate:
    from joserfc.jwk import RSAKey  # noqa: PLC0415 - only connections with a certificate

    data = text.encode("ascii", "replace")
    key = _private_key(data, where, password)
    sha1, sha256, subject, not_after = _certificate_facts(data, key, where)
    if given:
        sha1, sha256 = _given_thumbprint(given), None  # it names a certificate alone, as MSAL
    return ClientCertificate(RSAKey.import_key(key), sha1, sha256, subject, not_after)


def _private_key(data: bytes, where: str, password: str | None) -> Any:
    """The RSA private key of a PEM; InvalidConnection when there is none or it cannot be read."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    if b"PRIVATE KEY-----" not in data:
        raise _field(where, "holds no private key (a PEM with '-----BEGIN PRIVATE KEY-----')")
    try:
        key = serialization.load_pem_private_key(
            data, password=password.encode() if password else None
        )
    except TypeError:
        what = "needs certificate_password" if password is None else "is not encrypted"
        raise _field(where, f"holds a private key that {what}") from None
    except ValueError:
        wrong = " or certificate_password is wrong" if password else ""
        raise _field(where, f"holds a private key that cannot be read{wrong}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _field(where, "holds a key that is not RSA (RS256 and PS256 need an RSA key)")
    return key


def _certificate_facts(
    data: bytes, key: Any, where: str
) -> tuple[bytes | None, bytes | None, str | None, float | None]:
    """The certificate's thumbprints, subject and expiry; all None for a key without one."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    if b"-----BEGIN CERTIFICATE-----" not in data:
        return None, None, None, None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise _field(where, "holds a certificate that cannot be read") from None
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or (
        public.public_numbers() != key.public_key().public_numbers()
    ):
        raise _field(
            where,
            "holds a private key that is not the certificate's: the certificate names another "
            "key, so its thumbprint would name the wrong certificate",
        )
    der = cert.public_bytes(serialization.Encoding.DER)
    return (
        hashlib.sha1(der).digest(),  # noqa: S324 - x5t is SHA-1 by definition
        hashlib.sha256(der).digest(),
        cert.subject.rfc4514_string(),
        cert.not_valid_after_utc.timestamp(),
    )


def _given_thumbprint(given: object) -> bytes:
    try:
        sha1 = bytes.fromhex(str(given).replace(":", "").strip())
    except ValueError:
        raise _field("certificate_thumbprint", "must be hexadecimal (SHA-1)") from None
    if len(sha1) != 20:  # noqa: PLR2004 - a SHA-1 digest
        raise _field("certificate_thumbprint", "must be a SHA-1 thumbprint (40 hex digits)")
    return sha1


def sign_assertion(
    certificate: ClientCertificate, client_id: str, audience: str, spec: ClientAssertionDef
) -> str:
    """A fresh client assertion: ``iss`` = ``sub`` = ``client_id``, signed by the certificate."""
    from authlib.oauth2.rfc7523 import (  # type: ignore[import-untyped]  # noqa: PLC0415
        private_key_jwt_sign,
    )

    header: dict[str, str] = {"typ": "JWT"}
    if "x5t" in spec.thumbprints and certificate.sha1:
        header["x5t"] = _b64url(certificate.sha1)
    if "x5t#S256" in spec.thumbprints and certificate.sha256:
        header["x5t#S256"] = _b64url(certificate.sha256)
    now = int(time.time())
    assertion = private_key_jwt_sign(
        certificate.key,
        client_id,
        audience,
        alg=spec.algorithm,
        header=header,
        issued_at=now,
        expires_at=now + spec.lifetime_s,
        claims={"jti": str(uuid.uuid4()), "nbf": now},
    )
    text = assertion.decode("ascii") if isinstance(assertion, bytes) else str(assertion)
    remember_secrets([text])
    return text


def assertion_signer(
    spec: ClientAssertionDef | None, values: Mapping[str, Any], client_id: str
) -> tuple[Callable[[], str] | None, str]:
    """What signs a ``private_key_jwt`` client's assertions, and the credential's identity.

    None for a federated connection: each token request brings the token it presents.
    """
    spec = spec or ClientAssertionDef()
    if spec.federated:
        return None, "federated"
    certificate = load_certificate(values)
    audience = render_value(spec.audience, values)
    if audience is ABSENT or not audience:
        raise InvalidConnection(
            f"the client assertion's audience '{spec.audience}' names a value the connection "
            "does not have"
        )
    signer = functools.partial(sign_assertion, certificate, client_id, str(audience), spec)
    identity = certificate.sha256 or certificate.sha1 or b""
    return signer, f"certificate:{identity.hex()}"


# -- federated -------------------------------------------------------------------------------


def federated_assertion(
    sources: tuple[AssertionSourceDef, ...], values: Mapping[str, Any], connection: str
) -> Generator[httpx.Request, httpx.Response, str]:
    """The first token the sources have; a ``request`` source is yielded to be sent.

    Raises :class:`InvalidConnection` naming every place tried when none has one.
    """
    tried: list[str] = []
    for source in sources:
        if source.kind == "request":
            url, bearer = os.environ.get(source.url_env), os.environ.get(source.token_env)
            if not url or not bearer:
                tried.append(f"the environment variables {source.url_env} and {source.token_env}")
                continue
            token = yield from _requested(url, bearer, render_value(source.audience, values))
            return token
        found = _local(source, values, tried)
        if found:
            remember_secrets([found])
            return found
    raise InvalidConnection(
        f"connection '{connection}' found no federated token for its client assertion; tried "
        + "; ".join(tried)
    )


def _local(source: AssertionSourceDef, values: Mapping[str, Any], tried: list[str]) -> str | None:
    """A token from a value, a file or an environment variable; None (and noted) when absent."""
    if source.kind in {"env", "file_env"}:
        found = os.environ.get(source.source)
        tried.append(f"the environment variable {source.source}")
    else:
        rendered = render_value(source.source, values)
        found = None if rendered is ABSENT else str(rendered)
        what = "the file named by" if source.kind == "file" else "the value"
        tried.append(f"{what} {source.source}")
    if not found:
        return None
    if source.kind in {"file", "file_env"}:
        try:
            found = Path(found).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
            raise InvalidConnection(
                f"the federated token file {found} cannot be read: {reason}"
            ) from None
    return found.strip() or None


def _requested(
    url: str, bearer: str, audience: object
) -> Generator[httpx.Request, httpx.Response, str]:
    """Ask a CI's OIDC endpoint for a token (GitHub Actions' protocol: ``{"value": ...}``)."""
    remember_secrets([bearer])
    request_url = httpx.URL(url)
    if audience is not ABSENT and audience:
        request_url = request_url.copy_merge_params({"audience": str(audience)})
    request = httpx.Request(
        "GET",
        request_url,
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
    )
    host = request_url.host or "the OIDC token URL"
    EndpointRequest("the OIDC token endpoint", host, frozenset({bearer})).attach(request)
    response = yield request
    response.read()
    payload = loads_service(response.content)
    value = payload.get("value") if isinstance(payload, dict) else None
    if response.is_success and isinstance(value, str) and value:
        remember_secrets([value])
        return value
    raise AuthError(
        f"the OIDC token endpoint ({host}) answered HTTP {response.status_code} without a "
        "token: is this job allowed to ask for one?",
        status=response.status_code,
    )
