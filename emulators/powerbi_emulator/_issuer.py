"""A test OpenID Connect issuer, standing in for GitHub Actions or Kubernetes.

Workload identity federation trusts tokens of another issuer. This one lives under
`/_emulator/issuer`: a discovery document, its keys, and a token endpoint shaped like GitHub
Actions' (`ACTIONS_ID_TOKEN_REQUEST_URL` with a bearer request token, `&audience=`, answering
`{"value": ...}`), so a CI client can be tested end to end without GitHub.
"""

from __future__ import annotations

import secrets
import time
import uuid
from urllib.parse import urlsplit

from powerbi_emulator._config import TOKEN_EXCHANGE_AUDIENCE
from powerbi_emulator._jose import TokenSigner

__all__ = ["ISSUER_PATH", "TOKEN_LIFETIME", "TestIssuer"]

ISSUER_PATH = "/_emulator/issuer"
TOKEN_LIFETIME = 300  # real seconds; GitHub's tokens are short-lived too


class TestIssuer:
    """Mints signed tokens for a subject and publishes the keys that verify them."""

    __test__ = False  # not a pytest class, despite its name

    def __init__(self, default_subject: str, request_token: str | None = None) -> None:
        self.signer = TokenSigner("issuer")
        self.default_subject = default_subject
        self.request_token = request_token or secrets.token_urlsafe(24)

    @staticmethod
    def url(origin: str) -> str:
        """The issuer (`iss`) as seen from `origin`."""
        return f"{origin}{ISSUER_PATH}"

    @staticmethod
    def is_own(issuer: str, origin: str) -> bool:
        """Whether `issuer` is this emulator's test issuer, for a request that reached `origin`.

        Any host name of the emulator's port counts (127.0.0.1 or localhost alike); another
        emulator's issuer (another port) is an external issuer like any other.
        """
        given, here = urlsplit(issuer), urlsplit(origin)
        return given.path.rstrip("/") == ISSUER_PATH and given.port == here.port

    def discovery(self, origin: str) -> dict[str, object]:
        """The issuer's OpenID configuration."""
        issuer = self.url(origin)
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/keys",
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }

    def mint(
        self,
        origin: str,
        *,
        subject: str | None = None,
        audience: str | None = None,
        expires_in: int = TOKEN_LIFETIME,
    ) -> str:
        """A signed token for `subject` (default: the configured one) and `audience`.

        A negative `expires_in` gives an already expired token, for tests of refusal.
        """
        now = int(time.time())
        issued = min(now, now + expires_in - TOKEN_LIFETIME)  # an expired token was valid once
        claims = {
            "iss": self.url(origin),
            "sub": subject or self.default_subject,
            "aud": audience or TOKEN_EXCHANGE_AUDIENCE,
            "iat": issued,
            "nbf": issued,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
        }
        return self.signer.sign(claims)
