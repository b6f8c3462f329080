"""Many workers over one emulator: real `connectorkit` processes sharing a state store.

Used by tests/test_state_e2e.py (small runs) and bench/shared_state.py (the full figures). The
emulator runs as its own process (`connectorkit emulator`), stopped by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

COMMAND = str(Path(sys.executable).parent / "connectorkit")
CLIENT_ID, CLIENT_SECRET = "connectorkit-demo", "demo-secret"


class Emulator:
    """`connectorkit emulator` in a subprocess; its URLs and its control API.

    Its refresh tokens are single use, so that a worker reusing a spent one shows as an
    `invalid_grant`.
    """

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [COMMAND, "emulator", "--port", "0", "--quiet", "--single-use-refresh-tokens", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env(),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.kill()
            raise RuntimeError("the emulator did not start")
        self.urls: dict[str, str] = json.loads(line)
        self.base = self.urls["url"]
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def user_token(self, *, expired: bool = False) -> dict[str, Any]:
        """A delegated token (with a refresh token), as `auth login` would have printed it."""
        issued = self.control("POST", "tokens", {"principal": "user"})
        token = {k: issued[k] for k in ("access_token", "refresh_token", "token_type")}
        token["expires_at"] = int(time.time()) - 10 if expired else int(time.time()) + 3000
        return token

    def expire_access_tokens(self) -> None:
        self.control("POST", "tokens/expire", {})

    def token_requests(self) -> list[tuple[str | None, int | None]]:
        log = self.control("GET", "requests")
        entries = log["value"]
        return [
            (e.get("grant_type"), e.get("status")) for e in entries if e["path"].endswith("/token")
        ]

    def api_statuses(self) -> list[int]:
        log = self.control("GET", "requests")
        entries = log["value"]
        return [e["status"] for e in entries if e.get("kind") == "api"]

    def clear_log(self) -> None:
        self.control("DELETE", "requests")

    def connection(self, token: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": self.urls["token_url"],
            "authorize_url": self.urls.get("authorize_url", self.urls["token_url"]),
            "base_url": self.urls["base_url"],
            "token_leeway": 0,
        }
        return {"key": "oauth2", "values": values, "token": token}

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def env(**extra: str) -> dict[str, str]:
    """The environment of a worker: this one's, loopback without proxies, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"}
    base.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    base.update(extra)
    return base


def request(connection: dict[str, Any], action: str = "list_groups", **inputs: Any) -> str:
    return json.dumps({"action": action, "inputs": inputs, "connection": connection})


def invoke_many(
    count: int, text: str, state: str, extra_env: list[dict[str, str]] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """``count`` `connectorkit invoke` processes started at once; (exit code, response) each."""
    processes = []
    for number in range(count):
        more = extra_env[number % len(extra_env)] if extra_env else {}
        processes.append(
            subprocess.Popen(
                [COMMAND, "invoke", "--quiet", "--state", state],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env(**more),
            )
        )
    results = []
    for process in processes:
        out, _ = process.communicate(text, timeout=120)
        results.append((process.returncode, json.loads(out)))
    return results


class Server:
    """One `connectorkit serve` process; send lines, collect the answers in order."""

    def __init__(self, state: str, concurrency: int, **extra: str) -> None:
        self.process = subprocess.Popen(
            [COMMAND, "serve", "--quiet", "--state", state, "--concurrency", str(concurrency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env(**extra),
        )
        self.responses: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() of each response
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.responses.append(json.loads(line))
            self.arrived.append(time.monotonic())

    def send(self, lines: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(line + "\n" for line in lines))
        self.process.stdin.flush()

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.responses) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.responses)} of {count} responses")
            time.sleep(0.01)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=120)
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve_waves(
    emulator: Emulator,
    states: list[str],
    token: dict[str, Any],
    *,
    per_wave: int,
    waves: int,
    concurrency: int,
    extra_env: list[dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """One `serve` per state URL; ``waves`` rounds of ``per_wave`` requests each, the access
    token expiring at the service between rounds. Every response, in order per server."""
    servers = [
        Server(state, concurrency, **(extra_env[i % len(extra_env)] if extra_env else {}))
        for i, state in enumerate(states)
    ]
    text = request(emulator.connection(token))
    try:
        for wave in range(waves):
            if wave:
                emulator.expire_access_tokens()
            for server in servers:
                server.send([text] * per_wave)
            for server in servers:
                server.wait_for(per_wave * (wave + 1))
    finally:
        for server in servers:
            server.close()
    return [r for server in servers for r in server.responses]


class Gate:
    """A loopback TCP proxy to ``port`` that holds connections unanswered until opened.

    A request sent while the gate is shut never reaches the service (unlike a stalled request,
    which the service still processes when its client goes away).
    """

    def __init__(self, port: int) -> None:
        import socket  # noqa: PLC0415

        self._target = port
        self._open = threading.Event()
        self._held: list[Any] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        import socket  # noqa: PLC0415

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._open.is_set():
                self._held.append(client)  # never answered, never forwarded
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._server.close()
        for held in self._held:
            held.close()


def _pipe(source: Any, sink: Any) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()
