"""Starting the real ``connectorkit emulator`` and ``connectorkit studio`` commands for tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import re

COMMAND = str(Path(sys.executable).parent / "connectorkit")
ENV = {
    **{k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


class Process:
    """A command that prints one JSON line with its URLs, then serves until stopped."""

    def __init__(
        self, args: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.stderr = ""
        self.proc = subprocess.Popen(
            [COMMAND, *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, **(env or {})},
        )
        if stdin is not None:
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"{args[0]} did not start: {self.stderr}")
        self.urls = json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr = self.proc.stderr.read() if self.proc.stderr else ""
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def start_emulator(client_id: str, secret: str, *extra: str) -> Process:
    """``connectorkit emulator --port 0`` knowing one client, whose secret goes in on stdin."""
    clients = json.dumps([{"client_id": client_id, "client_secret": secret}])
    return Process(
        ["emulator", "--port", "0", "--quiet", "--clients-file", "/dev/stdin", *extra],
        stdin=clients,
    )


def start_studio(
    pack: Path,
    emulator_url: str,
    client: str,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Process:
    """``connectorkit studio`` on a free port for ``pack``, offering the emulator at the URL."""
    return Process(
        [
            "studio",
            "--pack",
            str(pack),
            "--port",
            "0",
            "--emulator",
            emulator_url,
            "--emulator-client",
            client,
            *extra,
        ],
        env=env,
    )


def connections(state_url: str, env: dict[str, str], *args: str, stdin: str = "") -> None:
    """``connectorkit connections --state URL ARGS``: the real command, which must succeed."""
    done = subprocess.run(
        [COMMAND, "connections", "--state", state_url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**ENV, **env},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def store_connection(
    state_url: str, env: dict[str, str], name: str, pack: Path, connection: dict
) -> None:
    """``connectorkit connections add NAME``, the connection on its stdin."""
    connections(state_url, env, "--pack", str(pack), "add", name, stdin=json.dumps(connection))


def remove_connection(state_url: str, env: dict[str, str], name: str) -> None:
    """``connectorkit connections remove NAME``."""
    connections(state_url, env, "remove", name)


def run_to_end(url: str, body: dict, *, secret: str, token: re.Pattern[str] | None = None) -> dict:
    """Start a run on the studio at ``url`` and poll it until done; no poll may carry a secret."""
    started = httpx.post(f"{url}api/run", json=body, timeout=10)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        polled = httpx.get(f"{url}api/runs/{started.json()['id']}", timeout=10)
        assert secret not in polled.text
        assert token is None or not token.search(polled.text)
        current = polled.json()
        if current["state"] == "done":
            return dict(current)
        time.sleep(0.05)
    raise AssertionError("the run did not finish")
