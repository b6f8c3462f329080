"""Every endpoint of the emulated identity platform, behind one router.

Token, authorize and device code endpoints; discovery, keys and the user realm; the managed
identity endpoints. Like Entra, a response echoes the caller's `client-request-id` when the
request says `return-client-request-id: true`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from powerbi_emulator._managed import ManagedIdentityEndpoints

if TYPE_CHECKING:
    from powerbi_emulator._discovery import Discovery
    from powerbi_emulator._http import HttpRequest, HttpResponse
    from powerbi_emulator._login import LoginEndpoints

__all__ = ["IdentityPlatform", "is_identity_path"]

LogRecord = dict[str, object]


def _login_route(segments: tuple[str, ...]) -> tuple[str, Literal["v1", "v2"], str] | None:
    """(tenant, version, endpoint) for `/{tenant}/oauth2[/v2.0]/{authorize|token|devicecode}`."""
    match segments:
        case (tenant, "oauth2", "v2.0", ("authorize" | "token" | "devicecode") as endpoint):
            return tenant, "v2", endpoint
        case (tenant, "oauth2", ("authorize" | "token" | "devicecode") as endpoint):
            return tenant, "v1", endpoint
    return None


def is_identity_path(segments: tuple[str, ...]) -> bool:
    """Whether a request is for the identity platform (for the request log's `kind`)."""
    lowered = tuple(s.lower() for s in segments)
    return (
        _login_route(segments) is not None
        or "discovery" in segments
        or ".well-known" in segments
        or lowered[1:2] == ("userrealm",)
        or ManagedIdentityEndpoints.route(segments) is not None
    )


def _asked_to_echo(request: HttpRequest) -> bool:
    return request.headers.get("return-client-request-id", "").strip().lower() == "true"


class IdentityPlatform:
    """Routes a request to the endpoint that answers it."""

    def __init__(
        self, login: LoginEndpoints, discovery: Discovery, managed: ManagedIdentityEndpoints
    ) -> None:
        self.login = login
        self.discovery = discovery
        self.managed = managed

    def handle(self, request: HttpRequest) -> tuple[HttpResponse, LogRecord] | None:
        """The response and its log details; None when the path is not the platform's."""
        answer = self._route(request)
        if answer is not None and _asked_to_echo(request):
            request_id = request.headers.get("client-request-id")
            if request_id:
                answer[0].headers.append(("client-request-id", request_id))
        return answer

    def _route(self, request: HttpRequest) -> tuple[HttpResponse, LogRecord] | None:
        route = _login_route(request.segments)
        if route is not None:
            tenant, version, endpoint = route
            if endpoint == "token":
                return self.login.token(request, tenant, version)
            if endpoint == "devicecode":
                return self.login.device_code(request, tenant)
            return self.login.authorize(request, tenant, version)
        managed = ManagedIdentityEndpoints.route(request.segments)
        if managed is not None:
            return self.managed.handle(request, managed)
        response = self.discovery.handle(request)
        return None if response is None else (response, {})
