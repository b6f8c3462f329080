"""Services: an action addresses another service of the same provider, with its own token.

A small pack declares a storage service beside its API (connector.yaml ``services``), as the
Fabric pack declares OneLake: each request goes to its service's host, with a token asked for
that service's scope; the connection's own token is never sent there, nor the service's
handed back as the connection's.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import pytest

from conftest import assert_envelope
from connectorkit.core._errors import PackError
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

if TYPE_CHECKING:
    from pathlib import Path

API = "https://api.example.test/v1"
FILES = "https://files.example.test"
TOKEN_URL = "https://login.example.test/tenant/oauth2/v2.0/token"
API_SCOPE = "https://api.example.test/.default"
FILES_SCOPE = "https://storage.example.test/.default"
SECRET = "svc~client~secret"
USER_ACCESS = "user-access-token-for-the-api"
USER_REFRESH = "user-refresh-token"

CONNECTOR = f"""
key: svc
label: Services
description: An API and its storage service.
default_connection: client_credentials
value_sets:
  cloud:
    public: {{files_url: "{FILES}", storage_resource: https://storage.example.test}}
    custom: {{}}
services:
  files:
    label: Files
    base_url: "{{files_url}}"
    scope: "{{storage_resource}}/.default"
"""

VALUES = f"""
  - {{key: token_url, label: Token URL, type: string, comments: c, default: "{TOKEN_URL}"}}
  - {{key: base_url, label: Base URL, type: string, comments: c, default: "{API}"}}
  - {{key: client_id, label: Client ID, type: string, comments: c, required: true}}
  - {{key: client_secret, label: Secret, type: string, comments: c, secret: true}}
  - {{key: cloud, label: Cloud, type: string, comments: c, default: public, enum: [public, custom]}}
  - {{key: files_url, label: Files URL, type: string, comments: c}}
  - {{key: storage_resource, label: Storage Resource, type: string, comments: c}}
"""

CLIENT_CREDENTIALS = f"""
key: client_credentials
label: App
description: The app itself.
grant: client_credentials
values:
  - {{key: scopes, label: Scopes, type: string, comments: c, default: "{API_SCOPE}"}}
{VALUES}"""

USER = f"""
key: oauth2
label: User
description: A signed-in user.
grant: authorization_code
values:
  - {{key: authorize_url, label: Authorize URL, type: string, comments: c, default: "https://login.example.test/a"}}
  - {{key: scopes, label: Scopes, type: string, comments: c, default: "{API_SCOPE} offline_access"}}
{VALUES}"""

ACTIONS = {
    "list_things": """
key: list_things
label: List Things
description: The API's things.
inputs: []
request: {method: GET, path: /things}
""",
    "read_file": """
key: read_file
label: Read File
description: One file of the storage service.
service: files
inputs:
  - {key: path, label: Path, type: string, comments: c, required: true}
request: {method: GET, path: "/{path}"}
""",
    "start_copy": """
key: start_copy
label: Start Copy
description: Asks the API to copy a file, then polls the copy's marker file in storage.
inputs:
  - {key: name, label: Name, type: string, comments: c, required: true}
request: {method: POST, path: /copies, body: {name: "{name}"}}
long_running:
  keep: {copy: "{$body.id}"}
  poll: {service: files, path: "/copies/{copy}"}
  status: {at: state, succeeded: [done]}
""",
}


def write_pack(root: Path, actions: dict[str, str] | None = None) -> Path:
    (root / "connections").mkdir(parents=True)
    (root / "actions").mkdir()
    (root / "connector.yaml").write_text(CONNECTOR)
    (root / "connections" / "client_credentials.yaml").write_text(CLIENT_CREDENTIALS)
    (root / "connections" / "oauth2.yaml").write_text(USER)
    for key, text in (actions or ACTIONS).items():
        (root / "actions" / f"{key}.yaml").write_text(text)
    return root


@pytest.fixture
def svc(tmp_path):
    return load_pack(write_pack(tmp_path / "svc"))


def app() -> dict:
    return {"key": "client_credentials", "values": {"client_id": "app", "client_secret": SECRET}}


def run(pack, runner, action, inputs, connection):
    body = {"action": action, "inputs": inputs, "connection": connection}
    response, code = respond(pack, runner, json.dumps(body))
    assert_envelope(response)
    return response, code


def token_answer(request):
    import httpx  # noqa: PLC0415

    scope = parse_qs(request.content.decode())["scope"][0]
    return httpx.Response(
        200,
        json={"access_token": f"token-for {scope}", "token_type": "Bearer", "expires_in": 3600},
    )


def test_an_action_of_a_service_goes_to_its_host_with_a_token_for_its_scope(
    svc, runner, httpx_mock
):
    httpx_mock.add_callback(token_answer, url=TOKEN_URL, is_reusable=True)
    httpx_mock.add_response(url=f"{FILES}/b.csv", text="x,y\n")
    httpx_mock.add_response(url=f"{API}/things", json={"value": []})

    response, code = run(svc, runner, "read_file", {"path": "b.csv"}, app())
    assert (response["ok"], code) == (True, 0)
    response, code = run(svc, runner, "list_things", {}, app())
    assert (response["ok"], code) == (True, 0)

    tokens = [r for r in httpx_mock.get_requests() if str(r.url) == TOKEN_URL]
    assert [parse_qs(r.content.decode())["scope"][0] for r in tokens] == [FILES_SCOPE, API_SCOPE]
    sent = {r.url.host: r.headers["Authorization"] for r in httpx_mock.get_requests()[1::2]}
    assert sent == {
        "files.example.test": f"Bearer token-for {FILES_SCOPE}",
        "api.example.test": f"Bearer token-for {API_SCOPE}",
    }


def test_a_step_of_a_long_running_action_goes_to_the_service_it_names(svc, runner, httpx_mock):
    httpx_mock.add_callback(token_answer, url=TOKEN_URL, is_reusable=True)
    httpx_mock.add_response(url=f"{API}/copies", status_code=202, json={"id": "c1"})
    httpx_mock.add_response(url=f"{FILES}/copies/c1", json={"state": "done"})

    response, _ = run(svc, runner, "start_copy", {"name": "n"}, app())
    assert response["ok"], response
    assert response["result"] == {"state": "done"}
    poll = httpx_mock.get_requests(url=f"{FILES}/copies/c1")[0]
    assert poll.headers["Authorization"] == f"Bearer token-for {FILES_SCOPE}"


def test_a_users_refresh_token_gets_the_services_token_and_the_callers_token_is_kept(
    svc, runner, httpx_mock
):
    import httpx  # noqa: PLC0415

    def refreshed(request):
        scope = parse_qs(request.content.decode()).get("scope", ["none"])[0]
        return httpx.Response(
            200,
            json={
                "access_token": f"user-token-for {scope}",
                "refresh_token": "another-refresh-token",
                "token_type": "Bearer",
                "expires_in": 3600,
            },
        )

    httpx_mock.add_callback(refreshed, url=TOKEN_URL)
    httpx_mock.add_response(url=f"{FILES}/f.csv", text="x\n")
    user = {
        "key": "oauth2",
        "values": {"client_id": "app", "client_secret": SECRET},
        "token": {  # good for another 50 minutes, but for the API's scope only
            "access_token": USER_ACCESS,
            "refresh_token": USER_REFRESH,
            "expires_at": int(time.time()) + 3600,
        },
    }
    response, _ = run(svc, runner, "read_file", {"path": "f.csv"}, user)
    assert response["ok"], response
    renewal, sent = httpx_mock.get_requests()
    # First the caller's refresh token is redeemed for the storage scope: the scope is asked
    # for although the connection's own refreshes ask for none (its refresh_scope is omit).
    assert str(renewal.url) == TOKEN_URL
    assert parse_qs(renewal.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [USER_REFRESH],
        "scope": [FILES_SCOPE],
        "client_id": ["app"],
        "client_secret": [SECRET],
    }
    # Then the storage gets that token, never the caller's API token.
    assert str(sent.url) == f"{FILES}/f.csv"
    assert sent.headers["Authorization"] == f"Bearer user-token-for {FILES_SCOPE}"
    # The service's token is not the connection's: nothing comes back for the caller to store.
    assert "token" not in response


def test_a_custom_cloud_without_the_services_url_is_named(svc, runner, httpx_mock):
    connection = app()
    connection["values"]["cloud"] = "custom"
    connection["values"]["storage_resource"] = "https://storage.example.test"
    response, code = run(svc, runner, "read_file", {"path": "f"}, connection)
    assert (response["ok"], response["error"]["type"]) == (False, "invalid_connection")
    assert "files_url" in response["error"]["message"]
    assert "service 'files'" in response["error"]["message"]
    assert code != 0
    assert httpx_mock.get_requests() == []


def test_a_service_the_pack_does_not_declare_is_refused_when_loaded(tmp_path):
    wrong = ACTIONS["read_file"].replace("service: files", "service: file")
    actions = {**ACTIONS, "read_file": wrong}
    with pytest.raises(PackError) as caught:
        load_pack(write_pack(tmp_path / "svc", actions))
    found = [f"{p.path}: {p.message}" for p in caught.value.problems]
    wanted = "'file' is not a service of connector.yaml (services: files); did you mean 'files'?"
    assert found == [f"service: {wanted}"]


def test_a_field_named_service_in_a_body_or_query_is_the_actions_own(tmp_path, runner, httpx_mock):
    # Many APIs have a parameter called "service": it is data, not one of connector.yaml's.
    named = """
key: tag_thing
label: Tag Thing
description: Tags a thing with the service it belongs to.
inputs:
  - {key: service, label: Service, type: string, comments: c, required: true}
request:
  method: POST
  path: /tags
  query: {service: "{service}"}
  body: {service: "{service}", note: fixed}
"""
    pack = load_pack(write_pack(tmp_path / "svc", {**ACTIONS, "tag_thing": named}))
    httpx_mock.add_response(url=TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    httpx_mock.add_response(url=f"{API}/tags?service=billing", method="POST", json={"ok": 1})
    response, code = run(pack, runner, "tag_thing", {"service": "billing"}, app())
    assert (code, response["result"]) == (0, {"ok": 1})
    [sent] = httpx_mock.get_requests(url=f"{API}/tags?service=billing")
    assert json.loads(sent.content) == {"service": "billing", "note": "fixed"}


STAGE = """
key: load_rows
label: Load Rows
description: Rows written to the storage service as a CSV file, then loaded by the API.
inputs:
  - {key: table, label: Table, type: string, required: true, comments: c}
  - {key: rows, label: Rows, type: array, items: {type: object}, comments: c}
  - {key: path, label: Path, type: string, importance: internal, comments: c}
stage:
  rows: rows
  chunk_bytes: 16
  columns:
    delta_log: {service: files, path: "/{table}/_delta_log/{$delta.version}.json"}
    types: {long: {type: integer}, string: {type: string}}
  create: {service: files, method: PUT, path: "/staging/{$stage.name}", query: {resource: file}}
  append:
    service: files
    method: PATCH
    path: "/staging/{$stage.name}"
    query: {action: append, position: "{$chunk.offset}"}
  flush:
    service: files
    method: PATCH
    path: "/staging/{$stage.name}"
    query: {action: flush, position: "{$stage.size}"}
  then: {path: "staging/{$stage.name}"}
request: {method: POST, path: "/tables/{table}/load", body: {relativePath: "{path}"}}
"""

SCHEMA = json.dumps(
    {
        "type": "struct",
        "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}],
    }
)


def test_staged_rows_are_checked_then_written_in_chunks_then_loaded(tmp_path, runner, httpx_mock):
    pack = load_pack(write_pack(tmp_path / "svc", {"load_rows": STAGE}))
    httpx_mock.add_callback(token_answer, url=TOKEN_URL, is_reusable=True)
    commit = json.dumps({"metaData": {"schemaString": SCHEMA}}) + "\n"
    httpx_mock.add_response(url=f"{FILES}/t/_delta_log/{0:020d}.json", text=commit)
    httpx_mock.add_response(url=f"{FILES}/t/_delta_log/{1:020d}.json", status_code=404)
    httpx_mock.add_response(method="PUT", status_code=201)
    httpx_mock.add_response(method="PATCH", status_code=202, is_reusable=True)
    httpx_mock.add_response(url=f"{API}/tables/t/load", json={"loaded": True})

    rows = [{"id": 1, "name": "first"}, {"id": 2, "name": None}, {"name": "x,y", "id": 3}]
    response, _ = run(pack, runner, "load_rows", {"table": "t", "rows": rows}, app())
    assert response["ok"], response
    staged = response["meta"]["staged"]
    sent = httpx_mock.get_requests()
    writes = [r for r in sent if r.method in {"PUT", "PATCH"}]
    name = staged["file"]
    assert {r.url.path for r in writes} == {f"/staging/{name}"}
    assert all(r.headers["Authorization"] == f"Bearer token-for {FILES_SCOPE}" for r in writes)
    appends = [r for r in writes if r.url.params.get("action") == "append"]
    positions = [int(r.url.params["position"]) for r in appends]
    body = b"".join(r.content for r in appends)
    assert body == b'id,name\n1,first\n2,\n3,"x,y"\n'
    assert [len(r.content) for r in appends] == [16, 11]
    assert positions == [0, 16]
    flush = writes[-1]
    assert (flush.url.params["action"], flush.url.params["position"]) == ("flush", str(len(body)))
    assert staged == {"file": name, "bytes": len(body), "rows": 3, "appends": 2}
    load = sent[-1]
    assert json.loads(load.content) == {"relativePath": f"staging/{name}"}
    assert load.headers["Authorization"] == f"Bearer token-for {API_SCOPE}"


def test_a_row_that_does_not_fit_stops_the_call_before_any_write(tmp_path, runner, httpx_mock):
    pack = load_pack(write_pack(tmp_path / "svc", {"load_rows": STAGE}))
    httpx_mock.add_callback(token_answer, url=TOKEN_URL, is_reusable=True)
    commit = json.dumps({"metaData": {"schemaString": SCHEMA}}) + "\n"
    httpx_mock.add_response(url=f"{FILES}/t/_delta_log/{0:020d}.json", text=commit)
    httpx_mock.add_response(url=f"{FILES}/t/_delta_log/{1:020d}.json", status_code=404)

    rows = [{"id": 1}, {"id": 2.5, "name": "b"}]
    response, code = run(pack, runner, "load_rows", {"table": "t", "rows": rows}, app())
    assert (response["ok"], response["error"]["type"], code) == (False, "invalid_input", 2)
    assert [d["field"] for d in response["error"]["details"]] == ["rows[1].id"]
    assert {r.method for r in httpx_mock.get_requests() if str(r.url) != TOKEN_URL} == {"GET"}


@pytest.mark.parametrize(
    ("cloud", "onelake", "storage", "login"),
    [
        ("public", "onelake.dfs.fabric.microsoft.com", "https://storage.azure.com", "com"),
        ("usgov", "onelake.dfs.fabric.microsoft.us", "https://storage.azure.us", "us"),
    ],
)
def test_the_fabric_pack_writes_rows_to_its_clouds_onelake_with_a_storage_token(
    runner, httpx_mock, cloud, onelake, storage, login
):
    import re  # noqa: PLC0415

    from conftest import ROOT  # noqa: PLC0415

    fabric = load_pack(ROOT / "packs" / "fabric")
    token_url = re.compile(rf"https://login\.microsoftonline\.{login}/contoso/oauth2/v2\.0/token")
    httpx_mock.add_callback(token_answer, url=token_url, is_reusable=True)
    httpx_mock.add_response(url=re.compile(r".*/_delta_log/.*"), status_code=404)
    httpx_mock.add_response(method="PUT", status_code=201)
    httpx_mock.add_response(method="PATCH", status_code=202, is_reusable=True)
    httpx_mock.add_response(url=re.compile(r".*/load$"), json={"status": "Succeeded"})
    connection = {
        "key": "client_credentials",
        "values": {"tenant_id": "contoso", "client_id": "app", "client_secret": SECRET},
    }
    connection["values"]["cloud"] = cloud
    workspace, lakehouse = (
        "1" * 8 + "-1111-1111-1111-" + "1" * 12,
        "2" * 8 + "-2222-2222-2222-" + "2" * 12,
    )
    inputs = {
        "workspace_id": workspace,
        "lakehouse_id": lakehouse,
        "table_name": "t",
        "rows": [{"a": 1}],
        "job_id": "j",
    }
    response, _ = run(fabric, runner, "load_rows_into_table", inputs, connection)
    assert response["ok"], json.dumps(response["error"])

    sent = [r for r in httpx_mock.get_requests() if "/oauth2/" not in r.url.path]
    hosts = [(r.method, r.url.host, r.headers["Authorization"]) for r in sent]
    storage_token = f"Bearer token-for {storage}/.default"
    api = "api.fabric.microsoft." + login
    assert hosts == [
        ("GET", onelake, storage_token),  # the table's Delta log: none, a new table
        ("PUT", onelake, storage_token),
        ("PATCH", onelake, storage_token),
        ("PATCH", onelake, storage_token),
        ("POST", api, f"Bearer token-for https://{api}/.default"),
    ]
    assert sent[1].url.path == f"/{workspace}/{lakehouse}/Files/connectorkit/j.csv"
    assert sent[2].content == b"a\n1\n"
