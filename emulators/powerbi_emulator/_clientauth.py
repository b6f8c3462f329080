"""Who is asking for a token: client authentication at the token endpoint.

`client_secret_basic` (HTTP Basic), `client_secret_post` (a secret in the form),
`private_key_jwt` (a client assertion: a certificate's signature or a federated token), or
none (a public client).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote_plus

from powerbi_emulator._aad import fail
from powerbi_emulator._assertions import JWT_BEARER

if TYPE_CHECKING:
    from collections.abc import Collection

    from powerbi_emulator._assertions import AssertionKind, AssertionVerifier
    from powerbi_emulator._credentials import AppRecord, AppRegistry
    from powerbi_emulator._http import HttpRequest

__all__ = ["Caller", "ClientAuth", "ClientAuthenticator"]

ClientAuth = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
Caller = tuple["AppRecord", ClientAuth, "AssertionKind | None"]


class ClientAuthenticator:
    """Finds the app a token request names and checks the credential it presents."""

    def __init__(self, registry: AppRegistry, verifier: AssertionVerifier, tenant: str) -> None:
        self._registry = registry
        self._verifier = verifier
        self._tenant = tenant

    def app(self, client_id: str | None) -> AppRecord:
        """The registered app `client_id`; raises missing_parameter or unknown_client."""
        if not client_id:
            raise fail("missing_parameter", "client_id")
        app = self._registry.get(client_id)
        if app is None:
            raise fail("unknown_client", client_id, self._tenant)
        return app

    def authenticate(
        self, request: HttpRequest, form: dict[str, str], audiences: Collection[str]
    ) -> Caller:
        """The app, how it authenticated, and (for an assertion) which kind it was.

        `audiences` are the `aud` values a certificate assertion may carry.
        """
        if "client_assertion" in form or "client_assertion_type" in form:
            return self._assertion(request, form, audiences)
        basic = _basic_credentials(request.headers.get("authorization"))
        client_id: str | None
        secret: str | None
        auth: ClientAuth
        if basic is not None:
            if "client_secret" in form:
                raise fail("two_client_auth_methods")
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise fail("client_id_mismatch")
            auth = "client_secret_basic"
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
            auth = "client_secret_post" if secret is not None else "none"
        app = self.app(client_id)
        expected = app.client.client_secret
        if not app.confidential:
            if secret is not None:
                raise fail("public_client_secret")
        elif secret is None:
            raise fail("missing_secret")
        elif expected is None or not secrets.compare_digest(secret.encode(), expected.encode()):
            raise fail("bad_secret", app.client_id)
        return app, auth, None

    def _assertion(
        self, request: HttpRequest, form: dict[str, str], audiences: Collection[str]
    ) -> Caller:
        if "client_secret" in form or _basic_credentials(request.headers.get("authorization")):
            raise fail("secret_and_assertion")
        assertion_type = form.get("client_assertion_type")
        if not assertion_type:
            raise fail("missing_parameter", "client_assertion_type")
        if assertion_type != JWT_BEARER:
            raise fail("bad_assertion_type", assertion_type)
        assertion = form.get("client_assertion")
        if not assertion:
            raise fail("missing_parameter", "client_assertion")
        app = self.app(form.get("client_id"))
        if not app.confidential:
            raise fail("public_client_secret")
        kind = self._verifier.verify(app, assertion, audiences, request.origin)
        return app, "private_key_jwt", kind


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise fail("bad_basic") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise fail("bad_basic")
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)
