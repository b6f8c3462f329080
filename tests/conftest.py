"""Shared fixtures: the shipped pack, a runner with a fake clock, and request builders.

Markers (registered in pyproject.toml) say what a test needs beyond the process it runs in,
so that `scripts/test --fast` can leave those out: ``e2e`` (the real command in a subprocess,
or a real service emulator over HTTP), ``browser`` (a real Chromium), ``redis`` (a real
redis-server), ``slow`` (seconds of work even alone: big property tests). They are put on by
file and by fixture below, so a new test in such a file, or asking for such a fixture, is
marked with no further effort.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "packs" / "powerbi"  # the Power BI pack, the default one
SCHEMAS = ROOT / "runtime" / "connectorkit" / "schemas"
BASE = "https://api.powerbi.com/v1.0/myorg"
TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
ACCESS = "eyJ0eXAiOiJKV1QiLCJhbGciOi-access-token-1"
REFRESH = "0.AAAA-refresh-token-1"
SECRET = "s3cr3t~client~value"


def copy_pack(dest: Path) -> Path:
    """A copy of the shipped pack's files under ``dest``, to break in a test."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(PACK / "connector.yaml", dest / "connector.yaml")
    for folder in ("actions", "connections", "triggers"):
        shutil.copytree(PACK / folder, dest / folder)
    return dest


def envelope_validator(name: str):
    """A validator for one of the envelope schemas the pack ships (refs resolved between them)."""
    folder = SCHEMAS
    registry = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in folder.glob("*.json")
    )
    return Draft202012Validator(json.loads((folder / name).read_text()), registry=registry)


_RESPONSES = envelope_validator("response.schema.json")


def assert_envelope(response: dict[str, Any]) -> None:
    """The response is what schemas/response.schema.json (and so the contract) describes."""
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in _RESPONSES.iter_errors(response)]
    assert not problems, problems


class FakeClock:
    """Time that only moves when the code under test sleeps (or a test advances it).

    The one fake clock of the tests: call it for the time, give its ``sleep`` where the code
    waits, and read ``sleeps`` for the waits it asked for.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = float(now)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without anyone sleeping."""
        self.now += seconds


# What each marker is put on: every test of a file matching the pattern...
MARKED_FILES = {
    "test_e2e*.py": ("e2e",),
    "test_*_e2e.py": ("e2e",),
    "test_emulator_*.py": ("e2e",),
    "test_reportserver_emulator.py": ("e2e",),
    "test_windows_auth.py": ("e2e",),
    "test_cli.py": ("e2e",),
    "test_serve_lifecycle.py": ("e2e",),
    "test_readme.py": ("e2e",),
    "test_pytest_plugin.py": ("e2e",),
    "test_studio.py": ("e2e",),
    "test_studio_stored.py": ("e2e",),
    "test_studio_page.py": ("e2e", "browser"),
    "test_fuzz_protocol.py": ("slow",),
    "test_check.py": ("e2e",),
    "test_cli_voice.py": ("e2e",),
    "test_write_a_pack.py": ("e2e", "slow"),
    "test_fabric_emulator.py": ("e2e",),
    "test_fabric_operations.py": ("e2e", "slow"),  # all 725 operations over HTTP
}
# ...and every test that asks for one of these fixtures, in any file.
MARKED_FIXTURES = {
    "redis_url": ("redis",),
    "emulator": ("e2e",),
    "emu": ("e2e",),
    "cli": ("e2e",),
}


def pytest_collection_modifyitems(config, items):
    """Put the markers on by file and by fixture (see MARKED_FILES, MARKED_FIXTURES)."""
    for item in items:
        names: set[str] = set()
        for pattern, markers in MARKED_FILES.items():
            if fnmatch.fnmatch(item.path.name, pattern):
                names.update(markers)
        for fixture in getattr(item, "fixturenames", ()):
            names.update(MARKED_FIXTURES.get(fixture, ()))
        for name in sorted(names):
            item.add_marker(name)


