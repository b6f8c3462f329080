"""Client assertions (`private_key_jwt`), checked as Entra checks them.

Two kinds reach the token endpoint as `client_assertion`:

- a **certificate** assertion: the app signs a JWT with a registered certificate's key, names
  the certificate by its `x5t` (SHA-1) or `x5t#S256` thumbprint, with `iss` = `sub` = the
  client id and `aud` = the tenant's token endpoint;
- a **federated** assertion: another issuer's token (GitHub Actions, Kubernetes, the
  emulator's test issuer) whose `iss`, `sub` and `aud` match one of the app's federated
  credentials, signed with a key the issuer publishes.

Each failure is the AADSTS error Entra answers with.
"""

from __future__ import annotations

import binascii
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from powerbi_emulator._aad import fail

if TYPE_CHECKING:
    from collections.abc import Collection

    from powerbi_emulator._credentials import AppRecord
    from powerbi_emulator._issuer import TestIssuer
    from powerbi_emulator._jose import TokenSigner

__all__ = ["JWT_BEARER", "AssertionKind", "AssertionVerifier"]

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS256", "PS256")  # Entra signs and takes RSA assertions only
CLOCK_SKEW = 300  # seconds of leeway on exp and nbf, as Entra allows
FETCH_TIMEOUT = 5.0

AssertionKind = Literal["certificate", "federated"]


def _b64url_bytes(text: str) -> bytes:
    """Base64url (or standard base64, as some clients send thumbprints), padding optional."""
    padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    return binascii.a2b_base64(padded)


def _signature_ok(raw: str, key: rsa.RSAPublicKey, algorithm: object) -> bool:
    """Whether a compact JWS is signed by `key` with RS256 or PS256.

    Checked here rather than by a JOSE library, whose header checks refuse what Entra takes
    (MSAL sends `x5c` as one string, not a list).
    """
    signing_input, _, signature = raw.rpartition(".")
    if algorithm == "RS256":
        scheme: padding.AsymmetricPadding = padding.PKCS1v15()
    elif algorithm == "PS256":
        scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    else:
        return False
    try:
        key.verify(_b64url_bytes(signature), signing_input.encode("ascii"), scheme, hashes.SHA256())
    except (InvalidSignature, binascii.Error, UnicodeEncodeError):
        return False
    return True


def _segment(text: str) -> dict[str, object]:
    value = json.loads(_b64url_bytes(text))
    if not isinstance(value, dict):
        raise TypeError
    return value


def _unverified(raw: str) -> tuple[dict[str, object], dict[str, object]]:
    """The header and claims of a compact JWS, before any check; raises malformed_assertion."""
    parts = raw.split(".")
    if len(parts) != 3:  # noqa: PLR2004 - header, payload, signature
        raise fail("malformed_assertion", "a JWT has three dot-separated parts")
    try:
        return _segment(parts[0]), _segment(parts[1])
    except (ValueError, TypeError, binascii.Error):
        raise fail("malformed_assertion", "its header or payload is not base64url JSON") from None


def _when(epoch: object) -> str:
    if not isinstance(epoch, int | float):
        return "(none)"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _in_time(claims: dict[str, object]) -> bool:
    now = time.time()
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
        return False
    return nbf - CLOCK_SKEW <= now < exp + CLOCK_SKEW


