"""The ``none`` connection kind: a service that asks for no credentials (public data).

Requests go as they are. A refusal the pack declares as "token refused" (401 by default) is an
:class:`AuthError` at once: the service wants a credential this connection cannot send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.auth._base import KindAuth

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
        self._check_refusal(
            response,
            "the request",
            f": it needs credentials, and connection '{self._key}' sends none",
            say_message=True,
        )
