"""connectorkit's pytest plugin: fixtures to test an action pack, and its conformance suite.

Installing connectorkit registers this module with pytest (the ``pytest11`` entry point), so a
pack author's tests get, without any conftest.py:

- ``connectorkit_pack_dir`` / ``connectorkit_pack``: the pack under test (the folder holding the
  nearest ``connector.yaml`` above the test file, or the ``connectorkit_pack`` ini option) and
  that pack loaded and checked;
- ``run_action``: run an action in-process, the service answered through pytest-httpx, and get
  the response envelope and the exact requests it sent (``call.request.expect(...)``);
- ``invoke_command``: the same request through the real ``connectorkit invoke`` in a subprocess;
- ``pack_emulator``: the pack's emulator (an entry point of ``connectorkit.emulators`` named like
  the pack) on a free port, skipped when the pack has none.

Every ``connector.yaml`` that pytest collects becomes a conformance suite: each file valid, each
example of each action run and its request compared, each action's request checked against the
pack's OpenAPI document when ``connector.yaml`` declares one. ``connectorkit_conformance = false``
in the ini file turns that collection off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connectorkit.authoring._conformance import Check
    from connectorkit.authoring._examples import Call
    from connectorkit.pack._definitions import Pack

__all__ = [
    "CommandResult",
    "ConformanceItem",
    "Emulator",
    "PackSuite",
    "connectorkit_pack",
    "connectorkit_pack_dir",
    "invoke_command",
    "pack_emulator",
    "pytest_addoption",
    "pytest_collect_file",
    "run_action",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini options ``connectorkit_pack`` and ``connectorkit_conformance``."""
    parser.addini(
        "connectorkit_pack",
        "the action pack the fixtures use (default: the nearest connector.yaml above a test)",
        default="",
    )
    parser.addini(
        "connectorkit_conformance",
        "collect the conformance suite of every connector.yaml pytest finds",
        type="bool",
        default=True,
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``connector.yaml`` is collected as its pack's conformance suite."""
    if file_path.name == "connector.yaml" and parent.config.getini("connectorkit_conformance"):
        suite: PackSuite = PackSuite.from_parent(parent, path=file_path)
        return suite
    return None


class ConformanceFailure(Exception):
    """What a conformance check found, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class PackSuite(pytest.File):
    """The conformance checks of the pack whose ``connector.yaml`` this is."""

    def collect(self) -> Iterator[pytest.Item]:
        """One test per file, per example and per OpenAPI operation."""
        from connectorkit.authoring._conformance import conformance_checks  # noqa: PLC0415
        from connectorkit.pack._load import load_pack  # noqa: PLC0415

        root = self.path.parent
        for check in conformance_checks(root, lambda: load_pack(root)):
            yield ConformanceItem.from_parent(self, name=check.id, check=check)


class ConformanceItem(pytest.Item):
    """One conformance check."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        """Run the check; its problems fail the test."""
        problems = self.check.run()
        if problems:
            raise ConformanceFailure(problems)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """The problems as the pack author needs them, without a Python traceback."""
        if isinstance(excinfo.value, ConformanceFailure):
            return f"{self.check.id}:\n" + "\n".join(f"  {p}" for p in excinfo.value.problems)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the check comes from."""
        return self.path, None, f"conformance {self.check.id}"


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def connectorkit_pack_dir(request: pytest.FixtureRequest) -> Path:
    """The pack folder under test (override this fixture to choose another)."""
    chosen = str(request.config.getini("connectorkit_pack") or "")
    if chosen:
        return (request.config.rootpath / chosen).resolve()
    for folder in [Path(request.path).parent, *Path(request.path).parents]:
        if (folder / "connector.yaml").is_file():
            return folder
    return request.config.rootpath


@pytest.fixture
def connectorkit_pack(connectorkit_pack_dir: Path) -> Pack:
    """The pack, loaded and checked (a broken pack fails the test with every problem)."""
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    return load_pack(connectorkit_pack_dir)


@pytest.fixture
def run_action(connectorkit_pack: Pack, request: pytest.FixtureRequest) -> Callable[..., Call]:
    """Run an action in-process; the service's answers go through pytest-httpx.

    ``run_action(action, inputs, response={"status": 200, "body": {...}}, connection=None)``
    returns a ``Call``: ``.ok``, ``.result``, ``.response`` (the envelope), ``.requests`` and
    ``.request`` (the last one sent) with ``.expect(method, path, query=, headers=, body=)``.
    Without ``connection``, the pack's default connection with stand-in values and a valid
    token is used, its base_url ``https://service.example/api``.
    """
    try:
        httpx_mock = request.getfixturevalue("httpx_mock")
    except pytest.FixtureLookupError:
        from connectorkit.core._install import missing_extra  # noqa: PLC0415

        pytest.fail(missing_extra("testing", "run_action", "pytest-httpx"))
    from connectorkit.authoring._examples import run_in_process  # noqa: PLC0415

    def run(
        action: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        response: Mapping[str, Any] | None = None,
        connection: Mapping[str, Any] | None = None,
    ) -> Call:
        return run_in_process(
            connectorkit_pack,
            action,
            inputs or {},
            response=response,
            connection=connection,
            httpx_mock=httpx_mock,
        )

    return run


@dataclass(frozen=True, slots=True)
class CommandResult:
    """One run of the real command: its JSON response, exit code and stderr."""

    response: dict[str, Any]
    exit_code: int
    stderr: str


@pytest.fixture
def invoke_command(
    connectorkit_pack_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., CommandResult]:
    """Send one request through ``connectorkit invoke --pack <the pack>`` in a subprocess."""
    cache = tmp_path_factory.mktemp("connectorkit-cache")

    def invoke(
        request: Mapping[str, Any], *, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> CommandResult:
        command = [sys.executable, "-m", "connectorkit", "invoke", "--pack"]
        done = subprocess.run(  # noqa: S603 - our own command, arguments we built
            [*command, str(connectorkit_pack_dir)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "CONNECTORKIT_CACHE_DIR": str(cache), **(env or {})},
            check=False,
        )
        try:
            response = json.loads(done.stdout)
        except ValueError as exc:
            message = f"stdout is not one JSON document: {done.stdout!r}\n{done.stderr}"
            raise AssertionError(message) from exc
        return CommandResult(response=response, exit_code=done.returncode, stderr=done.stderr)

    return invoke


@dataclass(slots=True)
class Emulator:
    """A running emulator: the URLs it printed, and connections that point at it."""

    urls: dict[str, str]
    process: subprocess.Popen[str]
    pack: Pack

    def connection(self, key: str | None = None, **values: Any) -> dict[str, Any]:
        """A request's ``connection`` pointing at the emulator.

        The URLs it printed fill the connection's values of the same names (``base_url``,
        ``token_url``, ...), then ``values`` are added.
        """
        chosen = key or self.pack.default_connection
        declared = {v.key for v in self.pack.connections[chosen].values}
        filled = {k: v for k, v in self.urls.items() if k in declared}
        return {"key": chosen, "values": {**filled, **values}}


@pytest.fixture
def pack_emulator_args() -> list[str]:
    """Options for the pack's emulator command (override it: ``["--operation-seconds", "1"]``)."""
    return []


@pytest.fixture
def pack_emulator(connectorkit_pack: Pack, pack_emulator_args: list[str]) -> Iterator[Emulator]:
    """The pack's emulator on a free port (skipped when none is installed for this pack)."""
    from importlib.metadata import entry_points  # noqa: PLC0415

    names = {ep.name for ep in entry_points(group="connectorkit.emulators")}
    if connectorkit_pack.key not in names:
        pytest.skip(f"no emulator is installed for the pack {connectorkit_pack.key!r}")
    command = [sys.executable, "-m", "connectorkit", "emulator", connectorkit_pack.key]
    process = subprocess.Popen(  # noqa: S603 - our own command
        [*command, "--port", "0", *pack_emulator_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None  # noqa: S101 - set by stdout=PIPE
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the {connectorkit_pack.key} emulator did not start")
        yield Emulator(urls=json.loads(line), process=process, pack=connectorkit_pack)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
