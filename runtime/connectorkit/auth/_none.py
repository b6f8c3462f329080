"""The ``none`` connection kind: a service that asks for no credentials (public data).

Requests go as they are. A refusal the pack declares as "token refused" (401 by default) is an
:class:`AuthError` at once: the service wants a credential this connection cannot send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.auth._base import KindAuth
from connectorkit.core._errors import AuthError
from connectorkit.http._responses import service_error, token_refused

if TYPE_CHECKING:
    from collections.abc import Generator

    import httpx


__all__ = ["NoAuth"]


class NoAuth(KindAuth):
    """The flow of ``none`` connections: nothing added, nothing renewed."""

    def _prepare(self) -> None:
        self.secrets: frozenset[str] = frozenset()  # nothing to fetch, nothing to keep

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request unchanged; a refusal names the connection."""
        response = yield request
        quirks = self.connection.quirks
        if token_refused(response, quirks):
            code, message = service_error(response, quirks)
            said = f": {message}" if message else ""
            raise AuthError(
                f"the service refused the request (HTTP {response.status_code}{said}): it needs "
                f"credentials, and connection '{self.connection.definition.key}' sends none",
                status=response.status_code,
                code=code,
            )
