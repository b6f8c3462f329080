"""Grants of the emulated identity platform: scopes, codes, access and refresh tokens."""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Literal

from powerbi_emulator._cloud import CLOUDS, Cloud
from powerbi_emulator._jose import TokenSigner, b64url_json

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock

__all__ = [
    "POWERBI_RESOURCE",
    "USER",
    "AccessGrant",
    "AuthCode",
    "Directory",
    "Principal",
    "RefreshGrant",
    "ScopeError",
    "TokenService",
    "audience_of",
    "parse_app_scope",
    "parse_delegated_scopes",
]

POWERBI_RESOURCE = "https://analysis.windows.net/powerbi/api"
# Every cloud's Power BI resource: a scope on any of them names Power BI permissions.
POWERBI_RESOURCES = frozenset(cloud.resource for cloud in CLOUDS.values())
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# Delegated permissions the Power BI Service resource exposes (a scope outside it does not exist).
POWERBI_PERMISSIONS = frozenset({
    "App.Read.All", "Capacity.Read.All", "Capacity.ReadWrite.All", "Connection.Read.All",
    "Connection.ReadWrite.All", "Content.Create", "Dashboard.Read.All", "Dashboard.ReadWrite.All",
    "Dataflow.Read.All", "Dataflow.ReadWrite.All", "Dataset.Read.All", "Dataset.ReadWrite.All",
    "Gateway.Read.All", "Gateway.ReadWrite.All", "Item.Execute.All", "Item.Read.All",
    "Item.ReadWrite.All", "Pipeline.Deploy", "Pipeline.Read.All", "Pipeline.ReadWrite.All",
    "Report.Execute.All", "Report.Read.All", "Report.ReadWrite.All", "StorageAccount.Read.All",
    "StorageAccount.ReadWrite.All", "Tenant.Read.All", "Tenant.ReadWrite.All",
    "UserState.ReadWrite.All", "Workspace.Read.All", "Workspace.ReadWrite.All", ".default",
})  # fmt: skip
CODE_LIFETIME = 600.0  # Microsoft's authorization codes last about ten minutes
REFRESH_LIFETIME = 90 * 86400.0  # refresh tokens last 90 days

Principal = Literal["user", "app"]


class ScopeError(ValueError):
    """A requested scope is malformed or does not exist; carries its AADSTS code."""

    def __init__(self, aadsts: int, message: str) -> None:
        super().__init__(message)
        self.aadsts = aadsts


def _resource_of(scope: str) -> str | None:
    """The resource URI of `https://resource/permission` scopes; None for bare names."""
    if "://" not in scope or "/" not in scope.split("://", 1)[1]:
        return None
    return scope.rsplit("/", 1)[0]


def parse_delegated_scopes(raw: str) -> tuple[str, ...]:
    """Check the scopes of a delegated (user) grant; raises ScopeError."""
    scopes = tuple(dict.fromkeys(raw.split()))
    if not scopes:
        raise ScopeError(900144, "The request body must contain the following parameter: 'scope'.")
    resource_scopes = [s for s in scopes if s not in OIDC_SCOPES]
    for scope in resource_scopes:
        resource = _resource_of(scope)
        if resource is None:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.]*", scope):
                raise ScopeError(
                    70011,
                    "The provided value for the input parameter 'scope' is not valid. "
                    f"The scope '{scope}' is not valid.",
                )
            continue  # a bare name is a Microsoft Graph permission
        permission = scope[len(resource) + 1 :]
        if resource.rstrip("/") in POWERBI_RESOURCES and permission not in POWERBI_PERMISSIONS:
            raise ScopeError(
                650053,
                f"The application asked for scope '{permission}' that doesn't exist on the "
                f"resource '{resource.rstrip('/')}'.",
            )
    if len(resource_scopes) > 1 and any(s.endswith("/.default") for s in resource_scopes):
        raise ScopeError(
            70011,
            "The provided value for the input parameter 'scope' is not valid. A '/.default' "
            "scope cannot be combined with other resource scopes.",
        )
    return scopes


