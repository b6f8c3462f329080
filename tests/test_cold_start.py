"""A cold ``invoke`` of a plain call imports only what it needs and makes no TLS context for http.

The real command runs against the emulator over loopback HTTP with ``python -X importtime``;
every module it imports is checked against the plain call's path (``tests/coldpath.py``):
nothing of pushes, long-running operations, other connection kinds, the pack checker, the state
backends or the terminal's libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from coldpath import PLAIN_CALL, imported, off_the_path
from conftest import ROOT

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import running

ENV = {
    **{k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


@pytest.fixture(scope="module")
def emulator():
    with running() as emu:
        yield emu


def invoke_importing(request: dict) -> tuple[dict, list[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "connectorkit", "invoke"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    return json.loads(done.stdout), imported(done.stderr)


def sp_request(emulator, *, token: bool) -> dict:
    values = {
        "tenant_id": emulator.tenant,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "token_url": emulator.token_url,
        "base_url": emulator.base_url,
    }
    connection = {"key": "client_credentials", "values": values}
    if token:
        issued = emulator.issue_token(principal="app")
        connection["token"] = {"access_token": issued["access_token"], "token_type": "Bearer"}
    return {"action": "list_groups", "connection": connection}


def test_a_plain_call_imports_only_its_path(emulator):
    request = sp_request(emulator, token=True)
    invoke_importing(request)  # the first run may check the pack and fill its cache
    response, modules = invoke_importing(request)
    assert response["ok"] is True, response
    assert "connectorkit.call._entry" in modules  # the list is real
    assert off_the_path(modules) == []


def test_a_fetched_token_adds_only_the_token_machinery(emulator):
    # The token endpoint's form (authlib) and the state store that keeps the token, sealed, for
    # the next process; still nothing of pushes, the pack checker or the terminal.
    request = sp_request(emulator, token=False)
    invoke_importing(request)
    response, modules = invoke_importing(request)
    assert response["ok"] is True, response
    allowed = ("authlib", "cryptography", "sqlite3", "platformdirs", "connectorkit.state.")
    assert [m for m in off_the_path(modules) if not m.startswith(allowed)] == []


def test_the_path_lists_only_modules_that_exist():
    import importlib.util  # noqa: PLC0415

    assert [m for m in sorted(PLAIN_CALL) if importlib.util.find_spec(m) is None] == []


def test_an_http_service_gets_no_tls_context(emulator):
    from connectorkit.call._entry import call  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    runner = Runner(state_url="memory://")
    try:
        response = call(sp_request(emulator, token=True), load_pack(), runner)
        assert response["ok"] is True, response
        by_scheme = runner.http._transport._shared
        assert by_scheme._plain is not None
        assert by_scheme._tls is None
    finally:
        runner.close()


@pytest.mark.parametrize("folder", ["packs/powerbi", "packs/reportserver", "tests/data/jobs_pack"])
def test_an_action_of_several_requests_is_known_without_reading_it_whole(folder):
    # The loader asks pack/_multistep only about actions that have a multi-request part: the
    # cheap test must agree with the module's own for every action.
    from connectorkit.pack._load import _multistep  # noqa: PLC0415
    from connectorkit.pack._multistep import multistep_from  # noqa: PLC0415
    from connectorkit.pack._read import read_documents  # noqa: PLC0415

    documents, _ = read_documents(ROOT / folder)
    actions = [d.data for d in documents if d.kind == "action"]
    found = [(_multistep(a) is not None, multistep_from(a).any) for a in actions]
    assert [cheap for cheap, _ in found] == [full for _, full in found]
    if folder == "tests/data/jobs_pack":
        assert any(full for _, full in found)  # the check is not hollow
