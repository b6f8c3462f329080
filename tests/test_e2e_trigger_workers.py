"""Two workers polling one subscription through one store never give an event twice.

Two ``connectorkit serve`` processes share a real SQLite file, or a real redis-server; the test
sends each the same poll at the same moment, round after round, while datasets are created at
the service (slowed down a little, so that the two polls overlap). A poll takes the
subscription's lease until its answer is written: the other waits for it, or answers busy.
Every dataset must come exactly once, from one worker or the other.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import TYPE_CHECKING, Any

import pytest

from connectorkit.state import KEY_ENV, new_key
from powerbi_emulator import running
from triggers_helpers import COMMAND, ENV, SALES, Platform, Service

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

ROUNDS = 12
ANSWER_TIMEOUT_S = 60


class Worker:
    """``connectorkit serve`` fed one line at a time; its answers read as they come."""

    def __init__(self, state: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(COMMAND), "serve", "--state", state],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.answers: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(line)

    def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        response: dict[str, Any] = json.loads(self.answers.get(timeout=ANSWER_TIMEOUT_S))
        assert response["ok"], response
        return response["result"]

    def stop(self) -> str:
        """End of input: the worker stops; what it said on stderr."""
        assert self.process.stdin is not None
        assert self.process.stderr is not None
        self.process.stdin.close()
        self.process.wait(timeout=ANSWER_TIMEOUT_S)
        self.reader.join(timeout=ANSWER_TIMEOUT_S)
        errors = self.process.stderr.read()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        assert self.process.returncode == 0, errors
        return errors


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path) -> tuple[str, dict[str, str]]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}", dict(ENV)
    # Two machines sharing only the Redis server (and the key that seals what it keeps).
    return request.getfixturevalue("redis_url"), {**ENV, KEY_ENV: new_key()}


@pytest.fixture
def emu() -> Iterator[Any]:
    with running(seed=17, latency_ms=40) as handle:
        yield handle


def test_two_workers_sharing_a_store_give_each_event_once(emu, store):
    url, env = store
    platform = Platform(emu, url)
    service = Service(emu)
    subscription = f"shared-{url.split(':')[0]}"
    request = platform.request("dataset_published", subscription, {"group_id": SALES})
    workers = [Worker(url, env), Worker(url, env)]
    try:
        workers[0].send(request)
        assert workers[0].answer()["first"] is True
        made: list[str] = []
        given: list[str] = []
        busy = 0
        for round_number in range(ROUNDS):
            made += [service.push_dataset(f"D{round_number}-{n}") for n in range(2)]
            for worker in workers:  # both at once
                worker.send(request)
            for worker in workers:
                result = worker.answer()
                given += [e["data"]["dataset_id"] for e in result["events"]]
                busy += bool(result.get("busy"))
        for worker in workers:  # the last ones, one after the other
            worker.send(request)
            given += [e["data"]["dataset_id"] for e in worker.answer()["events"]]
        assert len(given) == len(set(given)), "an event was given twice"
        assert sorted(given) == sorted(made)
    finally:
        errors = [worker.stop() for worker in workers]
        service.close()
    assert all(emu.client_secret not in text for text in errors)
