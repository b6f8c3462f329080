"""Grants of the emulated identity platform: scopes, codes, access and refresh tokens."""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock

__all__ = [
    "POWERBI_RESOURCE",
    "AccessGrant",
    "AuthCode",
    "Principal",
    "RefreshGrant",
    "ScopeError",
    "TokenService",
    "parse_app_scope",
    "parse_delegated_scopes",
]

POWERBI_RESOURCE = "https://analysis.windows.net/powerbi/api"
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
        if resource.rstrip("/") == POWERBI_RESOURCE and permission not in POWERBI_PERMISSIONS:
            raise ScopeError(
                650053,
                f"The application asked for scope '{permission}' that doesn't exist on the "
                f"resource '{POWERBI_RESOURCE}'.",
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


def _grants_powerbi(scopes: tuple[str, ...]) -> bool:
    return any((_resource_of(s) or "").rstrip("/") == POWERBI_RESOURCE for s in scopes)


@dataclasses.dataclass
class AccessGrant:
    """What an access token stands for."""

    client_id: str
    principal: Principal
    scopes: tuple[str, ...]
    expires_at: float

    @property
    def powerbi(self) -> bool:
        """Whether the token's audience is the Power BI service."""
        return _grants_powerbi(self.scopes)


@dataclasses.dataclass
class RefreshGrant:
    """What a refresh token stands for; it is single use (rotated on redemption)."""

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


class TokenService:
    """Issues, looks up, expires and revokes codes and tokens on the emulated clock."""

    def __init__(self, clock: EmulatorClock, token_lifetime: float) -> None:
        self._clock = clock
        self._lifetime = token_lifetime
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
    ) -> str:
        """A new single-use authorization code."""
        code = "emu-code." + secrets.token_urlsafe(32)
        expires_at = self._clock.now() + CODE_LIFETIME
        self.codes[code] = AuthCode(
            client_id, redirect_uri, scopes, code_challenge, code_challenge_method, expires_at
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
    ) -> dict[str, object]:
        """New tokens, as the token endpoint's JSON response.

        `expires_in` is in real seconds (like Retry-After) so that a client's own clock agrees
        with the emulated expiry whatever the time scale.
        """
        lifetime = self._lifetime if lifetime is None else lifetime
        now = self._clock.now()
        access_token = "emu-at." + secrets.token_urlsafe(32)
        self.access[access_token] = AccessGrant(client_id, principal, scopes, now + lifetime)
        expires_in = max(1, int(self._clock.real_seconds(lifetime)))
        response: dict[str, object] = {"token_type": "Bearer"}
        if principal == "user":
            response["scope"] = " ".join(scopes)
        response |= {"expires_in": expires_in, "ext_expires_in": expires_in}
        response["access_token"] = access_token
        if with_refresh:
            refresh_token = "emu-rt." + secrets.token_urlsafe(48)
            self.refresh[refresh_token] = RefreshGrant(client_id, scopes, now + REFRESH_LIFETIME)
            response["refresh_token"] = refresh_token
        return response

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