def parse_app_scope(raw: str) -> tuple[str, ...]:
    """Check a client credentials scope: exactly one `{resource}/.default`; raises ScopeError."""
    scopes = raw.split()
    if not scopes:
        raise ScopeError(900144, "The request body must contain the following parameter: 'scope'.")
    if len(scopes) != 1 or not scopes[0].endswith("/.default") or _resource_of(scopes[0]) is None:
        raise ScopeError(
            1002012,
            f"The provided value for scope {raw} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    return (scopes[0],)


def audience_of(scopes: tuple[str, ...]) -> str:
    """The resource a token for `scopes` is issued to (Microsoft Graph for bare names)."""
    for scope in scopes:
        resource = _resource_of(scope)
        if resource is not None:
            return resource.rstrip("/")
    return "https://graph.microsoft.com"


def _permissions(scopes: tuple[str, ...]) -> str:
    """The `scp` claim: permission names without their resource (`.default`: all of them)."""
    names: list[str] = []
    for scope in scopes:
        resource = _resource_of(scope)
        if resource is None:
            if scope not in OIDC_SCOPES:
                names.append(scope)
            continue
        name = scope[len(resource) + 1 :]
        if name == ".default":
            names.extend(sorted(POWERBI_PERMISSIONS - {".default"}))
        else:
            names.append(name)
    return " ".join(dict.fromkeys(names))


@dataclasses.dataclass(frozen=True)
class Directory:
    """The emulated tenant: its id, its one user, and where its tokens come from."""

    tenant: str
    cloud: Cloud

    @property
    def tenant_id(self) -> str:
        """The tenant's GUID (stable for a tenant name)."""
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.tenant}.tenant.emulator"))

    def object_id(self, principal: Principal, client_id: str) -> str:
        """The `oid` of the user, or of an app's service principal."""
        who = "user" if principal == "user" else f"app:{client_id}"
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{who}.{self.tenant}.emulator"))

    @property
    def access_issuer(self) -> str:
        """The `iss` of access tokens (v1 tokens, as Power BI's are)."""
        if self.cloud.authority_host == "login.microsoftonline.com":
            return f"https://sts.windows.net/{self.tenant_id}/"
        return f"https://{self.cloud.authority_host}/{self.tenant_id}/"


USER = {"name": "Emulator User", "upn": "emulator.user@contoso.com", "given": "Emulator"}


@dataclasses.dataclass
class AccessGrant:
    """What an access token stands for."""

    client_id: str
    principal: Principal
    scopes: tuple[str, ...]
    expires_at: float

    @property
    def audience(self) -> str:
        """The token's `aud`: the resource of its scopes."""
        return audience_of(self.scopes)

    @property
    def powerbi(self) -> bool:
        """Whether the token's audience is a Power BI service (of any cloud)."""
        return self.audience in POWERBI_RESOURCES


@dataclasses.dataclass
class RefreshGrant:
    """What a refresh token stands for.

    As with Entra, redeeming it does not revoke it (a new one comes with every answer); with
    single use on, a redeemed token is `rotated` and refused afterwards.
    """

    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    state: Literal["active", "rotated", "revoked"] = "active"


