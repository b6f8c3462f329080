"""Managed identities: the instance metadata endpoint (IMDS) and App Service's.

Code on an Azure VM asks `GET /metadata/identity/oauth2/token?api-version=...&resource=...`
with `Metadata: true` (azure-identity and MSAL find it at `AZURE_POD_IDENTITY_AUTHORITY_HOST`,
else 169.254.169.254); code on App Service asks `IDENTITY_ENDPOINT` with the
`X-IDENTITY-HEADER` secret from `IDENTITY_HEADER`. The host has a system-assigned identity,
and the configured user-assigned ones are picked by client id, object id or resource id.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from typing import TYPE_CHECKING

from powerbi_emulator._aad import NO_STORE, fail
from powerbi_emulator._http import HttpRequest, HttpResponse
from powerbi_emulator._identity import POWERBI_RESOURCES

if TYPE_CHECKING:
    from powerbi_emulator._config import EmulatorConfig
    from powerbi_emulator._identity import TokenService

__all__ = ["APP_SERVICE_PATH", "IMDS_PATH", "HostIdentity", "ManagedIdentityEndpoints"]

IMDS_PATH = ("metadata", "identity", "oauth2", "token")
APP_SERVICE_PATH = ("msi", "token")
_SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-00000000e1e1/resourcegroups/emulator"

LogRecord = dict[str, object]


@dataclasses.dataclass(frozen=True)
class HostIdentity:
    """A managed identity of the emulated host, with the ids a request may pick it by."""

    client_id: str
    object_id: str
    resource_id: str
    name: str
    system: bool

    def matches(self, key: str, value: str) -> bool:
        """Whether `client_id`, `object_id`/`principal_id` or a resource id names it."""
        if key == "client_id":
            return value.lower() == self.client_id.lower()
        if key in {"object_id", "principal_id"}:
            return value.lower() == self.object_id.lower()
        return value.lower() == self.resource_id.lower()


class _Refused(Exception):
    """A managed identity request refused: status and message."""

    def __init__(self, status: int, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.message, self.error = status, message, error


class ManagedIdentityEndpoints:
    """The IMDS and App Service token endpoints, issuing tokens of the host's identities."""

    def __init__(self, config: EmulatorConfig, tokens: TokenService, identity_header: str) -> None:
        self._tokens = tokens
        self.identity_header = identity_header
        directory = tokens.directory
        system_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"system-identity.{config.tenant}.emulator"))
        self.identities = [
            HostIdentity(
                system_id,
                directory.object_id("app", system_id),
                f"{_SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachines/{config.tenant}-host",
                f"{config.tenant}-host",
                system=True,
            ),
            *(
                HostIdentity(
                    m.client_id,
                    directory.object_id("app", m.client_id),
                    f"{_SUBSCRIPTION}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
                    f"{m.name}",
                    m.name,
                    system=False,
                )
                for m in config.managed_identities
            ),
        ]

    @staticmethod
    def route(segments: tuple[str, ...]) -> str | None:
        """`imds` or `app_service` when the path is one of the endpoints."""
        lowered = tuple(s.lower() for s in segments)
        if lowered == IMDS_PATH:
            return "imds"
        if lowered == APP_SERVICE_PATH:
            return "app_service"
        return None

    def handle(self, request: HttpRequest, endpoint: str) -> tuple[HttpResponse, LogRecord]:
        """Answer a token request at `endpoint` (`imds` or `app_service`)."""
        query = request.query
        log: LogRecord = {"managed_identity": endpoint, "resource": query.get("resource")}
        imds = endpoint == "imds"
        try:
            resource = self._check(request, imds=imds)
            identity = self._pick(query)
            log["client_id"] = identity.client_id
            body = self._issue(identity, resource)
        except _Refused as exc:
            log["error"] = exc.message
            payload: dict[str, object]
            if imds:
                payload = {"error": exc.error, "error_description": exc.message}
            else:
                payload = {"statusCode": exc.status, "message": exc.message}
            return HttpResponse.json(exc.status, payload, headers=NO_STORE), log
        if not imds:
            body = {k: body[k] for k in ("access_token", "expires_on", "resource", "token_type")}
            body["client_id"] = identity.client_id
        return HttpResponse.json(200, body, headers=NO_STORE), log

    def _check(self, request: HttpRequest, *, imds: bool) -> str:
        """The resource asked for, once the request is well formed; raises _Refused."""
        if request.method != "GET":
            raise _Refused(405, f"The {request.method} method is not supported; use GET.")
        if imds and request.headers.get("metadata", "").lower() != "true":
            raise _Refused(400, "Required metadata header not specified")
        given = request.headers.get("x-identity-header", "")
        if not imds and not secrets.compare_digest(given, self.identity_header):
            raise _Refused(401, "The X-IDENTITY-HEADER header is missing or wrong.")
        if not request.query.get("api-version"):
            raise _Refused(400, "Required query variable 'api-version' is missing")
        resource = request.query.get("resource", "").strip()
        if not resource:
            raise _Refused(400, "Required audience parameter not specified")
        return resource

    def _pick(self, query: dict[str, str]) -> HostIdentity:
        keys = ("client_id", "object_id", "principal_id", "msi_res_id", "mi_res_id")
        given = [(k, query[k]) for k in keys if query.get(k)]
        if len(given) > 1:
            raise _Refused(400, "Only one of client_id, object_id or a resource id may be given.")
        if not given:
            return self.identities[0]
        key, value = given[0]
        for identity in self.identities:
            if not identity.system and identity.matches(key, value):
                return identity
        raise _Refused(400, "Identity not found")

    def _issue(self, identity: HostIdentity, resource: str) -> dict[str, object]:
        base = resource.rstrip("/")
        if "://" not in base:
            raise _Refused(400, f"The resource '{resource}' is not a URI.", "invalid_resource")
        posed = self._tokens.directory.cloud.resource
        if base in POWERBI_RESOURCES and base != posed:
            error = fail("resource_not_in_tenant", base, self._tokens.directory.tenant)
            raise _Refused(400, f"AADSTS{error.aadsts}: {error.description}", "invalid_resource")
        claims: dict[str, object] = {"xms_mirid": identity.resource_id, "appidacr": "2"}
        answer = self._tokens.issue(
            identity.client_id,
            "app",
            (f"{base}/.default",),
            with_refresh=False,
            app_name=identity.name,
            claims=claims,
        )
        seconds = int(str(answer["expires_in"]))
        now = int(time.time())
        return {
            "access_token": answer["access_token"],
            "client_id": identity.client_id,
            "expires_in": str(seconds),
            "expires_on": str(now + seconds),
            "ext_expires_in": str(seconds),
            "not_before": str(now),
            "resource": resource,
            "token_type": "Bearer",
        }
