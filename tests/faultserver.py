"""A real HTTP server on a free port playing a Power BI API with scripted faults.

Each request takes the next step of ``plan`` (``"ok"`` once the plan is used up). Rows POSTed
to ``…/rows`` are committed (kept in ``rows``) before the fault of the step happens, as a
service that did the work and then failed to say so would.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FaultServer"]


class FaultServer:
    """Start with ``with FaultServer() as server:``; ``server.base_url`` is the API root."""

    def __init__(self) -> None:
        self.plan: list[str] = []
        self.rows: list[Any] = []
        self.batches: list[int] = []
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()  # ends a stall when the test is over
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.handle(self, [])

            def do_DELETE(self) -> None:
                owner.handle(self, [])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) or b"{}"
                # A token request is a form, not JSON: it carries no rows.
                body = json.loads(raw) if raw.lstrip().startswith(b"{") else {}
                owner.handle(self, body.get("rows", []) if isinstance(body, dict) else [])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1.0/myorg"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def next_step(self) -> str:
        with self.lock:
            return self.plan.pop(0) if self.plan else "ok"

    def commit(self, rows: list[Any]) -> None:
        with self.lock:
            self.rows.extend(rows)
            self.batches.append(len(rows))

    def handle(self, handler: BaseHTTPRequestHandler, rows: list[Any]) -> None:  # noqa: C901, PLR0912, PLR0915 - one branch per scripted step
        step = self.next_step()
        kind, _, argument = step.partition(":")
        with self.lock:
            self.seen.append((handler.command, step))
        if kind in {"ok", "drop_after_commit", "stall_after_commit", "500_after_commit"}:
            self.commit(rows)
        if kind == "ok":
            send(handler, 200, b'{"value": []}')
        elif kind in {"drop_after_commit", "drop"}:
            handler.close_connection = True  # no answer at all: the connection just ends
        elif kind == "stall_after_commit":
            time.sleep(float(argument or 5))
            handler.close_connection = True
        elif kind in {"500_after_commit", "500"}:
            send(handler, 500, b'{"error": {"code": "InternalError", "message": "boom"}}')
        elif kind == "400":
            send(handler, 400, b'{"error": {"code": "BadRequest", "message": "bad rows"}}')
        elif kind == "429":
            send(handler, 429, b"{}", {"Retry-After": argument or "1"})
        elif kind == "drip":
            # A body that arrives one byte every 50 ms: each read succeeds, the whole never ends.
            size = int(argument or 1000)
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            try:
                for _ in range(size):
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                return
        elif kind == "cut_body":
            # Headers promise 1000 bytes; ten come, then the connection is closed.
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.write(b" " * 10)
            handler.wfile.flush()
            handler.close_connection = True
        elif kind == "stall_body":
            # Headers at once, a few bytes after a pause, then nothing for a long time: a read
            # blocked in the kernel that only the deadline's watchdog can end in time.
            pause, _, stall = (argument or "1.5,30").partition(",")
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.flush()
            try:
                time.sleep(float(pause))
                handler.wfile.write(b" " * 10)
                handler.wfile.flush()
                self.closing.wait(float(stall or 30))
            except OSError:
                return
        elif kind == "big":
            chunked(handler, int(argument))
        elif kind == "length":
            send(handler, 200, b'"' + b"x" * (int(argument) - 2) + b'"')
        else:  # pragma: no cover - a typo in a test's plan
            raise ValueError(step)


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def chunked(handler: BaseHTTPRequestHandler, size: int) -> None:
    """A JSON string of ``size`` bytes sent in chunks with no Content-Length."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    piece = 64 * 1024
    parts = [b'"'] + [b"x" * piece] * ((size - 2) // piece) + [b"x" * ((size - 2) % piece), b'"']
    try:
        for part in parts:
            if part:
                handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
    except OSError:
        return
