"""The identity endpoints, shaped like the Microsoft identity platform's authorize and token."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import html
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Literal, TypedDict
from urllib.parse import unquote_plus, urlencode, urlsplit

from powerbi_emulator._aad import NO_STORE, LoginError, fail, scope_failure
from powerbi_emulator._http import BodyError, HttpRequest, HttpResponse
from powerbi_emulator._identity import (
    POWERBI_RESOURCES,
    ScopeError,
    parse_app_scope,
    parse_delegated_scopes,
)

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._config import ClientApp, EmulatorConfig
    from powerbi_emulator._identity import TokenService

__all__ = ["DeviceGrant", "LoginEndpoints"]

_PKCE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_LIFETIME = 900.0  # Entra's device codes last fifteen minutes
AUTO_APPROVE_AFTER_POLLS = 2


class _Options(TypedDict):
    """What every token of one token request carries beside its grant."""

    issuer: str
    client_info: bool
    app_name: str


@dataclasses.dataclass
class DeviceGrant:
    """A device code awaiting the user's sign-in."""

    client_id: str
    user_code: str
    scopes: tuple[str, ...]
    expires_at: float
    polls: int = 0
    approved: bool = False
    redeemed: bool = False


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
        self._devices: dict[str, DeviceGrant] = {}
        self._request_options = _Options(issuer="", client_info=False, app_name="")

    def issuer(self, request: HttpRequest) -> str:
        """The v2.0 issuer this tenant announces (and puts in id tokens)."""
        return f"{request.origin}/{self._tokens.directory.tenant_id}/v2.0"

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
        if query.get("response_mode") == "form_post":
            return _form_post(redirect_uri, params), log
        if query.get("response_mode") == "fragment":
            location = f"{redirect_uri}#{urlencode(params)}"
        else:
            location = _with_params(redirect_uri, params)
        return HttpResponse(302, b"", [("location", location), *NO_STORE]), log

    def _check_authorize_target(self, request: HttpRequest, tenant: str) -> tuple[ClientApp, str]:
        if request.method != "GET":
            raise fail("wrong_method", "GET", request.method)
        self.check_tenant(tenant)
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
        if response_mode not in {"query", "form_post", "fragment"}:
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
        code = self._tokens.issue_code(
            client.client_id, redirect_uri, scopes, challenge, method, nonce=query.get("nonce")
        )
        return {"code": code, "session_state": str(uuid.uuid4())}

    # -- token --------------------------------------------------------------------------------

    def token(
        self, request: HttpRequest, tenant: str, version: Literal["v1", "v2"] = "v2"
    ) -> tuple[HttpResponse, LogRecord]:
        """Redeem a grant: authorization_code, refresh_token, client_credentials, device_code.

        The v1 endpoint takes `resource=` instead of `scope=` and answers in the v1 shape.
        """
        log: LogRecord = {}
        try:
            if request.method != "POST":
                raise fail("wrong_method", "POST, OPTIONS", request.method)
            self.check_tenant(tenant)
            form = self._form(request)
            grant_type = form.get("grant_type")
            if version == "v1":
                form = _v1_scope(form)
            log |= {"grant_type": grant_type, "scope": form.get("scope")}
            if not grant_type:
                raise fail("missing_parameter", "grant_type")
            client, auth = self._authenticate_client(request, form)
            log |= {"client_id": client.client_id, "client_auth": auth}
            self._request_options = _Options(
                issuer=self.issuer(request),
                client_info=form.get("client_info") == "1",
                app_name=client.display_name,
            )
            if grant_type == "authorization_code":
                body = self._redeem_code(form, client)
            elif grant_type == "refresh_token":
                body = self._redeem_refresh(form, client)
            elif grant_type == "client_credentials":
                body = self._client_credentials(form, client)
            elif grant_type == DEVICE_GRANT:
                body = self._redeem_device_code(form, client)
            else:
                raise fail("unsupported_grant", grant_type)
        except LoginError as exc:
            log["error"] = exc.error
            return exc.response(request, self._clock), log
        if version == "v1":
            body = _v1_body(body, form.get("scope", ""))
        return HttpResponse.json(200, body, headers=NO_STORE), log

    # -- device code --------------------------------------------------------------------------

    def device_code(self, request: HttpRequest, tenant: str) -> tuple[HttpResponse, LogRecord]:
        """Start a device code flow: a code for the device, a short one for the user."""
        log: LogRecord = {}
        try:
            if request.method != "POST":
                raise fail("wrong_method", "POST", request.method)
            self.check_tenant(tenant)
            form = self._form(request, need_grant=False)
            client = self._client(form.get("client_id"))
            log |= {"client_id": client.client_id, "scope": form.get("scope")}
            scopes = self._delegated(form.get("scope", ""))
        except LoginError as exc:
            log["error"] = exc.error
            return exc.response(request, self._clock), log
        device_code = "emu-dc." + secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        lifetime = DEVICE_CODE_LIFETIME
        self._devices[device_code] = DeviceGrant(
            client.client_id, user_code, scopes, self._clock.now() + lifetime
        )
        verification_uri = f"{request.origin}/devicelogin"
        body = {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": max(1, int(self._clock.real_seconds(lifetime))),
            "interval": 1,
            "message": (
                f"To sign in, use a web browser to open the page {verification_uri} and enter "
                f"the code {user_code} to authenticate."
            ),
        }
        return HttpResponse.json(200, body, headers=NO_STORE), log

    def approve_device(self, user_code: str) -> bool:
        """The user signs in at the verification page with `user_code`; False if unknown."""
        for grant in self._devices.values():
            if secrets.compare_digest(grant.user_code, user_code.strip().upper()):
                grant.approved = True
                return True
        return False

    def _redeem_device_code(self, form: dict[str, str], client: ClientApp) -> dict[str, object]:
        code = form.get("device_code") or form.get("code")
        if not code:
            raise fail("missing_parameter", "device_code")
        grant = self._devices.get(code)
        if grant is None or grant.client_id != client.client_id:
            raise fail("bad_device_code")
        if self._tokens.is_expired(grant.expires_at):
            raise fail("device_code_expired")
        if grant.redeemed:
            raise fail("code_redeemed")
        grant.polls += 1
        # The emulated user signs in while the device waits: after one pending answer, unless
        # the verification page was used first.
        if not grant.approved and grant.polls < AUTO_APPROVE_AFTER_POLLS:
            raise fail("authorization_pending")
        grant.redeemed = True
        offline = "offline_access" in grant.scopes
        return self._tokens.issue(
            client.client_id, "user", grant.scopes, with_refresh=offline, **self._request_options
        )

    @staticmethod
    def _form(request: HttpRequest, *, need_grant: bool = True) -> dict[str, str]:
        # Microsoft reads grants from a form body only: a JSON body has no grant_type.
        if request.media_type != "application/x-www-form-urlencoded":
            raise fail("form_required" if need_grant else "missing_parameter", "client_id")
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
        default = (f"{self._tokens.directory.cloud.resource}/.default",)
        scopes = record.scopes or requested or default
        record.redeemed = True
        offline = "offline_access" in scopes or "offline_access" in requested
        return self._tokens.issue(
            client.client_id,
            "user",
            scopes,
            with_refresh=offline,
            nonce=record.nonce,
            **self._request_options,
        )

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
        return self._tokens.issue(
            client.client_id, "user", scopes, with_refresh=True, **self._request_options
        )

    def _client_credentials(self, form: dict[str, str], client: ClientApp) -> dict[str, object]:
        if client.client_secret is None:
            raise fail("public_client_credentials")
        try:
            scopes = self._in_this_cloud(parse_app_scope(form.get("scope", "")))
        except ScopeError as exc:
            raise scope_failure(exc) from None
        return self._tokens.issue(
            client.client_id, "app", scopes, with_refresh=False, **self._request_options
        )

    # -- shared -------------------------------------------------------------------------------

    def check_tenant(self, tenant: str) -> None:
        """Raise tenant_not_found unless `tenant` names this tenant (or common/organizations)."""
        known = {self._tenant, self._tokens.directory.tenant_id, "common", "organizations"}
        if tenant.lower() not in {name.lower() for name in known}:
            raise fail("tenant_not_found", tenant)

    def _client(self, client_id: str | None) -> ClientApp:
        if not client_id:
            raise fail("missing_parameter", "client_id")
        client = self._clients.get(client_id)
        if client is None:
            raise fail("unknown_client", client_id, self._tenant)
        return client

    def _delegated(self, raw: str) -> tuple[str, ...]:
        try:
            return self._in_this_cloud(parse_delegated_scopes(raw))
        except ScopeError as exc:
            raise scope_failure(exc) from None

    def _in_this_cloud(self, scopes: tuple[str, ...]) -> tuple[str, ...]:
        """The scopes, unless one names the Power BI resource of a cloud it does not pose as."""
        posed = self._tokens.directory.cloud.resource
        for scope in scopes:
            resource = scope.rsplit("/", 1)[0] if "://" in scope else None
            if resource in POWERBI_RESOURCES and resource != posed:
                raise fail("resource_not_in_tenant", resource, self._tenant)
        return scopes


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


