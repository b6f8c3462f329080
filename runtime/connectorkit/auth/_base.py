"""What the flow of every connection kind starts from: the call it serves, and its refusal.

``_kinds`` makes each kind's flow with the same arguments (see
:class:`~connectorkit.auth._flow.AuthFlowFactory`). :class:`KindAuth` takes and keeps them once;
a kind checks and prepares what it sends in :meth:`KindAuth._prepare`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit.core._errors import AuthError
from connectorkit.http._responses import service_error, token_refused

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit._bind import BoundConnection
    from connectorkit.state._token_store import TokenStore

__all__ = ["KindAuth"]


class KindAuth(httpx.Auth):
    """The auth of one call over a connection: its connection, client, token store and budget.

    ``new_token`` is the last token the call obtained (for the response's ``token``), if any.
    """

    requires_response_body = True  # a refusal's error code is in its body

    def __init__(
        self,
        connection: BoundConnection,
        http: httpx.Client,
        store: TokenStore,
        *,
        remaining: Callable[[], float | None],
    ) -> None:
        self.connection = connection
        self.new_token: dict[str, Any] | None = None
        self._http = http
        self._store = store
        self._remaining = remaining
        self._lock = threading.Lock()  # guards what the call obtains while it runs
        self._key = connection.definition.key
        self._quirks = connection.quirks
        self._prepare()

    def _prepare(self) -> None:
        """Check and prepare what the kind sends; :class:`InvalidConnection` when it cannot."""

    def _check_refusal(
        self, response: httpx.Response, refused: str, then: str, *, say_message: bool = False
    ) -> None:
        """An :class:`AuthError` when the service refused the credential (its "token refused").

        Worded "the service refused {refused} (HTTP 401 (its error code)){then}";
        ``say_message``: with the service's message instead of its error code.
        """
        if any(r.status == response.status_code for r in self._quirks.token_refused):
            response.read()  # a flow that reads no answer itself (``none``): the refusal's body
        if not token_refused(response, self._quirks):
            return
        code, message = service_error(response, self._quirks)
        told = f": {message}" if message else ""
        said = told if say_message else (f" ({code})" if code else "")
        raise AuthError(
            f"the service refused {refused} (HTTP {response.status_code}{said}){then}",
            status=response.status_code,
            code=code,
        )