def pytest_configure(config):
    """Tokens and budgets of tests live in memory, one store per process (runner or command),
    unless a test names a shared store (`--state`); set before collection, so that modules
    copying the environment at import see it too. Nothing reaches the user's state folder."""
    import tempfile  # noqa: PLC0415

    os.environ["CONNECTORKIT_STATE"] = "memory://"
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="connectorkit-test-state-")
    # Commands the tests run are off a terminal with no width set, whoever runs pytest:
    # pytest-xdist's workers set COLUMNS=80, which would fit every table to 80 columns.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def pytest_unconfigure(config):
    """Remove the state folder pytest_configure made (a run leaves nothing in the temp folder)."""
    import shutil  # noqa: PLC0415

    folder = os.environ.get("XDG_STATE_HOME", "")
    if Path(folder).name.startswith("connectorkit-test-state-"):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _private_pack_cache(tmp_path_factory):
    """Keep the checked-pack cache of every test (and of the commands they run) out of ~/.cache."""
    saved = os.environ.get("CONNECTORKIT_CACHE_DIR")
    os.environ["CONNECTORKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("pack-cache"))
    yield
    if saved is None:
        os.environ.pop("CONNECTORKIT_CACHE_DIR", None)
    else:
        os.environ["CONNECTORKIT_CACHE_DIR"] = saved


@pytest.fixture
def connectorkit_pack_dir() -> Path:
    """The pytest plugin's pack under test, for the tests of this repository: Power BI's."""
    return PACK


@pytest.fixture(scope="session")
def pack():
    return load_pack(PACK)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jobs(clock: FakeClock):
    """A caller of the made-up jobs service's pack (tests/data/jobs_pack), on ``clock``."""
    from jobs_helpers import Jobs  # noqa: PLC0415 - it imports this module

    caller = Jobs(clock)
    yield caller
    caller.close()


@pytest.fixture
def runner(clock: FakeClock):
    active = Runner(sleep=clock.sleep, clock=clock)
    yield active
    active.close()


def user_connection(**token: Any) -> dict[str, Any]:
    """An oauth2 connection with a valid delegated token (overridable)."""
    return {
        "key": "oauth2",
        "values": {"client_id": "app-id", "client_secret": SECRET},
        "token": {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "expires_at": int(time.time()) + 3600,
            "token_type": "Bearer",
            **token,
        },
    }


def sp_connection(**values: Any) -> dict[str, Any]:
    """A client_credentials connection (the runtime fetches its own token)."""
    return {
        "key": "client_credentials",
        "values": {
            "tenant_id": "contoso",
            "client_id": "sp-id",
            "client_secret": SECRET,
            **values,
        },
    }


@pytest.fixture
def call(pack, runner):
    """Run one request dict through the whole protocol; returns (response, exit code)."""

    def run(action: str, inputs: dict[str, Any] | None = None, **request: Any):
        body = {"action": action, "inputs": inputs or {}, **request}
        body.setdefault("connection", user_connection())
        response, code = respond(pack, runner, json.dumps(body))
        assert_envelope(response)
        return response, code

    return run


# The secrets the fixtures above hand out: no test may let one show, in any encoding.
FIXTURE_SECRETS = (ACCESS, REFRESH, SECRET)


@pytest.fixture(autouse=True)
def _no_secret_in_the_log():
    """Scan what every test logged, as the command shows it (masked when emitted), for secrets.

    Tests that run the command in-process replace this handler with the command's own and scan
    their stdout and stderr themselves (test_secrets.py, test_redact.py).
    """
    import io  # noqa: PLC0415
    import logging  # noqa: PLC0415

    from connectorkit.core._redact import RedactingFormatter, encodings_of  # noqa: PLC0415

    shown = io.StringIO()
    handler = logging.StreamHandler(shown)
    handler.setFormatter(RedactingFormatter("%(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("connectorkit", "httpx")]
    # A command run in-process configures the logger for itself; each test starts from the
    # configuration it found, so no handler of one test writes into the next one's streams.
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            logger.handlers[:], logger.propagate, logger.level = handlers, propagate, level
    text = shown.getvalue()
    for secret in FIXTURE_SECRETS:
        for form in encodings_of(secret):
            assert form not in text, f"a fixture secret (…{secret[-4:]}) was logged as {form!r}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port for the session, stopped by its PID."""
    import shutil as _shutil  # noqa: PLC0415
    import socket  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    binary = _shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/test installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--requirepass",
            "redis-test-pw",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    else:
        server.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://:redis-test-pw@127.0.0.1:{port}/0"
    os.kill(server.pid, 15)
    server.wait(timeout=10)