def _form_post(redirect_uri: str, params: dict[str, str]) -> HttpResponse:
    """`response_mode=form_post`: a page that posts the result to the redirect URI."""
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
        for k, v in params.items()
    )
    page = (
        '<html><head><title>Working...</title></head><body onload="document.forms[0].submit()">'
        f'<form method="POST" name="hiddenform" action="{html.escape(redirect_uri)}">{fields}'
        "<noscript><p>Script is disabled. Click Submit to continue.</p>"
        '<input type="submit" value="Submit"/></noscript></form></body></html>'
    )
    headers = [("content-type", "text/html; charset=utf-8"), *NO_STORE]
    return HttpResponse(200, page.encode("utf-8"), headers)


def _v1_scope(form: dict[str, str]) -> dict[str, str]:
    """The v1 endpoint names a `resource`; as a v2 scope that is `{resource}/.default`."""
    if "scope" in form and "resource" not in form:
        return form
    resource = form.get("resource")
    if not resource:
        if form.get("grant_type") in {"refresh_token", "authorization_code"}:
            return form
        raise fail("missing_parameter", "resource")
    extra = [s for s in form.get("scope", "").split() if s in {"openid", "offline_access"}]
    return {**form, "scope": " ".join([f"{resource.rstrip('/')}/.default", *extra])}


def _v1_body(body: dict[str, object], scope: str) -> dict[str, object]:
    """A v2 token response in the v1 shape: numbers as strings, `resource`, `expires_on`."""
    expires_in = body.get("expires_in", 0)
    seconds = int(expires_in) if isinstance(expires_in, int) else 0
    out: dict[str, object] = {
        "token_type": "Bearer",
        "expires_in": str(seconds),
        "ext_expires_in": str(seconds),
        "expires_on": str(int(time.time()) + seconds),
        "not_before": str(int(time.time())),
    }
    resource = next((s.rsplit("/", 1)[0] for s in scope.split() if "://" in s), None)
    if resource is not None:
        out["resource"] = resource
    for key in ("access_token", "refresh_token", "id_token", "client_info"):
        if key in body:
            out[key] = body[key]
    if "scope" in body:
        out["scope"] = " ".join(s.rsplit("/", 1)[-1] for s in str(body["scope"]).split())
    return out
