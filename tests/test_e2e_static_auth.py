"""API key, HTTP Basic and static bearer connections end to end: the real `connectorkit`
command in a subprocess, a pack declaring each kind (tests/data/notes_pack), and a small local
service that takes only the right credential where the pack says to put it. Every run, debug
output included, is scanned for the credentials in each encoding."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectorkit.core._redact import encodings_of
from notes_service import NotesService

COMMAND = str(Path(sys.executable).parent / "connectorkit")
PACK = Path(__file__).parent / "data" / "notes_pack"
API_KEY = "nk_live_5f2a-SECRET-key-0001"
PASSWORD = "p@ss:word/SECRET&0002"
TOKEN = "pat_SECRET_token_0003"
SECRETS = (API_KEY, PASSWORD, TOKEN)


@pytest.fixture(scope="module")
def service():
    with NotesService(
        api_key=API_KEY, account="contoso", username="ada", password=PASSWORD, token=TOKEN
    ) as running:
        yield running


def run(*args: str, request: dict | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"}
    done = subprocess.run(
        [COMMAND, *args, "--pack", str(PACK)],
        input=json.dumps(request) if request is not None else "",
        capture_output=True,
        text=True,
        env={**env, "NO_PROXY": "127.0.0.1"},
        timeout=60,
        check=False,
    )
    shown = done.stdout + done.stderr
    assert "Traceback" not in shown
    for secret in SECRETS:
        for form in encodings_of(secret):
            assert form not in shown, f"a credential shows as {form!r}"
    return done


def invoke(service, key: str, values: dict, **inputs) -> tuple[int, dict]:
    request = {
        "action": "list_notes",
        "inputs": {"debug_request": True, **inputs},
        "connection": {"key": key, "values": {"base_url": service.base_url, **values}},
    }
    done = run("invoke", "-v", request=request)
    response = json.loads(done.stdout)
    if response["ok"] or response["error"]["type"] != "invalid_connection":
        assert "→ GET" in done.stderr  # the debug output was on, and masked
    return done.returncode, response


def last(service) -> dict:
    return service.seen[-1]


def test_an_api_key_in_a_header_with_headers_built_from_values(service):
    code, response = invoke(service, "api_key", {"api_key": API_KEY, "workspace": "ops"})
    assert (code, response["ok"]) == (0, True), response
    assert response["result"]["signed_in_by"] == "header"
    sent = last(service)
    assert sent["headers"]["X-API-Key"] == API_KEY
    assert sent["headers"]["X-Workspace"] == "ops"
    assert sent["headers"]["X-Client"] == "connectorkit-tests/ops"
    assert "Authorization" not in sent["headers"]
    assert sent["query"] == {}


def test_a_header_whose_value_is_missing_is_not_sent(service):
    code, _ = invoke(service, "api_key", {"api_key": API_KEY})
    assert code == 0
    assert "X-Workspace" not in last(service)["headers"]
    assert "X-Client" not in last(service)["headers"]


def test_an_api_key_in_the_query_with_a_prefix_and_a_template(service):
    values = {"api_key": API_KEY, "account": "contoso"}
    code, response = invoke(service, "api_key_query", values, tag="work")
    assert (code, response["ok"]) == (0, True), response
    assert [n["id"] for n in response["result"]["value"]] == [2]
    assert last(service)["query"] == {"tag": ["work"], "key": [f"acct-contoso.{API_KEY}"]}
    assert "X-API-Key" not in last(service)["headers"]


def test_basic(service):
    code, response = invoke(service, "basic", {"username": "ada", "password": PASSWORD})
    assert (code, response["ok"]) == (0, True), response
    expected = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    assert last(service)["headers"]["Authorization"] == f"Basic {expected}"


def test_a_static_bearer_token(service):
    code, response = invoke(service, "bearer", {"token": TOKEN})
    assert (code, response["ok"]) == (0, True), response
    assert last(service)["headers"]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("key", "values", "code"),
    [
        ("api_key", {"api_key": "nk_live_wrong-0001"}, "unknown_key"),
        ("api_key_query", {"api_key": "nk_live_wrong-0001", "account": "contoso"}, "unknown_key"),
        ("basic", {"username": "ada", "password": "not-it-0002"}, "bad_password"),
        ("bearer", {"token": "pat_wrong_0003"}, "bad_token"),
    ],
)
def test_a_refused_credential_is_an_auth_error_sent_once(service, key, values, code):
    before = len(service.seen)
    exit_code, response = invoke(service, key, values)
    assert exit_code == 1
    assert response["error"]["type"] == "auth_error"
    assert response["error"]["status"] == 401
    assert response["error"]["code"] == code
    assert "check the connection's values" in response["error"]["message"]
    assert len(service.seen) == before + 1  # nothing to renew: no second attempt


@pytest.mark.parametrize(
    ("key", "missing"),
    [("api_key", "api_key"), ("basic", "password"), ("bearer", "token")],
)
def test_a_missing_credential_names_the_value(service, key, missing):
    values = {"api_key": API_KEY, "username": "ada", "password": PASSWORD, "token": TOKEN}
    values.pop(missing)
    allowed = {"api_key": {"api_key"}, "basic": {"username", "password"}, "bearer": {"token"}}
    values = {k: v for k, v in values.items() if k in allowed[key]}
    before = len(service.seen)
    exit_code, response = invoke(service, key, values)
    assert exit_code == 2
    assert response["error"]["type"] == "invalid_connection"
    assert missing in response["error"]["message"]
    assert len(service.seen) == before


def test_check_says_what_to_change(service, tmp_path):
    connection = tmp_path / "notes.json"
    values = {"base_url": service.base_url, "api_key": "nk_live_wrong-0001"}
    connection.write_text(json.dumps({"key": "api_key", "values": values}))
    done = run("check", "--connection", str(connection))
    assert done.returncode == 1
    assert "does not know this API key" in done.stdout
    connection.write_text(json.dumps({"key": "api_key", "values": {**values, "api_key": API_KEY}}))
    assert run("check", "--connection", str(connection)).stdout.endswith("the connection works\n")
