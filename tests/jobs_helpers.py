"""The made-up jobs service of tests/data/jobs_pack: its pack, a connection, a runner, a caller."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from conftest import ACCESS, FakeClock, assert_envelope
from connectorkit.call._entry import call
from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

JOBS = Path(__file__).parent / "data" / "jobs_pack"
BASE = "https://jobs.example/v1"


def connection(**token: Any) -> dict[str, Any]:
    """The user's connection with a valid token."""
    return {
        "key": "user",
        "token": {
            "access_token": ACCESS,
            "expires_at": int(time.time()) + 3600,
            "token_type": "Bearer",
            **token,
        },
    }


class Jobs:
    """Calls the jobs pack through the whole protocol, on a fake clock and a memory store."""

    def __init__(self, clock: FakeClock) -> None:
        self.pack = load_pack(JOBS)
        self.clock = clock
        self.runner = Runner(sleep=clock.sleep, clock=clock, wall=clock, state_url="memory://")
        self.items: list[Any] = []

    def __call__(self, action: str, inputs: dict[str, Any] | None = None, **request: Any):
        body = {"action": action, "inputs": inputs or {}, **request}
        body.setdefault("connection", connection())
        response, code = respond(self.pack, self.runner, json.dumps(body))
        assert_envelope(response)
        return response, code

    def request(self, request: dict[str, Any]):
        """A request of another form (resume, cancel), through the protocol."""
        request.setdefault("connection", connection())
        response, code = respond(self.pack, self.runner, json.dumps(request))
        assert_envelope(response)
        return response, code

    def streamed(self, action: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """A call whose items are streamed to ``self.items``."""
        request = {"action": action, "inputs": inputs, "connection": connection()}
        return call(request, self.pack, self.runner, emit=self.items.append)

    def close(self) -> None:
        self.runner.close()
