"""The identity endpoints, shaped like the Microsoft identity platform's authorize and token."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import uuid
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote_plus, urlencode, urlsplit

from powerbi_emulator._aad import NO_STORE, LoginError, fail, scope_failure
from powerbi_emulator._http import BodyError, HttpRequest, HttpResponse
from powerbi_emulator._identity import (
    POWERBI_RESOURCE,
    ScopeError,
    parse_app_scope,
    parse_delegated_scopes,
)

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._config import ClientApp, EmulatorConfig
    from powerbi_emulator._identity import TokenService

__all__ = ["LoginEndpoints"]

_PKCE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]
LogRecord = dict[str, object]


class LoginEndpoints:
    """`/{tenant}/oauth2[/v2.0]/authorize` and `/{tenant}/oauth2[/v2.0]/token`.

    Each handler returns the response and a log record that never holds a secret, a code or
    a token.
    """

    def __init__(self, config: EmulatorConfig, clock: EmulatorClock, tokens: TokenService) -> None:
        self._clients = {client.client_id: client for client in config.clients}
        self._tenant = config.tenant
        self._clock = clock
        self._tokens = tokens

    # -- authorize ----------------------------------------------------------------------------

    def authorize(
        self, request: HttpRequest, tenant: str, version: Literal["v1", "v2"]
    ) -> tuple[HttpResponse, LogRecord]:
        """Validate an authorization request, auto-approve it and redirect with a code."""
        query = request.query
        log: LogRecord = {
            "client_id": query.get("client_id"),
            "redirect_uri": query.get("redirect_uri"),
            "scope": query.get("scope"),
            "code_challenge_method": query.get("code_challenge_method"),
        }
        try:
            client, redirect_uri = self._check_authorize_target(request, tenant)
        except LoginError as exc:
            log["error"] = exc.error
            return exc.response(request, self._clock), log
        try:
            params = self._approve(query, client, redirect_uri, version)
        except LoginError as exc:
            # Once the redirect URI is trusted, errors go back to the client through it.
            log["error"] = exc.error
            params = {"error": exc.error, "error_description": f"AADSTS{exc.aadsts}: {exc}"}
        if "state" in query:
            params["state"] = query["state"]
        location = _with_params(redirect_uri, params)
        return HttpResponse(302, b"", [("location", location), *NO_STORE]), log

    def _check_authorize_target(self, request: HttpRequest, tenant: str) -> tuple[ClientApp, str]:
        if request.method != "GET":
            raise fail("wrong_method", "GET", request.method)
        self._check_tenant(tenant)
        client = self._client(request.query.get("client_id"))
        redirect_uri = request.query.get("redirect_uri")
        if not redirect_uri:
            raise fail("no_reply_address")
        parts = urlsplit(redirect_uri)
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise fail("bad_reply_address", redirect_uri)
        if client.redirect_uris and redirect_uri not in client.redirect_uris:
            raise fail("reply_address_not_registered", redirect_uri, client.client_id)
        return client, redirect_uri

    def _approve(
        self, query: dict[str, str], client: ClientApp, redirect_uri: str, version: str
    ) -> dict[str, str]:
        response_type = query.get("response_type")
        if not response_type:
            raise fail("missing_parameter", "response_type")
        if response_type != "code":
            raise fail("unsupported_response_type", response_type)
        response_mode = query.get("response_mode", "query")
        if response_mode != "query":
            raise fail("unsupported_response_mode", response_mode)
        raw_scope = query.get("scope")
        if raw_scope is None and version == "v2":
            raise fail("missing_parameter", "scope")
        scopes = self._delegated(raw_scope) if raw_scope is not None else ()
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise fail("missing_parameter", "code_challenge")
            if client.client_secret is None:
                raise fail("pkce_required")
        else:
            method = method or "plain"  # RFC 7636: plain when the method is omitted
            if method not in {"S256", "plain"}:
                raise fail("bad_challenge_method", method)
            if not _PKCE.fullmatch(challenge):
                raise fail("bad_challenge")
        code = self._tokens.issue_code(client.client_id, redirect_uri, scopes, challenge, method)
        return {"code": code, "session_state": str(uuid.uuid4())}

    # -- token --------------------------------------------------------------------------------

    def token(self, request: HttpRequest, tenant: str) -> tuple[HttpResponse, LogRecord]:
        """Redeem a grant: authorization_code, refresh_token or client_credentials."""
        log: LogRecord = {}
        try:
            if request.method != "POST":
                raise fail("wrong_method", "POST, OPTIONS", request.method)
            self._check_tenant(tenant)
            form = self._form(request)
            grant_type = form.get("grant_type")
            log |= {"grant_type": grant_type, "scope": form.get("scope")}
            if not grant_type:
                raise fail("missing_parameter", "grant_type")
            client, auth = self._authenticate_client(request, form)
            log |= {"client_id": client.client_id, "client_auth": auth}
            if grant_type == "authorization_code":
                body = self._redeem_code(form, client)
            elif grant_type == "refresh_token":
                body = self._redeem_refresh(form, client)
            elif grant_type == "client_credentials":
                body = self._client_credentials(form, client)
            else:
                raise fail("unsupported_grant", grant_type)
        except LoginError as exc:
            log["error"] = exc.error
            return exc.response(request, self._clock), log
        return HttpResponse.json(200, body, headers=NO_STORE), log

    @staticmethod
    def _form(request: HttpRequest) -> dict[str, str]:
        # Microsoft reads grants from a form body only: a JSON body has no grant_type.
        if request.media_type != "application/x-www-form-urlencoded":
            raise fail("form_required")
        try:
            return request.form()
        except BodyError as exc:
            raise fail("malformed_body", exc) from None

    def _authenticate_client(
        self, request: HttpRequest, form: dict[str, str]
    ) -> tuple[ClientApp, ClientAuth]:
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
        client = self._client(client_id)
        if client.client_secret is None:
            if secret is not None:
                raise fail("public_client_secret")
        elif secret is None:
            raise fail("missing_secret")
        elif not secrets.compare_digest(secret.encode(), client.client_secret.encode()):
            raise fail("bad_secret", client.client_id)
        return client, auth

    def _redeem_code(self, form: dict[str, str], client: ClientApp) -> dict[str, object]:
        code = form.get("code")
        if not code:
            raise fail("missing_parameter", "code")
        record = self._tokens.codes.get(code)
        if record is None or record.client_id != client.client_id:
            raise fail("bad_code")
        if record.redeemed:
            raise fail("code_redeemed")
        if self._tokens.is_expired(record.expires_at):
            raise fail("grant_expired")
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            raise fail("missing_parameter", "redirect_uri")
        if redirect_uri != record.redirect_uri:
            raise fail("redirect_mismatch", redirect_uri)
        _check_pkce(record.code_challenge, record.code_challenge_method, form.get("code_verifier"))
        requested = self._delegated(form["scope"]) if "scope" in form else ()
        scopes = record.scopes or requested or (f"{POWERBI_RESOURCE}/.default",)
        record.redeemed = True
        offline = "offline_access" in scopes or "offline_access" in requested
        return self._tokens.issue(client.client_id, "user", scopes, with_refresh=offline)

    def _redeem_refresh(self, form: dict[str, str], client: ClientApp) -> dict[str, object]:
        token = form.get("refresh_token")
        if not token:
            raise fail("missing_parameter", "refresh_token")
        grant = self._tokens.refresh.get(token)
        if grant is None or grant.client_id != client.client_id:
            raise fail("bad_refresh_token")
        if grant.state == "rotated":
            raise fail("refresh_token_redeemed")
        if grant.state == "revoked":
            raise fail("refresh_token_revoked")
        if self._tokens.is_expired(grant.expires_at):
            raise fail("grant_expired")
        scopes = self._delegated(form["scope"]) if "scope" in form else grant.scopes
        grant.state = "rotated"
        return self._tokens.issue(client.client_id, "user", scopes, with_refresh=True)

    def _client_credentials(self, form: dict[str, str], client: ClientApp) -> dict[str, object]:
        if client.client_secret is None:
            raise fail("public_client_credentials")
        try:
            scopes = parse_app_scope(form.get("scope", ""))
        except ScopeError as exc:
            raise scope_failure(exc) from None
        return self._tokens.issue(client.client_id, "app", scopes, with_refresh=False)

    # -- shared -------------------------------------------------------------------------------

    def _check_tenant(self, tenant: str) -> None:
        if tenant not in {self._tenant, "common", "organizations"}:
            raise fail("tenant_not_found", tenant)

    def _client(self, client_id: str | None) -> ClientApp:
        if not client_id:
            raise fail("missing_parameter", "client_id")
        client = self._clients.get(client_id)
        if client is None:
            raise fail("unknown_client", client_id, self._tenant)
        return client

    @staticmethod
    def _delegated(raw: str) -> tuple[str, ...]:
        try:
            return parse_delegated_scopes(raw)
        except ScopeError as exc:
            raise scope_failure(exc) from None


def _check_pkce(challenge: str | None, method: str | None, verifier: str | None) -> None:
    if challenge is None:
        if verifier is not None:
            raise fail("verifier_without_challenge")
        return
    if verifier is None:
        raise fail("missing_parameter", "code_verifier")
    if not _PKCE.fullmatch(verifier):
        raise fail("bad_verifier")
    derived = verifier
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        derived = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    if not secrets.compare_digest(derived, challenge):
        raise fail("verifier_mismatch")


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


def _with_params(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"
