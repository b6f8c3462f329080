"""``managed_identity`` connections: a token from the host's own identity endpoint.

Code running on a cloud host asks a local endpoint for a token instead of holding a secret.
The pack lists the endpoints (``managed_identity.endpoints``): the first whose URL is set (an
environment variable, or a fixed URL) is used, with the protocol it speaks:

- ``imds``: ``GET {url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...``
  with ``Metadata: true`` (an instance metadata service);
- ``app_service``: ``GET {url}?api-version=2019-08-01&resource=...`` with the secret of
  ``secret_env`` as ``X-IDENTITY-HEADER``.

A user-assigned identity is picked with ``client_id``. Tokens are cached and renewed like a
service principal's (see :class:`~connectorkit.auth._flow.ConnectionAuth`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit.auth._flow import ConnectionAuth, connection_leeway
from connectorkit.auth._oauth import EndpointRequest
from connectorkit.core._errors import AuthError, InvalidConnection
from connectorkit.core._json import loads_service
from connectorkit.core._redact import mask, remember_secrets
from connectorkit.core._template import ABSENT, render_value
from connectorkit.state._token_store import token_key

if TYPE_CHECKING:
    from collections.abc import Generator

    from connectorkit.pack._definitions import ManagedIdentityDef, MetadataEndpointDef

__all__ = ["ManagedIdentityAuth"]

logger = logging.getLogger("connectorkit.auth")

_IMDS_PATH = "/metadata/identity/oauth2/token"
_API_VERSIONS = {"imds": "2018-02-01", "app_service": "2019-08-01"}
_DESCRIPTION_LIMIT = 500


class ManagedIdentityAuth(ConnectionAuth):
    """The flow of ``managed_identity`` connections: the host's token, attached and renewed.

    Raises :class:`InvalidConnection` at construction when no endpoint is available or the
    resource is missing.
    """

    def _prepare(self) -> None:
        connection = self.connection
        definition = connection.definition
        spec = definition.managed_identity
        if spec is None:  # pragma: no cover - the schema requires it
            raise InvalidConnection(f"connection '{self._key}' declares no managed_identity")
        values = connection.values
        self._grant = "client_credentials"
        self._federated = ()
        self._leeway = connection_leeway(values)
        self._current = None
        self._resource = _rendered(spec.resource, values)
        if connection.service_scope is not None:  # a service's token: its scope's resource
            self._resource = connection.service_scope.removesuffix("/.default")
        if not self._resource:
            raise InvalidConnection(
                f"connection '{self._key}' has no resource to ask a token for ('{spec.resource}')",
                details=[{"field": "connection.values", "message": f"{spec.resource} is missing"}],
            )
        self._identity = _rendered(spec.client_id, values)
        self._endpoint, self._url, secret = _endpoint(spec, self._key)
        self._secret = secret
        if secret:
            remember_secrets([secret])

    @property
    def secrets(self) -> frozenset[str]:
        """The connection's secrets, the endpoint's secret and the tokens obtained."""
        extra = frozenset({self._secret}) if self._secret else frozenset()
        return super().secrets | extra

    def _app_token_key(self) -> str:
        return token_key("managed_identity", self._url, self._identity or "", self._resource)

    def _app_token(self) -> Generator[httpx.Request, httpx.Response, dict[str, Any]]:
        """Ask the host's endpoint for a token."""
        protocol = self._endpoint.protocol
        logger.info("fetching a token for connection '%s' (managed identity)", self._key)
        params = {"api-version": _API_VERSIONS[protocol], "resource": self._resource}
        if self._identity:
            params["client_id"] = self._identity
        if protocol == "imds":
            url = httpx.URL(self._url.rstrip("/") + _IMDS_PATH, params=params)
            headers = {"Metadata": "true"}
        else:
            url = httpx.URL(self._url, params=params)
            headers = {"X-IDENTITY-HEADER": self._secret}
        headers["Accept"] = "application/json"
        request = httpx.Request("GET", url, headers=headers)
        request.extensions["timeout"] = self._http.timeout.as_dict()
        host = url.host or "the identity endpoint"
        secrets = frozenset({self._secret}) if self._secret else frozenset()
        EndpointRequest("the managed identity endpoint", host, secrets).attach(request)
        response = yield request
        response.read()
        return _token_of(response, host, secrets)


def _rendered(template: str, values: Any) -> str:
    value = render_value(template, values)
    return "" if value is ABSENT or value is None else str(value)


def _endpoint(spec: ManagedIdentityDef, connection: str) -> tuple[MetadataEndpointDef, str, str]:
    """The first endpoint whose URL is set; its URL and the secret it sends."""
    tried: list[str] = []
    for endpoint in spec.endpoints:
        url = os.environ.get(endpoint.url_env, "") if endpoint.url_env else ""
        url = url or endpoint.url
        secret = os.environ.get(endpoint.secret_env, "") if endpoint.secret_env else ""
        if url and (secret or not endpoint.secret_env):
            return endpoint, url, secret
        names = " and ".join(n for n in (endpoint.url_env, endpoint.secret_env) if n)
        tried.append(f"{endpoint.protocol} ({names} not set)")
    raise InvalidConnection(
        f"connection '{connection}' found no managed identity endpoint on this host: tried "
        + "; ".join(tried)
    )


def _token_of(response: httpx.Response, host: str, secrets: frozenset[str]) -> dict[str, Any]:
    """The token of an endpoint's answer, in the contract's shape; AuthError when refused."""
    payload = loads_service(response.content)
    body = payload if isinstance(payload, dict) else {}
    access = body.get("access_token")
    if response.is_success and isinstance(access, str) and access:
        remember_secrets([access])
        token: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
        expires_at = _expires_at(body)
        if expires_at is not None:
            token["expires_at"] = expires_at
        return token
    # IMDS answers {"error", "error_description"}, App Service {"statusCode", "message"}.
    said = body.get("error_description") or body.get("message") or body.get("error") or ""
    detail = mask(str(said), secrets)[:_DESCRIPTION_LIMIT]
    raise AuthError(
        f"the managed identity endpoint ({host}) refused (HTTP {response.status_code})"
        + (f": {detail}" if detail else ""),
        status=response.status_code,
        oauth_error=str(body["error"]) if isinstance(body.get("error"), str) else None,
        oauth_error_description=detail or None,
    )


def _expires_at(body: dict[str, Any]) -> int | None:
    # Both endpoints send the numbers as strings; IMDS has expires_in, App Service expires_on.
    for key, base in (("expires_in", time.time()), ("expires_on", 0.0)):
        try:
            return int(base + float(body[key]))
        except (KeyError, TypeError, ValueError):
            continue
    return None
