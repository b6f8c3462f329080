"""What Microsoft's libraries read before they ask for a token.

Per-tenant OpenID Connect discovery (v1 and v2.0), instance discovery, the signing keys
(JWKS), the user realm (is a user name managed by this tenant), and the device login page a
user visits to approve a device code.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from powerbi_emulator._aad import NO_STORE, LoginError, fail
from powerbi_emulator._http import HttpRequest, HttpResponse
from powerbi_emulator._identity import USER

if TYPE_CHECKING:
    from collections.abc import Callable

    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._identity import TokenService
    from powerbi_emulator._login import LoginEndpoints

__all__ = ["Discovery"]

_CLAIMS = [
    "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
    "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
    "name", "tid", "ver", "at_hash", "c_hash", "email",
]  # fmt: skip


class Discovery:
    """Discovery documents and keys, built from the origin each request reached."""

    def __init__(self, tokens: TokenService, login: LoginEndpoints, clock: EmulatorClock) -> None:
        self._tokens = tokens
        self._login = login
        self._clock = clock

    def handle(self, request: HttpRequest) -> HttpResponse | None:  # noqa: PLR0911 - one per route
        """The response for a discovery path, or None when the path is not one."""
        lowered = tuple(s.lower() for s in request.segments)
        match lowered:
            case (tenant, "v2.0", ".well-known", "openid-configuration"):
                return self._guarded(request, tenant, lambda: self._openid(request, "v2"))
            case (tenant, ".well-known", "openid-configuration"):
                return self._guarded(request, tenant, lambda: self._openid(request, "v1"))
            case (_, "discovery", "instance"):
                return self._instance(request)
            case (_, "discovery", "v2.0", "keys") | (_, "discovery", "keys"):
                return HttpResponse.json(200, self._tokens.signer.jwks())
            case ("devicelogin",):
                return self._device_page(request)
            case ("common", "userrealm", _):
                return self._user_realm(request, request.segments[2])
        return None

    def _guarded(
        self, request: HttpRequest, tenant: str, build: Callable[[], HttpResponse]
    ) -> HttpResponse:
        try:
            self._login.check_tenant(tenant)
        except LoginError as exc:
            return exc.response(request, self._clock)
        return build()

    def _openid(self, request: HttpRequest, version: str) -> HttpResponse:
        tenant_id = self._tokens.directory.tenant_id
        cloud = self._tokens.directory.cloud
        base = f"{request.origin}/{tenant_id}"
        v2 = "/v2.0" if version == "v2" else ""
        body: dict[str, object] = {
            "token_endpoint": f"{base}/oauth2{v2}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery{v2}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self._login.issuer(request) if v2 else self._tokens.directory.access_issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2{v2}/authorize",
            "device_authorization_endpoint": f"{base}/oauth2{v2}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2{v2}/logout",
            "claims_supported": _CLAIMS,
            "tenant_region_scope": "NA",
            "cloud_instance_name": cloud.authority_host.split(".", 1)[1],
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return HttpResponse.json(200, body)

    def _instance(self, request: HttpRequest) -> HttpResponse:
        """Instance discovery: is the authority's host this one; where is its OpenID config."""
        endpoint = request.query.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        ours = urlsplit(request.origin).hostname or ""
        cloud = self._tokens.directory.cloud
        if parts.hostname not in {ours, cloud.authority_host}:
            error = fail("invalid_instance", endpoint)
            body = {
                "error": "invalid_instance",
                "error_description": f"AADSTS{error.aadsts}: {error.description}",
                "error_codes": [error.aadsts],
            }
            return HttpResponse.json(400, body, headers=NO_STORE)
        segments = [s for s in parts.path.split("/") if s]
        tenant = segments[0] if segments else "common"
        host = urlsplit(request.origin).netloc
        body = {
            "tenant_discovery_endpoint": (
                f"{request.origin}/{tenant}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": request.query.get("api-version", "1.1"),
            "metadata": [
                {"preferred_network": host, "preferred_cache": host, "aliases": [host]},
            ],
        }
        return HttpResponse.json(200, body)

    def _user_realm(self, request: HttpRequest, user: str) -> HttpResponse:
        """Whether a user name is this tenant's (managed); Unknown for any other domain.

        `api-version=1.0` answers in snake case, as MSAL reads it; later versions in the
        Pascal case of the 2.x shape.
        """
        domain = user.rpartition("@")[2].lower()
        ours = {USER["upn"].rpartition("@")[2], f"{self._tokens.directory.tenant}.onmicrosoft.com"}
        managed = bool(user.count("@") == 1 and domain in ours)
        instance = self._tokens.directory.cloud.authority_host.split(".", 1)[1]
        if request.query.get("api-version", "1.0") == "1.0":
            body: dict[str, object] = {
                "ver": "1.0",
                "account_type": "Managed" if managed else "Unknown",
                "cloud_instance_name": instance,
                "cloud_audience_urn": "urn:federation:MicrosoftOnline",
            }
            if managed:
                body["domain_name"] = domain
            return HttpResponse.json(200, body)
        body = {
            "NameSpaceType": "Managed" if managed else "Unknown",
            "Login": user,
            "DomainName": domain if managed else "",
            "FederationBrandName": self._tokens.directory.tenant if managed else "",
            "CloudInstanceName": instance,
            "CloudInstanceIssuerUri": "urn:federation:MicrosoftOnline",
        }
        return HttpResponse.json(200, body)

    def _device_page(self, request: HttpRequest) -> HttpResponse:
        """The page a user opens to enter a device's code; `?otc=CODE` signs in at once."""
        code = request.query.get("otc") or request.query.get("code")
        if request.method == "POST":
            try:
                code = request.form().get("otc", code)
            except ValueError:
                code = None
        if code:
            approved = self._login.approve_device(code)
            text = (
                "You have signed in on your device; you may close this window."
                if approved
                else f"The code {html.escape(code)} is not valid or has expired."
            )
            return _page(200 if approved else 400, text)
        form = (
            '<form method="POST"><label>Enter code <input name="otc"/></label>'
            '<input type="submit" value="Next"/></form>'
        )
        return _page(200, form)


def _page(status: int, body: str) -> HttpResponse:
    document = f"<html><head><title>Enter code</title></head><body>{body}</body></html>"
    headers = [("content-type", "text/html; charset=utf-8"), *NO_STORE]
    return HttpResponse(status, document.encode("utf-8"), headers)
