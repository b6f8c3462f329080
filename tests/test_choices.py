"""Choices from the service: an input's values (and a value's shape) asked through a connection.

Against the Power BI emulator over real HTTP: the protocol's ``choices`` request in process
(``respond``, as invoke and serve answer it), then through the real ``connectorkit invoke`` and
``connectorkit serve`` commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import assert_envelope, copy_pack, envelope_validator
from connectorkit.authoring._catalog import describe
from connectorkit.call._run import Runner
from connectorkit.pack._check import validate_pack
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import SEED_IDS, running

COMMAND = Path(sys.executable).parent / "connectorkit"
SALES = SEED_IDS["sales_analytics"]
OPERATIONS = SEED_IDS["operations"]
COLUMNS = [
    {"name": "Product", "dataType": "String"},
    {"name": "Qty", "dataType": "Int64"},
    {"name": "SoldAt", "dataType": "DateTime"},
]
REQUESTS = envelope_validator("request.schema.json")


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


@pytest.fixture
def service(emu):
    emu.reset(tokens=True)
    return emu


def app(emu, **values):
    return {
        "key": "client_credentials",
        "values": {
            "tenant_id": emu.tenant,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "token_url": emu.token_url,
            "base_url": emu.base_url,
            **values,
        },
    }


@pytest.fixture
def ask(pack, service):
    runner = Runner()

    def ask(action, name, inputs=None, *, pack_=pack, connection=None, **more):
        request = {"id": "c1", "choices": {"action": action, "input": name, **more}}
        if inputs is not None:
            request["choices"]["inputs"] = inputs
        request["connection"] = connection or app(service)
        assert not list(REQUESTS.iter_errors(request)), request
        response, code = respond(pack_, runner, json.dumps(request))
        assert_envelope(response)
        return response, code

    yield ask
    runner.close()


def api(emu, since=0):
    """(method, path, query) of the REST requests the emulator saw, tokens left out."""
    return [
        (e["method"], e["path"].removeprefix("/v1.0/myorg"), e.get("query") or "")
        for e in emu.requests(since=since)
        if "/oauth2/" not in e["path"]
    ]


def push_dataset(emu, group_id=SALES, table="Sales", columns=COLUMNS):
    token = emu.issue_token(principal="app")["access_token"]
    made = httpx.post(
        f"{emu.base_url}/groups/{group_id}/datasets",
        json={
            "name": "Pushed",
            "defaultMode": "Push",
            "tables": [{"name": table, "columns": columns}],
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_the_workspaces_are_the_choices_of_group_id(ask, service):
    response, code = ask("create_rows", "group_id")
    assert code == 0
    assert response["ok"] is True
    assert response["action"] == "create_rows"
    assert response["result"] == {
        "input": "group_id",
        "choices": [
            {"value": SALES, "label": "Sales Analytics"},
            {"value": OPERATIONS, "label": "Operations"},
        ],
    }
    assert api(service) == [("GET", "/groups", "")]
    assert response["meta"]["requests"] == 2  # the token, then the list
    assert response["meta"]["cached"] is False
    assert response["token"]["access_token"]


def test_a_search_is_sent_to_the_service_where_it_filters_quotes_doubled(ask, service):
    response, _ = ask("create_rows", "group_id", search="Sal")
    assert response["result"]["choices"] == [{"value": SALES, "label": "Sales Analytics"}]
    response, _ = ask("create_rows", "group_id", search="O'Brien")
    assert response["result"]["choices"] == []
    sent = [httpx.QueryParams(q).get("$filter") for m, p, q in api(service) if p == "/groups"]
    assert sent == ["contains(name,'Sal')", "contains(name,'O''Brien')"]


def test_a_dependent_input_lists_what_its_parent_holds(ask, service):
    response, code = ask("create_rows", "dataset_id", {"group_id": SALES})
    assert code == 0
    labels = [c["label"] for c in response["result"]["choices"]]
    assert labels == ["Sales Pipeline"]
    other, _ = ask("create_rows", "dataset_id", {"group_id": OPERATIONS})
    assert [c["label"] for c in other["result"]["choices"]] != labels
    assert api(service) == [
        ("GET", f"/groups/{SALES}/datasets", ""),
        ("GET", f"/groups/{OPERATIONS}/datasets", ""),
    ]


def test_without_a_search_at_the_service_the_choices_are_filtered_by_what_was_typed(ask, service):
    pushed = push_dataset(service)
    response, _ = ask("create_rows", "dataset_id", {"group_id": SALES}, search="PUSH")
    assert response["result"]["choices"] == [{"value": pushed, "label": "Pushed"}]
    by_id, _ = ask("create_rows", "dataset_id", {"group_id": SALES}, search=pushed[:8])
    assert by_id["result"]["choices"] == [{"value": pushed, "label": "Pushed"}]
    # Both answered from one listing: the text typed never went to the service.
    assert api(service)[-1:] == [("GET", f"/groups/{SALES}/datasets", "")]


def test_a_parent_not_given_yet_is_named_and_nothing_is_sent(ask, service):
    response, code = ask("create_rows", "table_name", {"group_id": SALES})
    assert code == 2
    assert response["error"]["type"] == "invalid_input"
    assert response["error"]["details"] == [
        {"field": "dataset_id", "message": "is needed to list the choices of table_name"}
    ]
    assert "Dataset ID (dataset_id)" in response["error"]["message"]
    assert api(service) == []


def test_the_tables_of_the_chosen_dataset_and_the_columns_of_the_chosen_table(ask, service):
    dataset = push_dataset(service)
    tables, _ = ask("create_rows", "table_name", {"group_id": SALES, "dataset_id": dataset})
    assert tables["result"]["choices"] == [{"value": "Sales", "label": "Sales"}]
    inputs = {"group_id": SALES, "dataset_id": dataset, "table_name": "Sales"}
    rows, code = ask("create_rows", "rows", inputs)
    assert code == 0
    schema = rows["result"]["schema"]
    assert schema["type"] == "array"
    assert list(schema["items"]["properties"]) == ["Product", "Qty", "SoldAt"]
    assert schema["items"]["properties"]["Qty"]["type"] == "integer"
    assert schema["items"]["properties"]["Product"]["type"] == "string"
    assert schema["items"]["properties"]["SoldAt"]["type"] == "string"
    assert schema["items"]["additionalProperties"] is False
    # The tables' answer was kept: the columns came without asking again.
    assert rows["meta"] == {**rows["meta"], "cached": True, "requests": 0}
    assert api(service).count(("GET", f"/groups/{SALES}/datasets/{dataset}/tables", "")) == 1


def test_a_table_the_dataset_does_not_have_is_named(ask, service):
    dataset = push_dataset(service)
    inputs = {"group_id": SALES, "dataset_id": dataset, "table_name": "Nope"}
    response, code = ask("create_rows", "rows", inputs)
    assert code == 2
    assert response["error"]["type"] == "invalid_input"
    assert response["error"]["details"][0]["field"] == "table_name"
    assert "table_name=Nope" in response["error"]["message"]


def test_an_answer_is_kept_briefly_for_the_same_connection_only(ask, service):
    first, _ = ask("list_reports", "group_id")
    again, _ = ask("list_reports", "group_id")
    assert again["result"] == first["result"]
    assert again["meta"]["cached"] is True
    assert again["meta"]["requests"] == 0
    assert "token" not in again
    other = app(service, token_leeway=30)  # the same account, other values: another connection
    third, _ = ask("list_reports", "group_id", connection=other)
    assert third["meta"]["cached"] is False
    fresh, _ = ask("list_reports", "group_id", refresh=True)  # a designer's "refresh"
    assert fresh["meta"]["cached"] is False
    assert api(service) == [("GET", "/groups", "")] * 3


def test_the_services_refusal_comes_back_as_the_calls_would(ask, service):
    # A service principal has no My workspace: without a workspace, Power BI refuses the list.
    response, code = ask("create_rows", "dataset_id", {})
    assert code == 1
    assert response["error"]["type"] == "http_error"
    assert response["error"]["status"] == 403
    wrong = app(service, client_secret="wrong-secret-choices-1")
    refused, code = ask("create_rows", "group_id", connection=wrong)
    assert code == 1
    assert refused["error"]["type"] == "auth_error"
    assert "wrong-secret-choices-1" not in json.dumps(refused)


def test_many_choices_come_a_page_at_a_time(tmp_path, ask, service):
    root = copy_pack(tmp_path / "pack")
    path = root / "connector.yaml"
    data = yaml.safe_load(path.read_text())
    data["inputs"]["group_id"]["choices"]["limit"] = 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    small = load_pack(root)
    first, _ = ask("create_rows", "group_id", pack_=small)
    assert first["result"]["choices"] == [{"value": SALES, "label": "Sales Analytics"}]
    more = first["result"]["continuation"]
    second, _ = ask("create_rows", "group_id", pack_=small, continuation=more)
    assert second["result"]["choices"] == [{"value": OPERATIONS, "label": "Operations"}]
    assert "continuation" not in second["result"]
    bad, code = ask("create_rows", "group_id", pack_=small, continuation="page 9")
    assert (code, bad["error"]["type"]) == (2, "invalid_request")
    assert bad["error"]["details"][0]["field"] == "choices.continuation"


@pytest.mark.parametrize(
    ("choices", "field", "kind"),
    [
        ({"action": "create_rows", "input": "job_id"}, "choices.input", "invalid_request"),
        ({"action": "create_rows", "input": "zebra"}, "choices.input", "invalid_request"),
        ({"action": "create_rowz", "input": "group_id"}, "action", "unknown_action"),
        ({"action": "create_rows"}, "choices.input", "invalid_request"),
        (
            {"action": "create_rows", "input": "group_id", "inputs": []},
            "choices.inputs",
            "invalid_request",
        ),
        (
            {"action": "create_rows", "input": "group_id", "page": 2},
            "choices.page",
            "invalid_request",
        ),
        (
            {"action": "create_rows", "input": "group_id", "search": 5},
            "choices.search",
            "invalid_request",
        ),
        (
            {"action": "create_rows", "input": "group_id", "inputs": {"group_id": 5}},
            "group_id",
            "invalid_input",
        ),
    ],
)
def test_a_wrong_choices_request_names_its_field_and_sends_nothing(
    pack, service, choices, field, kind
):
    request = {"id": 7, "choices": choices, "connection": app(service)}
    response, code = respond(pack, Runner(), json.dumps(request))
    assert_envelope(response)
    assert code == 2
    assert response["error"]["type"] == kind
    assert field in [d["field"] for d in response["error"]["details"]]
    assert api(service) == []


def test_choices_go_with_nothing_but_an_id_and_a_connection(pack, service):
    request = {
        "choices": {"action": "create_rows", "input": "group_id"},
        "action": "create_rows",
        "inputs": {},
    }
    response, code = respond(pack, Runner(), json.dumps(request))
    assert code == 2
    assert [d["field"] for d in response["error"]["details"]] == ["action", "inputs"]
    assert list(REQUESTS.iter_errors(request))


def test_describe_publishes_the_choices_and_what_they_depend_on(pack):
    catalog = describe(pack)
    entry = next(a for a in catalog["actions"] if a["key"] == "create_rows")
    props = entry["inputs"]["properties"]
    assert props["group_id"]["x-choices"]["action"] == "list_groups"
    assert props["group_id"]["x-choices"]["search"] is True
    assert props["group_id"]["x-choices"]["depends_on"] == []
    assert props["dataset_id"]["x-choices"]["depends_on"] == ["group_id"]
    assert props["table_name"]["x-choices"]["depends_on"] == ["dataset_id", "group_id"]
    assert props["table_name"]["x-choices"]["search"] is False
    assert props["rows"]["x-dynamic-schema"]["depends_on"] == [
        "dataset_id",
        "group_id",
        "table_name",
    ]


# The inputs of the Power BI pack that name a thing the service lists, and what lists it.
LISTED = {
    "group_id": "list_groups",
    "dataset_id": "list_datasets",
    "table_name": "list_tables",
    "report_id": "list_reports",
    "page_name": "list_pages",
    "dashboard_id": "list_dashboards",
    "tile_id": "list_dashboard_tiles",
    "dataflow_id": "list_dataflows",
    "app_id": "list_apps",
    "capacity_id": "list_capacities",
    "gateway_id": "list_gateways",
    "datasource_id": "list_gateway_datasources_gateways",
    "pipeline_id": "list_pipelines",
    "import_id": "list_imports",
    "scorecard_id": "list_scorecards",
    "goal_id": "list_goals",
    "profile_id": "list_profiles",
    "workspace_id": "list_groups",
    "target_workspace_id": "list_groups",
    "target_model_id": "list_datasets",
    "target_report_id": "list_reports",
    "target_dashboard_id": "list_dashboards",
    "gateway_object_id": "list_gateways",
    "dataflow_storage_id": "list_dataflow_storage_accounts",
    "workload_name": "list_workloads",
    "refreshable_id": "list_refreshables_for_capacity",
    "refresh_id": "get_dataset_refresh_history",
}


def test_every_input_of_the_power_bi_pack_that_names_a_listed_thing_has_choices(pack):
    found = {}
    for action in pack.actions.values():
        for item in action.inputs:
            if item.key in LISTED:
                found.setdefault(item.key, set()).add(
                    (item.choices or {}).get("action") if item.choices else None
                )
    assert found.keys() == LISTED.keys()
    for key, sources in found.items():
        # Every input of the name, in the path, the query or the body, has choices (an admin
        # action's from the admin listing).
        assert None not in sources, key
        assert LISTED[key] in sources, key


def run(args, stdin):
    done = subprocess.run(
        [str(COMMAND), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def test_the_choices_request_through_invoke(service):
    request = {
        "id": "pick-1",
        "choices": {"action": "create_rows", "input": "dataset_id", "inputs": {"group_id": SALES}},
        "connection": app(service),
    }
    done = run(["invoke"], json.dumps(request))
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    response = json.loads(line)
    assert_envelope(response)
    assert response["id"] == "pick-1"
    assert response["result"]["choices"] == [
        {"value": SEED_IDS["sales_dataset"], "label": "Sales Pipeline"}
    ]
    assert service.client_secret not in done.stdout + done.stderr
    missing = {**request, "choices": {"action": "create_rows", "input": "table_name"}}
    refused = run(["invoke"], json.dumps(missing))
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"]["details"][0]["field"] == "dataset_id"


def test_choices_and_calls_interleaved_through_serve_keep_their_order(service):
    dataset = push_dataset(service)
    connection = app(service)
    lines = [
        {
            "id": 1,
            "choices": {"action": "create_rows", "input": "group_id"},
            "connection": connection,
        },
        {
            "id": 2,
            "choices": {
                "action": "create_rows",
                "input": "table_name",
                "inputs": {"group_id": SALES, "dataset_id": dataset},
            },
            "connection": connection,
        },
        {
            "id": 3,
            "action": "create_rows",
            "inputs": {
                "group_id": SALES,
                "dataset_id": dataset,
                "table_name": "Sales",
                "rows": [{"Product": "A", "Qty": 1, "SoldAt": "2026-01-01"}],
            },
            "connection": connection,
        },
        {
            "id": 4,
            "choices": {
                "action": "create_rows",
                "input": "rows",
                "inputs": {"group_id": SALES, "dataset_id": dataset, "table_name": "Sales"},
            },
            "connection": connection,
        },
        {"id": 5, "choices": {"action": "create_rows", "input": "top"}, "connection": connection},
    ]
    done = run(["serve"], "\n".join(json.dumps(x) for x in lines) + "\n")
    assert done.returncode == 0, done.stderr
    responses = [json.loads(line) for line in done.stdout.splitlines()]
    for response in responses:
        assert_envelope(response)
    assert [r["id"] for r in responses] == [1, 2, 3, 4, 5]
    assert [r["ok"] for r in responses] == [True, True, True, True, False]
    assert responses[0]["result"]["choices"][0]["label"] == "Sales Analytics"
    assert responses[1]["result"]["choices"] == [{"value": "Sales", "label": "Sales"}]
    assert responses[2]["result"]["rows"] == 1
    assert list(responses[3]["result"]["schema"]["items"]["properties"]) == [
        "Product",
        "Qty",
        "SoldAt",
    ]
    assert responses[4]["error"]["details"] == [
        {"field": "choices.input", "message": "is not an input of create_rows"}
    ]


def test_serve_keeps_an_answer_for_the_next_line_over_the_same_connection(service):
    line = {"choices": {"action": "create_rows", "input": "group_id"}, "connection": app(service)}
    done = run(["serve", "--concurrency", "1"], f"{json.dumps(line)}\n{json.dumps(line)}\n")
    first, second = (json.loads(text) for text in done.stdout.splitlines())
    assert second["result"] == first["result"]
    assert (first["meta"]["cached"], second["meta"]["cached"]) == (False, True)
    assert second["meta"]["requests"] == 0
    assert api(service) == [("GET", "/groups", "")]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda c: c["inputs"]["dataset_id"]["choices"].update(action="list_datasetz"),
            "inputs.dataset_id.choices.action",
            "'list_datasetz' is not an action of this pack",
        ),
        (
            lambda c: c["inputs"]["dataset_id"]["choices"].update(inputs={"group": "{group_id}"}),
            "inputs.dataset_id.choices.inputs.group",
            "'list_datasets' has no input 'group'",
        ),
        (
            lambda c: c["inputs"]["group_id"]["choices"]["search"].update(value="name eq 'x'"),
            "inputs.group_id.choices.search.value",
            "the template never uses {search}, the text typed",
        ),
        (
            lambda c: c["inputs"]["group_id"]["choices"].pop("value"),
            "inputs.group_id.choices",
            "missing required key 'value'",
        ),
    ],
)
def test_a_wrong_choices_block_is_refused_where_it_is(tmp_path, change, path, message):
    root = copy_pack(tmp_path / "pack")
    connector = root / "connector.yaml"
    data = yaml.safe_load(connector.read_text())
    change(data)
    connector.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = validate_pack(root)
    assert [(p.file, p.path) for p in problems] == [("connector.yaml", path)]
    assert message in problems[0].message


def test_a_template_of_an_actions_own_choices_names_its_inputs(tmp_path):
    root = copy_pack(tmp_path / "pack")
    path = root / "actions" / "list_pages.yaml"
    data = yaml.safe_load(path.read_text())
    [report] = [i for i in data["inputs"] if i.get("use") == "report_id"]
    report["choices"] = {
        "action": "list_reports",
        "inputs": {"group_id": "{workspace}"},
        "value": "id",
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = validate_pack(root)
    assert [(p.file, p.path, p.message) for p in problems] == [
        (
            "actions/list_pages.yaml",
            "inputs[0].choices.inputs",
            "'{workspace}' names no input of this action",
        )
    ]


def test_a_plain_call_loads_nothing_of_choices(service):
    # The module that answers choices, and the one that reads their blocks, stay unloaded.
    script = (
        "import json, sys\n"
        "from connectorkit import invoke\n"
        f"request = {{'action': 'list_groups', 'connection': {json.dumps(app(service))}}}\n"
        "assert invoke(request)['ok']\n"
        "print(sorted(m for m in sys.modules if m.endswith('._choices')))\n"
    )
    for _ in range(2):  # the first checks the pack and fills its cache, as a first call does
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("action", "name", "inputs", "lister", "lister_inputs"),
    [
        ("assign_my_workspace_to_capacity", "capacity_id", {}, "list_capacities", {}),
        ("assign_workspace", "workspace_id", {}, "list_groups", {}),
        ("clone_report", "target_workspace_id", {}, "list_groups", {}),
        ("clone_report", "target_model_id", {"target_workspace_id": SALES}, "list_datasets",
         {"group_id": SALES}),
        ("delete_user", "profile_id", {}, "list_profiles", {}),
        ("generate_report_token", "dataset_id", {"group_id": SALES}, "list_datasets",
         {"group_id": SALES}),
    ],
)  # fmt: skip
def test_the_choices_of_inputs_named_after_listed_things_through_invoke(
    service, action, name, inputs, lister, lister_inputs
):
    """What the choices request answers is what the listing action gives, value and label."""
    listed = run(
        ["invoke"],
        json.dumps(
            {"id": "l", "action": lister, "inputs": lister_inputs, "connection": app(service)}
        ),
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    items = json.loads(listed.stdout.splitlines()[0])["result"]["value"]
    request = {
        "id": "pick",
        "choices": {"action": action, "input": name, "inputs": inputs},
        "connection": app(service),
    }
    done = run(["invoke"], json.dumps(request))
    assert done.returncode == 0, done.stdout + done.stderr
    choices = json.loads(done.stdout.splitlines()[0])["result"]["choices"]
    assert choices
    assert [c["value"] for c in choices] == [item["id"] for item in items]
