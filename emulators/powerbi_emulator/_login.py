"""The identity endpoints, shaped like the Microsoft identity platform's authorize and token."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Literal, TypedDict
from urllib.parse import urlencode, urlsplit

from powerbi_emulator._aad import NO_STORE, LoginError, fail, scope_failure
from powerbi_emulator._http import BodyError, HttpRequest, HttpResponse
from powerbi_emulator._identity import (
    POWERBI_RESOURCES,
    ScopeError,
    parse_app_scope,
    parse_delegated_scopes,
)

if TYPE_CHECKING:
    from powerbi_emulator._clientauth import ClientAuthenticator
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._config import EmulatorConfig
    from powerbi_emulator._credentials import AppRecord
    from powerbi_emulator._identity import TokenService

__all__ = ["DeviceGrant", "LoginEndpoints"]

_PKCE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
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

    def __init__(
        self,
        config: EmulatorConfig,
        clock: EmulatorClock,
        tokens: TokenService,
        clients: ClientAuthenticator,
    ) -> None:
        self._clients = clients
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

    def _check_authorize_target(self, request: HttpRequest, tenant: str) -> tuple[AppRecord, str]:
        if request.method != "GET":
            raise fail("wrong_method", "GET", request.method)
        self.check_tenant(tenant)
        client = self._clients.app(request.query.get("client_id"))
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
        self, query: dict[str, str], client: AppRecord, redirect_uri: str, version: str
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
            if not client.confidential:
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
            audiences = self.assertion_audiences(request, tenant)
            client, auth, credential = self._clients.authenticate(request, form, audiences)
            log |= {"client_id": client.client_id, "client_auth": auth, "credential": credential}
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
            client = self._clients.app(form.get("client_id"))
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

    def _redeem_device_code(self, form: dict[str, str], client: AppRecord) -> dict[str, object]:
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

    def _redeem_code(self, form: dict[str, str], client: AppRecord) -> dict[str, object]:
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

    def _redeem_refresh(self, form: dict[str, str], client: AppRecord) -> dict[str, object]:
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
        if self._tokens.single_use_refresh:
            grant.state = "rotated"
        return self._tokens.issue(
            client.client_id, "user", scopes, with_refresh=True, **self._request_options
        )

    def _client_credentials(self, form: dict[str, str], client: AppRecord) -> dict[str, object]:
        if not client.confidential:
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

    def assertion_audiences(self, request: HttpRequest, tenant: str) -> frozenset[str]:
        """What a certificate assertion's `aud` may be: this tenant's token endpoints, or issuer.

        Under any name of the tenant, at the origin reached or the real authority host.
        """
        names = {tenant, self._tenant, self._tokens.directory.tenant_id}
        hosts = {request.origin, f"https://{self._tokens.directory.cloud.authority_host}"}
        return frozenset(
            f"{host}/{name}{path}"
            for host in hosts
            for name in names
            for path in ("/oauth2/v2.0/token", "/oauth2/token", "/v2.0")
        )

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
