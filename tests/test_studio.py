"""``connectorkit studio`` over HTTP: the catalog, runs through the runtime, masking, recipes.

The real command runs in a subprocess next to the real emulator; these tests speak to it as the
page does (its JSON API). The page itself is driven in a browser in ``test_studio_page.py``.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess

import httpx
import pytest

from conftest import PACK, ROOT, assert_envelope, copy_pack
from connectorkit.authoring._catalog import describe
from connectorkit.pack._load import load_pack
from connectorkit.studio._recipes import LONGEST_ARGUMENT, invoke_recipe, run_recipe
from connectorkit.studio._watch import PackView
from studio_helpers import COMMAND, ENV, Process, run_to_end, start_emulator, start_studio

pytest.importorskip("uvicorn", reason="studio needs the connectorkit[studio] extra")

CLIENT_ID = "studio-tests"
SECRET = f"studio-secret-{secrets.token_hex(8)}"
# An access token (a JWT) or an emulator refresh token: none may reach the page.
TOKEN = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.|emu-rt\.")
SCRIPT = ROOT / "runtime" / "connectorkit" / "studio" / "static" / "studio.js"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    emulator = start_emulator(CLIENT_ID, SECRET)
    try:
        pack = copy_pack(tmp_path_factory.mktemp("pack"))
        studio = start_studio(pack, emulator.urls["url"], f"{CLIENT_ID}:{SECRET}")
        try:
            yield studio.urls["url"], emulator.urls
        finally:
            studio.stop()
    finally:
        emulator.stop()
    assert SECRET not in studio.stderr


def _run(url: str, body: dict) -> dict:
    return run_to_end(url, body, secret=SECRET, token=TOKEN)


def test_catalog_is_describe_and_the_emulator_preset_hides_its_secret(servers):
    url, emulator = servers
    response = httpx.get(f"{url}api/catalog", timeout=10)
    data = response.json()
    assert data["catalog"] == json.loads(json.dumps(describe(load_pack(PACK))))
    assert data["error"] is None
    [preset] = data["presets"]
    assert preset["key"] == "client_credentials"
    assert preset["values"] == {
        "base_url": emulator["base_url"],
        "token_url": emulator["token_url"],
        "tenant_id": "emulator",
        "client_id": CLIENT_ID,
        "client_secret": "***",
    }
    assert SECRET not in response.text


def test_a_run_through_the_emulator_shows_envelope_exchanges_and_recipes(servers):
    url, emulator = servers
    run = _run(
        url, {"action": "list_groups", "inputs": {"top": 1}, "connection": {"preset": "emulator"}}
    )
    response = run["response"]
    assert_envelope(response)
    assert response["ok"] is True
    assert [g["name"] for g in response["result"]["value"]] == ["Sales Analytics"]
    assert run["exit_code"] == 0
    token_call, api_call = run["exchanges"]
    assert (token_call["method"], token_call["url"], token_call["status"]) == (
        "POST",
        emulator["token_url"],
        200,
    )
    assert "hidden" in token_call["request_body"]
    assert "hidden" in token_call["response_body"]
    assert api_call["url"] == f"{emulator['base_url']}/groups?%24top=1"
    assert ["Authorization", "***"] in [[k.title(), v] for k, v in api_call["request_headers"]]
    assert '"Sales Analytics"' in api_call["response_body"]
    assert response["token"]["access_token"] == "***"
    # The recipes repeat the very request, its secret written as ***.
    invoke = run["recipes"]["invoke"]
    assert invoke.startswith("connectorkit invoke <<'JSON'\n")
    request = json.loads(invoke.split("\n", 1)[1].rsplit("\n", 1)[0])
    assert request == {
        "id": run["id"],
        "action": "list_groups",
        "inputs": {"top": 1},
        "connection": {
            "key": "client_credentials",
            "values": {
                "base_url": emulator["base_url"],
                "token_url": emulator["token_url"],
                "tenant_id": "emulator",
                "client_id": CLIENT_ID,
                "client_secret": "***",
            },
        },
    }
    assert run["recipes"]["run"] == (
        "connectorkit run list_groups top=1 --connection emulator.json"
    )


def test_bad_inputs_come_back_as_the_runtimes_field_details(servers):
    url, _ = servers
    run = _run(
        url,
        {
            "action": "list_tables",
            "inputs": {"top": 5000},
            "connection": {"preset": "emulator"},
        },
    )
    error = run["response"]["error"]
    assert error["type"] == "invalid_input"
    assert run["exit_code"] == 2
    assert {d["field"] for d in error["details"]} == {"dataset_id", "top"}
    assert run["exchanges"] == []


def test_the_token_pattern_the_tests_look_for_matches_the_emulators_tokens(servers):
    _, emulator = servers
    issued = httpx.post(
        f"{emulator['url']}/_emulator/tokens", json={"principal": "user"}, timeout=10
    ).json()
    assert TOKEN.match(issued["access_token"])
    assert TOKEN.match(issued["refresh_token"])


def test_typed_connection_values_are_masked_everywhere(servers):
    url, emulator = servers
    values = {
        "tenant_id": "emulator",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "token_url": emulator["token_url"],
        "base_url": emulator["base_url"],
    }
    run = _run(
        url,
        {
            "action": "list_groups",
            "inputs": {},
            "connection": {"key": "client_credentials", "values": values},
        },
    )
    assert run["response"]["ok"] is True
    assert json.loads(run["recipes"]["connection"])["values"]["client_secret"] == "***"
    assert run["recipes"]["connection_file"] == "connection.json"
    assert run["recipes"]["run"].endswith("--connection connection.json")


def test_the_server_answers_only_loopback_names_and_same_origin_json(servers):
    url, _ = servers
    port = httpx.URL(url).port
    foreign = httpx.get(f"{url}api/catalog", headers={"Host": f"attacker.example:{port}"})
    assert foreign.status_code == 403
    body = {"action": "list_groups", "connection": {"preset": "emulator"}}
    as_form = httpx.post(
        f"{url}api/run", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert as_form.status_code == 415
    cross = httpx.post(f"{url}api/run", json=body, headers={"Origin": "http://attacker.example"})
    assert cross.status_code == 403
    page = httpx.get(url)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{url}static/../__init__.py").status_code == 404


def test_the_page_ships_every_asset_it_uses():
    html = (SCRIPT.parent / "index.html").read_text()
    for asset in re.findall(r'(?:href|src)="/static/([^"]+)"', html):
        assert (SCRIPT.parent / asset).is_file()
    # Nothing from elsewhere: no URL of another host in the page, its script or its styles.
    for name in ("index.html", "studio.js", "studio.css"):
        assert not re.search(
            r"(?:src|href)=\"https?://|url\(https?:|import .* from \"http",
            (SCRIPT.parent / name).read_text(),
        )


def _keywords(schema: object, found: set[str]) -> set[str]:
    if isinstance(schema, dict):
        found.update(schema)
        for key in ("properties",):
            for sub in schema.get(key, {}).values():
                _keywords(sub, found)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                _keywords(schema[key], found)
        for sub in schema.get("oneOf", []):
            _keywords(sub, found)
    return found


def test_the_page_understands_every_keyword_describe_emits():
    catalog = describe(load_pack(PACK))
    used: set[str] = set()
    for action in catalog["actions"]:
        _keywords(action["inputs"], used)
    for connection in catalog["connections"]:
        _keywords(connection["values"], used)
    block = re.search(r"KNOWN_KEYWORDS = \[(.*?)\];", SCRIPT.read_text(), re.DOTALL)[1]
    known = set(re.findall(r'"([^"]+)"', block))
    assert used <= known, used - known


def test_the_run_command_quotes_for_a_shell_and_moves_long_values_to_files():
    columns = [{"name": "Product", "dataType": "String"}]
    line = run_recipe(
        "create_dataset", {"dataset_name": "Q3 sales's", "columns": columns, "top": 3}, "emulator"
    )
    assert shlex.split(line) == [
        "connectorkit",
        "run",
        "create_dataset",
        "dataset_name=Q3 sales's",
        'columns=[{"name":"Product","dataType":"String"}]',
        "top=3",
        "--connection",
        "emulator",
    ]
    rows = [{"n": i} for i in range(LONGEST_ARGUMENT)]
    note, command = run_recipe("create_rows", {"rows": rows}, "c.json").split("\n")
    assert note == f"# rows.json: the rows input as JSON ({len(rows):,} items)"
    assert shlex.split(command)[3] == "rows=@rows.json"


def test_the_invoke_recipe_masks_secret_values_and_tokens():
    request = {
        "action": "list_groups",
        "inputs": {},
        "connection": {
            "key": "oauth2",
            "values": {"client_id": "app", "client_secret": "hush"},
            "token": {"access_token": "at", "refresh_token": "rt", "expires_at": 5},
        },
    }
    text = invoke_recipe(request, {"client_secret"})
    shown = json.loads(text.split("\n", 1)[1].rsplit("\n", 1)[0])
    assert shown["connection"]["values"] == {"client_id": "app", "client_secret": "***"}
    assert shown["connection"]["token"] == {
        "access_token": "***",
        "refresh_token": "***",
        "expires_at": 5,
    }


def test_the_pack_view_follows_edits_and_shows_a_broken_pack(tmp_path):
    pack = copy_pack(tmp_path / "pack")
    view = PackView(pack)
    version, _, catalog, error = view.current()
    assert error is None
    path = pack / "actions" / "list_groups.yaml"
    path.write_text(path.read_text().replace("label: List Groups", "label: List Workspaces"))
    moved, _, catalog, _ = view.current()
    assert moved != version
    assert "List Workspaces" in [a["label"] for a in catalog["actions"]]
    path.write_text("key: [unclosed\n")
    _, pack_now, catalog, error = view.current()
    assert (pack_now, catalog) == (None, None)
    assert "list_groups.yaml" in error["message"]


def test_help_lists_studio():

    shown = subprocess.run([COMMAND, "--help"], capture_output=True, text=True, env=ENV, check=True)
    assert "studio" in shown.stdout
    own = subprocess.run(
        [COMMAND, "studio", "--help"], capture_output=True, text=True, env=ENV, check=True
    )
    assert "--emulator" in own.stdout
    assert "--pack" in own.stdout


def test_studio_starts_its_own_emulator_and_stops_it(tmp_path):
    studio = Process(["studio", "--pack", str(copy_pack(tmp_path / "pack")), "--emulator"])
    try:
        url = studio.urls["url"]
        [preset] = httpx.get(f"{url}api/catalog", timeout=10).json()["presets"]
        assert preset["values"]["client_id"] == "connectorkit-studio"
        assert preset["values"]["client_secret"] == "***"
        run = _run(url, {"action": "list_groups", "connection": {"preset": "emulator"}})
        assert run["response"]["ok"] is True
        emulator_root = preset["values"]["base_url"].removesuffix("/v1.0/myorg")
    finally:
        studio.stop()
    assert studio.proc.returncode == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{emulator_root}/_emulator/state", timeout=5)


def test_a_trigger_is_polled_from_the_page_with_its_subscription(servers):
    url, _ = servers
    body = {
        "trigger": "report_published",
        "subscription": "studio-report_published-t1",
        "inputs": {"group_id": "c0ffee00-5a1e-4a1a-8a1b-000000000001"},
        "connection": {"preset": "emulator"},
    }
    first = _run(url, body)
    response = first["response"]
    assert_envelope(response)
    assert response["trigger"] == "report_published"
    assert response["result"]["first"] is True
    assert response["result"]["events"] == []
    again = _run(url, body)["response"]["result"]
    assert again["events"] == []
    assert "first" not in again  # the subscription goes on where the first poll left it
    assert first["recipes"]["command"] == "connectorkit watch"
    assert first["recipes"]["run"] == (
        "connectorkit watch report_published group_id=c0ffee00-5a1e-4a1a-8a1b-000000000001 "
        "--connection emulator.json --subscription studio-report_published-t1"
    )
    unnamed = httpx.post(f"{url}api/run", json={**body, "subscription": None}, timeout=10)
    assert unnamed.status_code == 400


def test_an_operation_left_running_is_shown_with_its_handle_and_waited_for(servers):
    url, _ = servers
    inputs = {
        "report_id": "4e907000-0000-4000-8000-000000000002",
        "group_id": "c0ffee00-5a1e-4a1a-8a1b-000000000001",
        "format": "PDF",
        "wait": False,
    }
    run = _run(
        url, {"action": "export_to_file", "inputs": inputs, "connection": {"preset": "emulator"}}
    )
    result = run["response"]["result"]
    assert result["status"] == "running"
    handle = result["operation"]["handle"]
    assert handle.startswith("op_")

    waited = _run(url, {"resume": handle, "connection": {"preset": "emulator"}})
    response = waited["response"]
    assert_envelope(response)
    assert response["ok"] is True, response
    assert response["action"] == "export_to_file"
    assert response["result"]["encoding"] == "base64"
    assert waited["recipes"]["run"].startswith(f"connectorkit operations wait {handle} ")
    assert not any(x["method"] == "POST" for x in waited["exchanges"])  # nothing started again
