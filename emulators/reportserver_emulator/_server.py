"""The HTTP server: one thread per connection, keep-alive, Windows authentication per connection.

A plain ``http.server`` is used on purpose: NTLM authenticates a TCP connection, and a handler
object that lives exactly as long as its connection is the natural place to keep that state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from reportserver_emulator._catalog import Catalog
from reportserver_emulator._routes import ApiRequest, dispatch
from reportserver_emulator._windows_auth import SCHEMES, ConnectionAuth, User, install_users

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["EmulatorConfig", "ReportServer", "serve_forever"]

log = logging.getLogger("reportserver_emulator")

_MAX_BODY = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How to run the emulator."""

    host: str = "127.0.0.1"
    port: int = 0
    users: tuple[User, ...] = ()
    scheme: str = "both"
    portal_path: str = "/reports"
    latency_ms: float = 0.0


@dataclass(slots=True)
class _Shared:
    catalog: Catalog
    config: EmulatorConfig
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "connections": 0,
            "requests": 0,
            "challenges": 0,
            "logons": 0,
            "refused": 0,
        }
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    origin: str = ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    shared: _Shared  # set on the subclass made per server

    def setup(self) -> None:
        super().setup()
        with self.shared.lock:
            self.shared.stats["connections"] += 1
        config = self.shared.config
        self.auth = ConnectionAuth(SCHEMES[config.scheme], self.shared.stats, config.users)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    # Every verb goes through one place.
    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._chunks())
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _handle(self) -> None:
        body = self._body()  # read it all, whatever the answer, so the connection stays in step
        url = urlsplit(self.path)
        if url.path.startswith("/_emulator/"):
            self._control(url.path)
            return
        with self.shared.lock:
            self.shared.stats["requests"] += 1
        if self.shared.config.latency_ms:
            time.sleep(self.shared.config.latency_ms / 1000)
        outcome = self.auth.check(self.headers.get("Authorization"))
        if outcome.user is None:
            self._send(HTTPStatus.UNAUTHORIZED, None, outcome.headers, html=True)
            return
        api = f"{self.shared.config.portal_path.rstrip('/')}/api/v2.0"
        if not url.path.lower().startswith(api.lower()):
            self._send(
                404, {"error": {"code": "rsNotFound", "message": "Not found."}}, outcome.headers
            )
            return
        host = self.headers.get("Host") or self.shared.origin
        request = ApiRequest(
            method="GET" if self.command == "HEAD" else self.command,
            path=url.path[len(api) :] or "/",
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            body=body,
            content_type=self.headers.get("Content-Type", ""),
            user=outcome.user,
            root=f"http://{host}{api}",
        )
        answer = dispatch(self.shared.catalog, request)
        self._send(answer.status, answer.body, [*outcome.headers, *answer.headers])

    def _control(self, path: str) -> None:
        if path == "/_emulator/stats":
            with self.shared.lock:
                stats = dict(self.shared.stats)
            self._send(200, stats, [])
        else:
            self._send(404, {"error": {"code": "rsNotFound", "message": path}}, [])

    def _send(
        self,
        status: int,
        body: Any,
        headers: list[tuple[str, str]],
        *,
        html: bool = False,
    ) -> None:
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode()
            content_type = "application/json; odata.metadata=minimal; charset=utf-8"
        elif html:
            payload = b"<html><body>401 - Unauthorized</body></html>"
            content_type = "text/html"
        else:
            payload, content_type = b"", ""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class ReportServer:
    """A running emulator: its URLs, its catalog and counters, and how to stop it."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.shared = _Shared(catalog=Catalog(), config=config)
        if config.users:
            install_users(list(config.users))
        handler = type("Handler", (_Handler,), {"shared": self.shared})
        self.httpd = ThreadingHTTPServer((config.host, config.port), handler)
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        origin = f"http://{host!s}:{port!s}"
        self.shared.origin = f"{host!s}:{port!s}"
        self.portal_url = origin + config.portal_path.rstrip("/")
        self.urls = {
            "portal_url": self.portal_url,
            "base_url": f"{self.portal_url}/api/v2.0",
            "stats_url": f"{origin}/_emulator/stats",
        }

    @property
    def catalog(self) -> Catalog:
        """The server's state."""
        return self.shared.catalog

    def serve(self) -> None:
        """Serve until :meth:`shutdown`."""
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_forever(config: EmulatorConfig, on_ready: Callable[[dict[str, Any]], None]) -> None:
    """Serve until SIGINT/SIGTERM, calling ``on_ready`` with the URLs once listening."""
    import signal  # noqa: PLC0415

    server = ReportServer(config)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    on_ready({**server.urls, "users": [u.principal for u in config.users], "scheme": config.scheme})
    try:
        server.serve()
    except KeyboardInterrupt:
        server.httpd.server_close()
