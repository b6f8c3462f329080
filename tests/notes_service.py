"""A small notes service on a free loopback port that takes static credentials only: an API
key in the X-API-Key header or the `key` query parameter, HTTP Basic, or a bearer token.

Every request is kept (method, path, query, headers) for the tests to compare with what they
expect the runtime to have sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["NotesService"]

NOTES = [{"id": 1, "text": "buy milk", "tag": "home"}, {"id": 2, "text": "ship it", "tag": "work"}]


class NotesService:
    """``with NotesService(api_key=..., ...) as service:``; ``service.base_url`` is its root."""

    def __init__(
        self, *, api_key: str, account: str, username: str, password: str, token: str
    ) -> None:
        self.credentials = {
            "header": api_key,
            "query": f"acct-{account}.{api_key}",
            "basic": (username, password),
            "bearer": token,
        }
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def who(self, headers: Any, query: dict[str, list[str]]) -> tuple[str | None, str]:
        """The credential kind that matched, or None and the error code to answer with."""
        if "X-API-Key" in headers:
            ok = headers["X-API-Key"] == self.credentials["header"]
            return ("header", "") if ok else (None, "unknown_key")
        if "key" in query:
            ok = query["key"] == [self.credentials["query"]]
            return ("query", "") if ok else (None, "unknown_key")
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None, "bad_password"
            ok = (user, password) == self.credentials["basic"]
            return ("basic", "") if ok else (None, "bad_password")
        if scheme == "Bearer":
            ok = value == self.credentials["bearer"]
            return ("bearer", "") if ok else (None, "bad_token")
        return None, "no_credentials"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        with self.lock:
            self.seen.append(
                {
                    "method": request.command,
                    "path": parts.path,
                    "query": query,
                    "headers": dict(request.headers.items()),
                }
            )
        kind, error = self.who(request.headers, query)
        if kind is None:
            status, body = 401, {"error": error, "error_description": "not signed in"}
        elif parts.path != "/notes":
            status, body = 404, {"error": "not_found"}
        else:
            tag = query.get("tag", [None])[0]
            notes = [n for n in NOTES if tag in {None, n["tag"]}]
            status, body = 200, {"value": notes, "signed_in_by": kind}
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