@dataclasses.dataclass
class AuthCode:
    """An authorization code awaiting redemption."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    redeemed: bool = False
    nonce: str | None = None


class TokenService:
    """Issues, looks up, expires and revokes codes and tokens on the emulated clock."""

    def __init__(
        self,
        clock: EmulatorClock,
        token_lifetime: float,
        directory: Directory | None = None,
        signer: TokenSigner | None = None,
        *,
        single_use_refresh: bool = False,
    ) -> None:
        self._clock = clock
        self._lifetime = token_lifetime
        self.single_use_refresh = single_use_refresh
        self.directory = directory or Directory("emulator", CLOUDS["public"])
        self.signer = signer or TokenSigner()
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessGrant] = {}
        self.refresh: dict[str, RefreshGrant] = {}

    def issue_code(
        self,
        client_id: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        code_challenge: str | None,
        code_challenge_method: str | None,
        *,
        nonce: str | None = None,
    ) -> str:
        """A new single-use authorization code."""
        code = "emu-code." + secrets.token_urlsafe(32)
        expires_at = self._clock.now() + CODE_LIFETIME
        self.codes[code] = AuthCode(
            client_id,
            redirect_uri,
            scopes,
            code_challenge,
            code_challenge_method,
            expires_at,
            nonce=nonce,
        )
        return code

    def issue(
        self,
        client_id: str,
        principal: Principal,
        scopes: tuple[str, ...],
        *,
        with_refresh: bool,
        lifetime: float | None = None,
        issuer: str | None = None,
        client_info: bool = False,
        nonce: str | None = None,
        app_name: str = "",
        claims: dict[str, object] | None = None,
    ) -> dict[str, object]:
        """New tokens, as the token endpoint's JSON response.

        The access token is a signed JWT with Entra's claims. With `issuer` (the discovery
        document's) and an `openid` scope, an id token comes too; `client_info` adds the
        account's `uid`/`utid`, as Entra does when the request asks for it.

        `expires_in` is in real seconds (like Retry-After) so that a client's own clock agrees
        with the emulated expiry whatever the time scale. `claims` are added to the access
        token's (a managed identity's, say).
        """
        lifetime = self._lifetime if lifetime is None else lifetime
        now = self._clock.now()
        expires_in = max(1, int(self._clock.real_seconds(lifetime)))
        access_token = self._access_jwt(
            client_id, principal, scopes, expires_in, app_name, extra=claims or {}
        )
        self.access[access_token] = AccessGrant(client_id, principal, scopes, now + lifetime)
        response: dict[str, object] = {"token_type": "Bearer"}
        if principal == "user":
            response["scope"] = " ".join(scopes)
        response |= {"expires_in": expires_in, "ext_expires_in": expires_in}
        response["access_token"] = access_token
        if with_refresh:
            refresh_token = "emu-rt." + secrets.token_urlsafe(48)
            self.refresh[refresh_token] = RefreshGrant(client_id, scopes, now + REFRESH_LIFETIME)
            response["refresh_token"] = refresh_token
        if principal == "user" and issuer is not None and "openid" in scopes:
            response["id_token"] = self._id_jwt(client_id, issuer, expires_in, nonce, scopes)
        if principal == "user" and client_info:
            oid = self.directory.object_id("user", client_id)
            response["client_info"] = b64url_json({"uid": oid, "utid": self.directory.tenant_id})
        return response

    def _access_jwt(
        self,
        client_id: str,
        principal: Principal,
        scopes: tuple[str, ...],
        expires_in: int,
        app_name: str,
        *,
        extra: dict[str, object],
    ) -> str:
        directory = self.directory
        issued = int(time.time())  # clients compare token times with their own clock
        oid = directory.object_id(principal, client_id)
        claims: dict[str, object] = {
            "aud": audience_of(scopes),
            "iss": directory.access_issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + expires_in,
            "appid": client_id,
            "appidacr": "1" if principal == "app" else "0",
            "idp": directory.access_issuer,
            "idtyp": principal,
            "oid": oid,
            "sub": oid,
            "tid": directory.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if principal == "user":
            claims |= {
                "scp": _permissions(scopes),
                "name": USER["name"],
                "upn": USER["upn"],
                "unique_name": USER["upn"],
                "amr": ["pwd"],
            }
        else:
            claims["app_displayname"] = app_name or client_id
        return self.signer.sign(claims | extra)

    def _id_jwt(
        self,
        client_id: str,
        issuer: str,
        expires_in: int,
        nonce: str | None,
        scopes: tuple[str, ...],
    ) -> str:
        directory = self.directory
        issued = int(time.time())
        oid = directory.object_id("user", client_id)
        claims: dict[str, object] = {
            "aud": client_id,
            "iss": issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + expires_in,
            "oid": oid,
            "sub": oid,
            "tid": directory.tenant_id,
            "ver": "2.0",
            "uti": secrets.token_urlsafe(16),
        }
        if "profile" in scopes or "openid" in scopes:
            claims |= {"name": USER["name"], "preferred_username": USER["upn"]}
        if "email" in scopes:
            claims["email"] = USER["upn"]
        if nonce is not None:
            claims["nonce"] = nonce
        return self.signer.sign(claims)

    def lookup_access(self, token: str) -> AccessGrant | None:
        """The grant behind an access token, expired or not; None if unknown."""
        return self.access.get(token)

    def is_expired(self, expires_at: float) -> bool:
        """Whether a deadline on the emulated clock has passed."""
        return self._clock.now() >= expires_at

    def expire_access(self, token: str | None = None) -> int:
        """Make one (or every) access token expired; returns how many changed."""
        now = self._clock.now()
        grants = [self.access[token]] if token in self.access else []
        if token is None:
            grants = list(self.access.values())
        changed = [g for g in grants if g.expires_at > now]
        for grant in changed:
            grant.expires_at = now - 1
        return len(changed)

    def revoke_refresh(self, token: str | None = None) -> int:
        """Revoke one (or every) active refresh token; returns how many changed."""
        grants = [self.refresh[token]] if token in self.refresh else []
        if token is None:
            grants = list(self.refresh.values())
        changed = [g for g in grants if g.state == "active"]
        for grant in changed:
            grant.state = "revoked"
        return len(changed)

    def counts(self) -> dict[str, int]:
        """How many tokens exist, for the state endpoint (never the tokens themselves)."""
        now = self._clock.now()
        return {
            "access_tokens": len(self.access),
            "active_access_tokens": sum(g.expires_at > now for g in self.access.values()),
            "refresh_tokens": len(self.refresh),
            "active_refresh_tokens": sum(
                g.state == "active" and g.expires_at > now for g in self.refresh.values()
            ),
            "authorization_codes": len(self.codes),
        }
