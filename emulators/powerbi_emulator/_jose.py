"""Signing of tokens: one RSA key per process and purpose, published as a JWKS.

joserfc (the JOSE library of the authlib project) signs; clients verify with the JWKS the
discovery document points at, as they would with Entra's keys.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

__all__ = ["TokenSigner", "b64url_json"]


@functools.cache
def _process_key(purpose: str) -> RSAKey:
    # Generating a 2048-bit key takes a few hundred milliseconds: once per process is enough
    # (tests start many emulators in one process).
    del purpose  # each purpose (access tokens, the test issuer) gets a key of its own
    key = RSAKey.generate_key(2048, private=True)
    kid = base64.urlsafe_b64encode(
        hashlib.sha256(json.dumps(key.as_dict(private=False), sort_keys=True).encode()).digest()
    )[:27].decode()
    return RSAKey.import_key(key.as_dict(private=True), {"kid": kid, "use": "sig"})


def b64url_json(value: object) -> str:
    """JSON, base64url-encoded without padding (the shape of `client_info`)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenSigner:
    """Signs JWTs with RS256 and publishes the public key.

    Signers of different `purpose` hold different keys, so that a token of one (a federated
    issuer's) never verifies as a token of the other (Entra's).
    """

    def __init__(self, purpose: str = "tokens") -> None:
        self._purpose = purpose
        self._key: RSAKey | None = None

    @property
    def key(self) -> RSAKey:
        """The signing key (made on first use)."""
        if self._key is None:
            self._key = _process_key(self._purpose)
        return self._key

    @property
    def kid(self) -> str:
        """The key id in every token header and in the JWKS."""
        return str(self.key.kid)

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of `claims`."""
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid}
        return jwt.encode(header, claims, self.key)

    def jwks(self) -> dict[str, object]:
        """The public key set, as Entra's `discovery/v2.0/keys` lists it."""
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "x5t": self.kid}]}
