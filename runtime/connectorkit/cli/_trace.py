"""What a person sees while a call runs: one line per HTTP request (``-v``), and progress.

Both hang off the HTTP client's event hooks, so they see every request the runtime sends (token
requests and retries included) without the runtime knowing about terminals. Everything goes to
stderr, masked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from connectorkit.cli._wire import add_hooks
from connectorkit.core._redact import mask
from connectorkit.http._client import current_call

if TYPE_CHECKING:
    from typing import TextIO

    import httpx

    from connectorkit.cli._progress import Progress

__all__ = ["RequestTrace"]

_STARTED = "connectorkit.cli.started"


class RequestTrace:
    """Event hooks: per-request lines when ``verbose``, and batches counted into ``progress``."""

    def __init__(
        self,
        stream: TextIO,
        *,
        verbose: bool,
        progress: Progress | None = None,
        batch_method: str | None = None,
    ) -> None:
        self.stream = stream
        self.verbose = verbose
        self.progress = progress
        self.batch_method = batch_method
        self._retries = 0
        self._retry_of_this = 0

    def install(self, client: httpx.Client) -> None:
        """Add the hooks to ``client`` (after the runtime's own)."""
        add_hooks(client, self.on_request, self.on_response)

    def on_request(self, request: httpx.Request) -> None:
        """Note when the request left, and whether the retry policy sent it again (a retry)."""
        request.extensions[_STARTED] = time.perf_counter()
        state = current_call.get()
        retries = state.retries if state is not None else 0
        self._retry_of_this = retries if retries > self._retries else 0
        self._retries = retries

    def on_response(self, response: httpx.Response) -> None:
        """One line: method, URL, status, time, and the retry number."""
        request = response.request
        if (
            self.progress is not None
            and response.is_success
            and request.method == self.batch_method
            and not _is_token_request(request)
        ):
            self.progress.advance()
        if not self.verbose:
            return
        started: Any = request.extensions.get(_STARTED)
        took = f"{(time.perf_counter() - started) * 1000:.0f} ms" if started else "?"
        retry = f" (retry {self._retry_of_this})" if self._retry_of_this else ""
        line = (
            f"{request.method} {request.url} → {response.status_code} "
            f"{response.reason_phrase} {took}{retry}"
        )
        if self.progress is not None:
            self.progress.clear()
        self.stream.write(f"connectorkit: {mask(line)}\n")
        self.stream.flush()


def _is_token_request(request: httpx.Request) -> bool:
    content_type: str = request.headers.get("content-type", "")
    return content_type.startswith("application/x-www-form-urlencoded")
