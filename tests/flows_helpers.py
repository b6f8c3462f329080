"""Driving the Power BI emulator's long-running flows over real HTTP, in tests."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from powerbi_emulator import SEED_IDS, running

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SALES = SEED_IDS["sales_analytics"]
OPERATIONS = SEED_IDS["operations"]
IN_SALES = f"/groups/{SALES}"


class Api:
    """A Power BI client holding one token (`principal` user or app) of a running emulator."""

    def __init__(self, emu: Any, principal: str = "user", lifetime: float = 10**7) -> None:
        self.emu = emu
        self.token = emu.issue_token(principal=principal, lifetime=lifetime)["access_token"]
        self.http = httpx.Client(
            base_url=emu.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
            trust_env=False,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    """An emulator for the module's tests (each test starts from its reset state)."""
    with running(seed=7) as handle:
        yield handle


@pytest.fixture
def api(emu: Any) -> Iterator[Api]:
    """A signed-in user's client, on a reset emulator."""
    emu.reset()
    client = Api(emu)
    yield client
    client.close()


@pytest.fixture
def admin(emu: Any) -> Iterator[Api]:
    """A service principal's client (as admin APIs are called), on a reset emulator."""
    emu.reset()
    client = Api(emu, principal="app")
    yield client
    client.close()


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


def blob_error(response: httpx.Response, status: int) -> str:
    """The Azure error code of a blob response (header and XML body agree)."""
    assert response.status_code == status, response.text
    code = response.headers["x-ms-error-code"]
    assert f"<Code>{code}</Code>" in response.text
    return code


def block_id(number: int) -> str:
    return base64.b64encode(f"block-{number:06d}".encode()).decode()


def with_query(url: str, **params: str) -> str:
    """A SAS URL with more query parameters (httpx's `params=` would replace its query)."""
    return f"{url}&{urlencode(params)}"


def put_blocks(url: str, data: bytes, size: int) -> list[str]:
    """Upload `data` to a SAS URL in blocks of `size` bytes, then commit them in order."""
    ids = []
    with httpx.Client(timeout=60, trust_env=False) as blob:
        for number, start in enumerate(range(0, len(data), size)):
            ids.append(block_id(number))
            target = with_query(url, comp="block", blockid=ids[-1])
            put = blob.put(target, content=data[start : start + size])
            assert put.status_code == 201, put.text
        listing = "".join(f"<Latest>{i}</Latest>" for i in ids)
        committed = blob.put(
            with_query(url, comp="blocklist"),
            content=f'<?xml version="1.0" encoding="utf-8"?><BlockList>{listing}</BlockList>',
        )
        assert committed.status_code == 201, committed.text
    return ids


def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy (real time, for a scaled clock)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``python -m powerbi_emulator --port 0 --quiet ARGS`` in its own process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "powerbi_emulator", "--port", "0", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        yield process, json.loads(line)
    finally:
        process.terminate()
        process.communicate(timeout=15)


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory so far (Linux), in MiB."""
    with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def app_token(urls: dict[str, str]) -> str:
    """A service principal token from a separate emulator process's token endpoint."""
    response = httpx.post(
        urls["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": "connectorkit-demo",
            "client_secret": "demo-secret",
            "scope": "https://analysis.windows.net/powerbi/api/.default",
        },
        timeout=30,
    )
    return str(response.json()["access_token"])
