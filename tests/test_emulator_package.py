"""The emulator is its own package: it imports nothing from connectorkit, and the runtime's
`connectorkit emulator` finds it (and any other emulator) through an entry-point group."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import select
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import emulator_core
import fabric_emulator
import powerbi_emulator

PACKAGE_DIR = Path(powerbi_emulator.__file__).parent
PACKAGES = [powerbi_emulator, fabric_emulator, emulator_core]


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_package_lives_outside_the_runtime():
    assert PACKAGE_DIR.parent.name == "emulators"
    assert not (PACKAGE_DIR.parent.parent / "runtime" / "connectorkit" / "emulator").exists()


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_no_module_of_the_emulator_imports_connectorkit(package):
    folder = Path(package.__file__).parent
    assert folder.parent.name == "emulators"
    sources = sorted(folder.rglob("*.py"))
    assert len(sources) > 5
    offenders = {
        str(path.relative_to(folder)): sorted(
            name for name in _imported_modules(path) if name.split(".")[0] == "connectorkit"
        )
        for path in sources
    }
    assert {path: names for path, names in offenders.items() if names} == {}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_importing_every_emulator_module_loads_no_connectorkit(package):
    name = package.__name__
    code = (
        f"import importlib, json, pkgutil, sys, {name}\n"
        f"for info in pkgutil.walk_packages({name}.__path__, '{name}.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'connectorkit')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_powerbi_is_registered_in_the_entry_point_group():
    group = importlib.metadata.entry_points(group="connectorkit.emulators")
    found = {ep.name: ep.value for ep in group}
    assert found["powerbi"] == "powerbi_emulator._cli:main"
    assert found["fabric"] == "fabric_emulator._cli:main"


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "connectorkit", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready:
        process.kill()
        process.wait(15)
        pytest.fail("the emulator printed nothing within 30 s")
    return process, json.loads(process.stdout.readline())


@pytest.mark.parametrize(
    "selector",
    [[], ["powerbi"], ["--service", "powerbi"], ["--service=powerbi"]],
    ids=["default", "positional", "service-flag", "service-equals"],
)
def test_connectorkit_emulator_runs_the_selected_emulator(selector):
    process, urls = _start(*selector, "--port", "0", "--tenant", "contoso")
    try:
        assert urls["tenant"] == "contoso"  # the emulator's own flags still reach it
        token = httpx.post(
            urls["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": "connectorkit-demo",
                "client_secret": "demo-secret",
                "scope": "https://analysis.windows.net/powerbi/api/.default",
            },
            timeout=10,
        ).json()["access_token"]
        groups = httpx.get(
            f"{urls['base_url']}/groups", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert groups.status_code == 200
    finally:
        process.terminate()
        assert process.wait(15) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_an_unknown_emulator_name_exits_2_naming_the_known_ones():
    done = subprocess.run(
        [sys.executable, "-m", "connectorkit", "emulator", "--service", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "no emulator named 'nosuch'" in done.stderr
    assert "powerbi" in done.stderr


def test_connectorkit_emulator_fabric_serves_fabric_and_onelake():
    process, urls = _start("fabric", "--port", "0", "--page-size", "1", "--cloud", "usgov")
    try:
        assert (urls["api_host"], urls["onelake_url"]) == (
            "api.fabric.microsoft.us",
            f"{urls['url']}/onelake",
        )

        def token(scope: str) -> str:
            answer = httpx.post(
                urls["token_url"],
                data={
                    "grant_type": "client_credentials",
                    "client_id": "connectorkit-demo",
                    "client_secret": "demo-secret",
                    "scope": scope,
                },
                timeout=10,
            )
            return str(answer.json()["access_token"])

        fabric = {"Authorization": f"Bearer {token('https://api.fabric.microsoft.us/.default')}"}
        workspaces = httpx.get(f"{urls['base_url']}/workspaces", headers=fabric, timeout=10).json()
        workspace = workspaces["value"][0]["id"]
        items = httpx.get(
            f"{urls['base_url']}/workspaces/{workspace}/items", headers=fabric, timeout=10
        )
        assert len(items.json()["value"]) == 1
        assert "continuationUri" in items.json()
        storage = {"Authorization": f"Bearer {token('https://storage.azure.us/.default')}"}
        files = httpx.get(
            f"{urls['onelake_url']}/{workspace}",
            params={"resource": "filesystem"},
            headers=storage,
            timeout=10,
        )
        assert files.status_code == 200
    finally:
        process.terminate()
        assert process.wait(15) == 0
        assert process.stdout is not None
        process.stdout.close()