def _audiences(claims: dict[str, object]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


class AssertionVerifier:
    """Checks client assertions against app registrations and trusted issuers."""

    def __init__(self, issuer: TestIssuer, entra: TokenSigner) -> None:
        self._issuer = issuer
        self._entra = entra
        self._external_keys: dict[str, KeySet] = {}

    def verify(
        self, app: AppRecord, raw: str, audiences: Collection[str], origin: str
    ) -> AssertionKind:
        """Which kind of assertion authenticated `app`; raises the LoginError Entra gives.

        `audiences` are the values `aud` may take in a certificate assertion (this tenant's
        token endpoints and issuer); `origin` is where the request arrived.
        """
        header, claims = _unverified(raw)
        iss, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(iss, str) or not isinstance(sub, str):
            raise fail("malformed_assertion", "the iss and sub claims must be strings")
        if iss == sub:
            self._certificate(app, raw, header, claims, audiences)
            return "certificate"
        self._federated(app, raw, header, claims, origin)
        return "federated"

    # -- certificate --------------------------------------------------------------------------

    def _certificate(
        self,
        app: AppRecord,
        raw: str,
        header: dict[str, object],
        claims: dict[str, object],
        audiences: Collection[str],
    ) -> None:
        if claims["iss"] != app.client_id:
            raise fail("assertion_app_mismatch", app.client_id)
        sha1 = _thumbprint(header.get("x5t"))
        sha256 = _thumbprint(header.get("x5t#S256"))
        used = (sha256 or sha1 or b"").hex().upper() or "(none: no x5t or x5t#S256 header)"
        cert = app.certificate(sha1=sha1, sha256=sha256)
        if cert is None:
            registered = ", ".join(c.thumbprint for c in app.certificates.values()) or "none"
            raise fail("certificate_not_registered", used, app.client_id, registered)
        if cert.not_after < time.time():
            raise fail("certificate_expired", used, _when(cert.not_after))
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            reason = f"the algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}"
            raise fail("assertion_signature", reason, used)
        if not _signature_ok(raw, cert.key, algorithm):
            reason = f"it does not verify with the key of certificate {cert.thumbprint}"
            raise fail("assertion_signature", reason, used)
        accepted = {a.rstrip("/").lower() for a in audiences}
        given = _audiences(claims)
        if not any(a.rstrip("/").lower() in accepted for a in given):
            raise fail("assertion_audience", " ".join(given) or "(none)", min(audiences))
        if not _in_time(claims):
            raise fail(
                "assertion_time",
                _when(time.time()),
                _when(claims.get("nbf", claims.get("iat"))),
                _when(claims.get("exp")),
            )

    # -- federated ----------------------------------------------------------------------------

    def _federated(
        self,
        app: AppRecord,
        raw: str,
        header: dict[str, object],
        claims: dict[str, object],
        origin: str,
    ) -> None:
        iss, sub = str(claims["iss"]), str(claims["sub"])
        kid = header.get("kid")
        if kid == self._entra.kid:
            raise fail("federated_entra_token")
        own = self._issuer.is_own(iss, origin)
        by_issuer = [
            fic
            for fic in app.federated.values()
            if (fic.issuer is None and own) or (fic.issuer or "").rstrip("/") == iss.rstrip("/")
        ]
        if not by_issuer:
            raise fail("federated_issuer", iss)
        by_subject = [fic for fic in by_issuer if fic.subject == sub]  # case-sensitive, as Entra
        if not by_subject:
            raise fail("federated_subject", sub)
        given = _audiences(claims)
        if not any(aud in fic.audiences for fic in by_subject for aud in given):
            raise fail("federated_audience", " ".join(given) or "(none)")
        key = self._issuer.signer.key.public_key if own else self._key_of(iss, kid)
        if key is None or not _signature_ok(raw, key, header.get("alg")):
            raise fail("federated_signature", iss)
        if not _in_time(claims):
            raise fail(
                "federated_time",
                _when(time.time()),
                _when(claims.get("nbf", claims.get("iat"))),
                _when(claims.get("exp")),
            )

    def _key_of(self, issuer: str, kid: object) -> rsa.RSAPublicKey | None:
        """The external issuer's RSA key `kid`, from its published keys; None if it has none.

        The keys are fetched once (again when a key is new); the fetch blocks the emulator for
        at most FETCH_TIMEOUT: a test double's trade-off.
        """
        keys = self._external_keys.get(issuer)
        if keys is None or not any(k.kid == kid for k in keys):
            keys = self._fetch_keys(issuer)
        for key in keys:
            public = key.public_key if key.kid == kid else None
            if isinstance(public, rsa.RSAPublicKey):
                return public
        return None

    def _fetch_keys(self, issuer: str) -> KeySet:
        base = issuer.rstrip("/")
        try:
            with httpx.Client(timeout=FETCH_TIMEOUT) as http:
                config = http.get(f"{base}/.well-known/openid-configuration")
                config.raise_for_status()
                jwks_uri = config.json()["jwks_uri"]
                answer = http.get(str(jwks_uri))
                answer.raise_for_status()
                keys = KeySet.import_key_set(answer.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as exc:
            raise fail("external_oidc_failed", f"{base}: {exc}") from None
        self._external_keys[issuer] = keys
        return keys


def _thumbprint(value: object) -> bytes | None:
    """A thumbprint header as bytes; None when absent or not base64."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _b64url_bytes(value)
    except binascii.Error:
        return None
