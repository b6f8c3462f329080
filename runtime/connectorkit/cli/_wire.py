"""What ``check`` saw on the wire: each request it sent, whether an answer came, and when.

The hooks sit on the HTTP client the call uses, so they see the token requests and the service
requests the runtime really sends (a token that was not renewed sends none). While a request
is out, a line on stderr says what is awaited and for how long: updated in place on a
terminal, one line when the wait starts to show and a few more while it lasts elsewhere.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TextIO

    import httpx

__all__ = ["Exchange", "Wire", "add_hooks"]

_SHOW_AFTER_S = 1.0  # a quick answer shows nothing
_PLAIN_EVERY_S = 5.0  # off a terminal, a line now and then while the wait lasts


def add_hooks(client: httpx.Client, on_request: Any, on_response: Any) -> None:
    """Add request and response event hooks to ``client``, after the runtime's own."""
    hooks = client.event_hooks
    hooks["request"] = [*hooks.get("request", []), on_request]
    hooks["response"] = [*hooks.get("response", []), on_response]
    client.event_hooks = hooks


@dataclass(slots=True)
class Exchange:
    """One request and what became of it (``status`` None: no answer came)."""

    method: str
    url: str
    host: str
    is_token: bool
    status: int | None = None
    reason: str = ""
    waited_s: float = 0.0


class Wire:
    """Event hooks recording each request; ``token_url`` tells token requests apart."""

    def __init__(self, stream: TextIO, *, token_url: str | None, live: bool) -> None:
        self.stream = stream
        self.token_url = token_url.split("?", 1)[0].rstrip("/") if token_url else None
        self.live = live
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._waiting: tuple[Exchange, float] | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._shown = False

    def install(self, client: httpx.Client) -> None:
        """Add the hooks to ``client``, after the runtime's own."""
        add_hooks(client, self.on_request, self.on_response)

    def on_request(self, request: httpx.Request) -> None:
        """A request is leaving: note it and start showing the wait."""
        url = str(request.url.copy_with(query=None)).rstrip("/")
        exchange = Exchange(
            method=request.method,
            url=url,
            host=request.url.netloc.decode("ascii", "replace"),
            is_token=self.token_url is not None and url == self.token_url,
        )
        with self._lock:
            self.exchanges.append(exchange)
            self._waiting = (exchange, time.monotonic())
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="check-wait", daemon=True)
            self._ticker.start()

    def on_response(self, response: httpx.Response) -> None:
        """An answer came: record it and stop showing the wait."""
        with self._lock:
            if self._waiting is not None:
                exchange, started = self._waiting
                exchange.status = response.status_code
                exchange.reason = response.reason_phrase
                exchange.waited_s = time.monotonic() - started
                self._waiting = None
            self._clear()

    def close(self) -> None:
        """Stop the display; a request still out stays recorded as unanswered."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self._waiting is not None:
                exchange, started = self._waiting
                exchange.waited_s = time.monotonic() - started
                self._waiting = None
            self._clear()

    def _tick(self) -> None:
        last_plain = 0.0
        while not self._stop.wait(0.25):
            with self._lock:
                if self._waiting is None:
                    last_plain = 0.0
                    continue
                exchange, started = self._waiting
                waited = time.monotonic() - started
                if waited < _SHOW_AFTER_S:
                    continue
                what = "the token endpoint" if exchange.is_token else "the service"
                text = f"… waiting for {what} at {exchange.host}: {waited:.0f} s"
                if self.live:
                    self.stream.write(f"\r\x1b[2K  {text}")
                    self._shown = True
                elif waited - last_plain >= _PLAIN_EVERY_S or not last_plain:
                    self.stream.write(f"connectorkit: {text}\n")
                    last_plain = waited
                self.stream.flush()

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False
