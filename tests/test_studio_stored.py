"""Stored connections on the studio page: offered by name, run through the state store.

The real ``connectorkit studio`` runs next to the real emulator with a real SQLite state file;
connections are saved and removed with the real ``connectorkit connections`` command, and the
tests read the same file from this process to see the token the run saved there.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import httpx
import pytest
from cryptography.fernet import Fernet

from conftest import ROOT, copy_pack
from studio_helpers import (
    COMMAND,
    ENV,
    remove_connection,
    run_to_end,
    start_emulator,
    start_studio,
    store_connection,
)

pytest.importorskip("uvicorn", reason="studio needs the connectorkit[studio] extra")

CLIENT_ID = "studio-stored-tests"
SECRET = f"stored-secret-{secrets.token_hex(8)}"
NAME = "sales-sp"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("state")
    state_url = f"sqlite:///{folder / 'state.db'}"
    env = {"CONNECTORKIT_STATE_KEY": Fernet.generate_key().decode()}
    emulator = start_emulator(CLIENT_ID, SECRET)
    try:
        pack = copy_pack(tmp_path_factory.mktemp("pack"))
        urls = emulator.urls
        values = {
            "tenant_id": "emulator",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "token_url": urls["token_url"],
            "base_url": urls["base_url"],
        }
        store_connection(
            state_url, env, NAME, pack, {"key": "client_credentials", "values": values}
        )
        # A connection of another pack (Report Server): not one this pack can use.
        store_connection(
            state_url,
            env,
            "reports",
            ROOT / "packs" / "reportserver",
            {
                "key": "windows",
                "values": {
                    "base_url": "http://127.0.0.1:9/reports/api/v2.0",
                    "username": "alice",
                    "password": SECRET,
                },
            },
        )
        studio = start_studio(
            pack, urls["url"], f"{CLIENT_ID}:{SECRET}", "--state", state_url, env=env
        )
        try:
            yield {
                "url": studio.urls["url"],
                "emulator": urls,
                "state_url": state_url,
                "env": env,
                "pack": pack,
            }
        finally:
            studio.stop()
    finally:
        emulator.stop()
    assert SECRET not in studio.stderr


def _run(url: str, body: dict) -> dict:
    return run_to_end(url, body, secret=SECRET)


def test_the_packs_stored_connections_are_offered_by_name_with_secrets_masked(stack):
    response = httpx.get(f"{stack['url']}api/catalog", timeout=10)
    assert SECRET not in response.text
    presets = {p["id"]: p for p in response.json()["presets"]}
    # The emulator first, then this pack's stored connections; the Report Server one is not.
    assert list(presets) == ["emulator", f"stored:{NAME}"]
    stored = presets[f"stored:{NAME}"]
    assert stored["key"] == "client_credentials"
    assert stored["label"] == f"Stored connection {NAME} (Service principal (client credentials))"
    assert stored["values"]["client_secret"] == "***"
    assert stored["values"]["client_id"] == CLIENT_ID
    assert stored["stored"] == {"name": NAME, "token": False}


def test_a_run_names_the_stored_connection_and_its_token_is_kept_in_the_store(stack):
    body = {
        "action": "list_groups",
        "inputs": {"top": 1},
        "connection": {"preset": f"stored:{NAME}"},
    }
    first = _run(stack["url"], body)
    assert first["response"]["ok"] is True, first["response"]
    assert [g["name"] for g in first["response"]["result"]["value"]] == ["Sales Analytics"]
    token_call, api_call = first["exchanges"]
    assert (token_call["method"], token_call["url"]) == ("POST", stack["emulator"]["token_url"])
    assert api_call["url"] == f"{stack['emulator']['base_url']}/groups?%24top=1"
    # The state store keeps the token (the envelope carries none for a stored connection) ...
    assert "token" not in first["response"]
    # ... so the next run sends no token request at all, nor does another process on the store.
    second = _run(stack["url"], body)
    assert second["response"]["ok"] is True
    assert [x["url"] for x in second["exchanges"]] == [api_call["url"]]
    elsewhere = subprocess.run(
        [COMMAND, "run", "list_groups", "top=1", "--connection", NAME, "--json", "-v",
         "--state", stack["state_url"], "--pack", str(stack["pack"])],
        capture_output=True, text=True, env={**ENV, **stack["env"]}, check=False, timeout=60,
    )  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert json.loads(elsewhere.stdout)["result"]["value"][0]["name"] == "Sales Analytics"
    assert "fetching a token" not in elsewhere.stderr
    assert SECRET not in elsewhere.stdout + elsewhere.stderr
    # What to copy names the connection; there is no connection file to show.
    recipes = first["recipes"]
    assert recipes["run"] == f"connectorkit run list_groups top=1 --connection {NAME}"
    request = json.loads(recipes["invoke"].split("\n", 1)[1].rsplit("\n", 1)[0])
    assert request["connection"] == {"name": NAME}
    assert recipes["connection"] == ""


def test_a_connection_saved_or_removed_meanwhile_changes_what_is_offered(stack):
    url = stack["url"]
    before = httpx.get(f"{url}api/version", timeout=10).json()["connections"]
    assert before
    store_connection(
        stack["state_url"],
        stack["env"],
        "later",
        stack["pack"],
        {
            "key": "client_credentials",
            "values": {"tenant_id": "t", "client_id": "x", "client_secret": "y"},
        },
    )
    added = httpx.get(f"{url}api/version", timeout=10).json()["connections"]
    assert added != before
    ids = [p["id"] for p in httpx.get(f"{url}api/catalog", timeout=10).json()["presets"]]
    assert "stored:later" in ids
    remove_connection(stack["state_url"], stack["env"], "later")
    assert httpx.get(f"{url}api/version", timeout=10).json()["connections"] == before
    gone = httpx.post(
        f"{url}api/run",
        json={"action": "list_groups", "connection": {"preset": "stored:later"}},
        timeout=10,
    )
    assert gone.status_code == 409
    assert "no longer offered" in gone.json()["error"]


def test_a_state_store_that_cannot_open_leaves_the_other_connections(tmp_path):
    emulator = start_emulator(CLIENT_ID, SECRET)
    try:
        pack = copy_pack(tmp_path / "pack")
        studio = start_studio(
            pack, emulator.urls["url"], f"{CLIENT_ID}:{SECRET}", "--state", "bogus://nowhere"
        )
        try:
            url = studio.urls["url"]
            for _ in range(3):
                presets = httpx.get(f"{url}api/catalog", timeout=10).json()["presets"]
                assert [p["id"] for p in presets] == ["emulator"]
            assert httpx.get(f"{url}api/version", timeout=10).json()["connections"] == ""
        finally:
            studio.stop()
    finally:
        emulator.stop()
    # Said once on stderr, not once a poll.
    assert studio.stderr.count("stored connections are not available") == 1, studio.stderr
    assert "unknown state URL" in studio.stderr
