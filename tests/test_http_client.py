"""The shared HTTP client: plain http:// needs no TLS at all, and keeps its connections."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from typing import ClassVar

import pytest


class _Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a service answers
    connections: ClassVar[list[int]] = []

    def setup(self) -> None:
        super().setup()
        self.connections.append(self.client_address[1])

    def do_GET(self) -> None:
        body = b'{"value": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def plain_server():
    _Counting.connections = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# In a fresh interpreter, so that nothing made a TLS context before ssl is watched.
_CLIENT = """
import json, ssl, sys
made = []
for name in ("SSLContext", "create_default_context"):
    real = getattr(ssl, name)
    def watched(*args, _real=real, _name=name, **kwargs):
        made.append(_name)
        return _real(*args, **kwargs)
    setattr(ssl, name, watched)
from connectorkit.http._client import new_client
with new_client() as client:
    answers = [client.get(sys.argv[1] + path) for path in ("/groups", "/groups?$top=1")]
status = [a.status_code for a in answers]
print(json.dumps({"made": made, "status": status, "json": answers[0].json()}))
"""


def test_plain_http_makes_no_tls_context_and_reuses_its_connection(plain_server):
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, plain_server],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen == {"made": [], "status": [200, 200], "json": {"value": []}}
    assert len(_Counting.connections) == 1  # the second request went over the same connection
