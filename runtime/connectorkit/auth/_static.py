"""Connection kinds whose credential never changes: an API key, HTTP Basic, a static token.

Each puts the credential on every request (a header, or a query parameter for an API key)
and has nothing to renew: a response the pack declares as "token refused" (401 by default) is
an :class:`AuthError` at once, naming what to check. :class:`ExtraHeaders` wraps any kind's
flow to add the connection's ``headers``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit.auth._base import KindAuth
from connectorkit.core._errors import InvalidConnection
from connectorkit.core._template import ABSENT, render_value

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping

    from connectorkit._bind import BoundConnection
    from connectorkit.auth._flow import CallAuth

__all__ = ["ExtraHeaders", "StaticAuth", "basic_credential", "rendered_headers"]


def _missing(key: str, kind: str) -> InvalidConnection:
    return InvalidConnection(
        f"connection value '{key}' is missing (a {kind} connection sends it with every request)",
        details=[{"field": f"connection.values.{key}", "message": "is missing"}],
    )


def _text(values: Mapping[str, Any], key: str, kind: str) -> str:
    value = values.get(key)
    if value is None or value == "":
        raise _missing(key, kind)
    return str(value)


def basic_credential(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic (RFC 7617, UTF-8)."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class StaticAuth(KindAuth):
    """The flow of ``api_key``, ``basic`` and ``bearer`` connections.

    Raises :class:`InvalidConnection` at construction when a value it sends is missing.
    """

    def _prepare(self) -> None:
        connection = self.connection  # its values only: nothing to fetch, nothing to keep
        definition = connection.definition
        values = connection.values
        self._kind = definition.type
        self._header: tuple[str, str] | None = None
        self._query: tuple[str, str] | None = None
        extra: set[str] = set()
        if self._kind == "basic":
            credential = basic_credential(
                _text(values, "username", "basic"), _text(values, "password", "basic")
            )
            self._header = ("Authorization", credential)
            extra.add(credential.removeprefix("Basic "))
            self._what = "user name and password"
        elif self._kind == "bearer":
            self._header = ("Authorization", f"Bearer {_text(values, 'token', 'bearer')}")
            self._what = "token"
        else:
            spec = definition.api_key
            if spec is None:  # pragma: no cover - the schema requires it
                raise InvalidConnection(f"connection '{definition.key}' declares no api_key")
            key = render_value(spec.value, values)
            if key is ABSENT or key == "":
                raise _missing(spec.value.strip("{}"), "api_key")
            credential = f"{spec.prefix}{key}"
            if spec.location == "query":
                self._query = (spec.name, credential)
            else:
                self._header = (spec.name, credential)
            extra.add(str(key))
            self._what = f"API key ({spec.name})"
        self._secrets = connection.secrets | extra

    @property
    def secrets(self) -> frozenset[str]:
        """The connection's secrets and the credential as it is sent."""
        return self._secrets

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with the credential; a refusal is an :class:`AuthError`."""
        if self._header is not None:
            request.headers[self._header[0]] = self._header[1]
        if self._query is not None:
            request.url = request.url.copy_merge_params({self._query[0]: self._query[1]})
        response = yield request  # read already (``requires_response_body``)
        self._check_refusal(
            response, f"the connection's {self._what}", "; check the connection's values"
        )


class ExtraHeaders(httpx.Auth):
    """Any kind's flow, with the connection's ``headers`` on every request."""

    def __init__(self, inner: CallAuth, headers: Mapping[str, str]) -> None:
        self._inner = inner
        self._headers = dict(headers)

    @property
    def new_token(self) -> dict[str, Any] | None:
        """The token the wrapped flow obtained, if any."""
        return self._inner.new_token

    @property
    def secrets(self) -> frozenset[str]:
        """The wrapped flow's secrets."""
        return self._inner.secrets

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the headers (unless the request sets its own), then run the wrapped flow."""
        for name, value in self._headers.items():
            request.headers.setdefault(name, value)
        yield from self._inner.sync_auth_flow(request)


def rendered_headers(connection: BoundConnection) -> dict[str, str]:
    """The connection's ``headers``, rendered over its values (missing ones left out)."""
    templates = dict(connection.definition.headers)
    rendered = render_value(templates, connection.values) if templates else {}
    return {k: str(v) for k, v in rendered.items()} if isinstance(rendered, dict) else {}
