"""The emulator's Power BI REST API routes, in My workspace and in workspaces, over real HTTP."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import threading

import httpx
import pytest

import powerbi_emulator
from powerbi_emulator import SEED_IDS, EmulatorConfig, create_app, running

SALES = SEED_IDS["sales_analytics"]
OPERATIONS = SEED_IDS["operations"]
TABLE = {
    "name": "Sales",
    "columns": [
        {"name": "Product", "dataType": "String"},
        {"name": "Qty", "dataType": "Int64"},
        {"name": "When", "dataType": "DateTime"},
    ],
}


@pytest.fixture(scope="module")
def emu():
    with running(seed=42) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh(emu):
    emu.reset()


class Caller:
    """A Power BI client with one token: `user` (delegated) or `app` (service principal)."""

    def __init__(self, emu, principal):
        self.emu = emu
        self.token = emu.issue_token(principal=principal)["access_token"]
        self.http = httpx.Client(
            base_url=emu.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def __getattr__(self, name):
        return getattr(self.http, name)

    def prefix(self, group):
        return f"/groups/{group}" if group else ""

    def create_dataset(self, group=None, name="Retail", tables=(TABLE,), policy=None):
        params = {"defaultRetentionPolicy": policy} if policy else {}
        body = {"name": name, "tables": list(tables)}
        response = self.http.post(f"{self.prefix(group)}/datasets", json=body, params=params)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def user(emu):
    caller = Caller(emu, "user")
    yield caller
    caller.http.close()


@pytest.fixture
def app(emu):
    caller = Caller(emu, "app")
    yield caller
    caller.http.close()


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


# -- groups -----------------------------------------------------------------------------------


def test_list_groups_returns_the_seed_workspaces(app):
    body = app.get("/groups").json()
    assert body["@odata.context"].endswith("/v1.0/myorg/$metadata#groups")
    assert body["@odata.count"] == 2
    assert [(g["id"], g["name"]) for g in body["value"]] == [
        (SALES, "Sales Analytics"),
        (OPERATIONS, "Operations"),
    ]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"$top": "1"}, ["Sales Analytics"]),
        ({"$skip": "1"}, ["Operations"]),
        ({"$skip": "1", "$top": "5"}, ["Operations"]),
        ({"$top": "0"}, []),
        ({"$filter": "name eq 'Sales Analytics'"}, ["Sales Analytics"]),
        ({"$filter": "name eq 'sales analytics'"}, ["Sales Analytics"]),
        (
            {"$filter": "contains(name,'sales') or name eq 'Operations'"},
            ["Sales Analytics", "Operations"],
        ),
        ({"$filter": "startswith(name, 'Op') and not isReadOnly"}, ["Operations"]),
        ({"$filter": "name ne 'Operations'"}, ["Sales Analytics"]),
        ({"$filter": "name eq 'O''Brien'"}, []),
    ],
)
def test_list_groups_odata_options(app, params, names):
    body = app.get("/groups", params=params).json()
    assert [g["name"] for g in body["value"]] == names


@pytest.mark.parametrize(
    "params",
    [
        {"$top": "-1"},
        {"$skip": "x"},
        {"$filter": "name eq"},
        {"$filter": "name ~ 'x'"},
        {"$filter": "contains(name)"},
        {"$filter": "(name eq 'x'"},
    ],
)
def test_list_groups_rejects_bad_odata(app, params):
    assert error_of(app.get("/groups", params=params), 400)["code"] == "InvalidRequest"


def test_groups_has_no_workspace_variant(app):
    assert app.get(f"/groups/{SALES}/groups").status_code == 404


# -- datasets ---------------------------------------------------------------------------------


def test_my_workspace_and_workspaces_hold_separate_datasets(user, app):
    mine = user.create_dataset(name="Mine")
    theirs = app.create_dataset(SALES, name="Theirs")

    my_names = [d["name"] for d in user.get("/datasets").json()["value"]]
    sales_names = [d["name"] for d in app.get(f"/groups/{SALES}/datasets").json()["value"]]
    assert my_names == ["Retail Analysis Sample", "Mine"]
    assert sales_names == ["Sales Pipeline", "Theirs"]
    assert app.get(f"/groups/{OPERATIONS}/datasets").json()["value"] == []

    assert user.get(f"/datasets/{mine['id']}").json()["name"] == "Mine"
    assert error_of(user.get(f"/datasets/{theirs['id']}"), 404)["code"] == "ItemNotFound"
    assert app.get(f"/groups/{OPERATIONS}/datasets/{theirs['id']}").status_code == 404


def test_create_dataset_response(user):
    created = user.create_dataset(policy="basicFIFO")
    assert created["@odata.context"].endswith("/v1.0/myorg/$metadata#datasets/$entity")
    assert created["name"] == "Retail"
    assert created["addRowsAPIEnabled"] is True
    assert created["defaultRetentionPolicy"] == "basicFIFO"
    assert created["configuredBy"] == "emulator.user@contoso.com"


def test_service_principal_is_named_as_configured_by(app):
    assert app.create_dataset(SALES)["configuredBy"] == "connectorkit demo"


def test_seeded_ids_are_reproducible():
    with running(seed=7) as first, running(seed=7) as second:
        ids = []
        for handle in (first, second):
            token = handle.issue_token()["access_token"]
            response = httpx.post(
                f"{handle.base_url}/datasets",
                json={"name": "X", "tables": [TABLE]},
                headers={"Authorization": f"Bearer {token}"},
            )
            ids.append(response.json()["id"])
        assert ids[0] == ids[1]


@pytest.mark.parametrize("policy", ["fifo", "none-ish"])
def test_create_dataset_rejects_unknown_retention_policy(user, policy):
    response = user.post(
        "/datasets",
        json={"name": "X", "tables": [TABLE]},
        params={"defaultRetentionPolicy": policy},
    )
    assert "defaultRetentionPolicy" in error_of(response, 400)["message"]


def test_create_dataset_accepts_microsoft_spellings_of_data_types(user):
    columns = [
        {"name": n, "dataType": t}
        for n, t in [("a", "string"), ("b", "bool"), ("c", "Datetime"), ("d", "int64")]
    ]
    created = user.create_dataset(tables=[{"name": "T", "columns": columns}])
    tables = user.get(f"/datasets/{created['id']}/tables").json()["value"]
    assert [c["dataType"] for c in tables[0]["columns"]] == [
        "String",
        "Boolean",
        "DateTime",
        "Int64",
    ]


def test_create_dataset_requires_json(user):
    response = user.post("/datasets", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert error_of(response, 415)["code"] == "UnsupportedMediaType"
    broken = user.post("/datasets", content=b"{", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in error_of(broken, 400)["message"]


def test_delete_dataset_removes_it_and_its_reports(user):
    dataset_id = SEED_IDS["my_dataset"]
    assert user.delete(f"/datasets/{dataset_id}").status_code == 200
    assert user.get(f"/datasets/{dataset_id}").status_code == 404
    assert user.get("/reports").json()["value"] == []


def test_list_datasets_ignores_odata_options_the_service_does_not_take(user):
    # Datasets_GetDatasets declares no $top or $skip: the whole list comes back.
    for name in ("A", "B", "C"):
        user.create_dataset(name=name)
    page = user.get("/datasets", params={"$skip": "1", "$top": "2"}).json()["value"]
    assert [d["name"] for d in page] == ["Retail Analysis Sample", "A", "B", "C"]


def test_list_groups_takes_top_and_skip(user):
    page = user.get("/groups", params={"$skip": "1", "$top": "1"}).json()["value"]
    assert [g["name"] for g in page] == ["Operations"]


# -- tables and rows --------------------------------------------------------------------------


@pytest.mark.parametrize("group", [None, SALES])
def test_table_and_rows_lifecycle(emu, user, app, group):
    caller = app if group else user
    prefix = caller.prefix(group)
    dataset_id = caller.create_dataset(group)["id"]
    base = f"{prefix}/datasets/{dataset_id}/tables"

    tables = caller.get(base).json()
    assert tables["@odata.context"].endswith("$metadata#tables")
    assert tables["value"] == [TABLE]

    rows = [{"Product": "A", "Qty": 3, "When": "2024-05-01T10:00:00Z"}, {"Product": "B"}]
    posted = caller.post(f"{base}/Sales/rows", json={"rows": rows})
    assert posted.status_code == 200
    assert posted.content == b""
    assert emu.rows(dataset_id, "Sales") == rows

    assert caller.delete(f"{base}/Sales/rows").status_code == 200
    assert emu.rows(dataset_id, "Sales") == []


def test_table_names_compare_without_case(emu, user):
    dataset_id = user.create_dataset()["id"]
    posted = user.post(f"/datasets/{dataset_id}/tables/sales/rows", json={"rows": [{"qty": 1}]})
    assert posted.status_code == 200, posted.text
    assert emu.rows(dataset_id, "Sales") == [{"Qty": 1}]


def test_put_table_replaces_the_schema_and_keeps_surviving_values(emu, user):
    dataset_id = user.create_dataset()["id"]
    base = f"/datasets/{dataset_id}/tables/Sales"
    user.post(f"{base}/rows", json={"rows": [{"Product": "A", "Qty": 1}]})
    update = {
        "name": "Sales",
        "columns": [
            {"name": "Product", "dataType": "String"},
            {"name": "Region", "dataType": "String"},
        ],
    }
    response = user.put(base, json=update)
    assert response.status_code == 200, response.text
    assert response.json() == update
    assert emu.rows(dataset_id, "Sales") == [{"Product": "A"}]
    rejected = user.post(f"{base}/rows", json={"rows": [{"Qty": 2}]})
    assert "'Qty' does not exist" in error_of(rejected, 400)["message"]


def test_put_table_name_must_match_and_table_must_exist(user):
    dataset_id = user.create_dataset()["id"]
    other = {**TABLE, "name": "Other"}
    mismatch = user.put(f"/datasets/{dataset_id}/tables/Sales", json=other)
    assert error_of(mismatch, 400)["code"] == "InvalidRequest"
    missing = user.put(f"/datasets/{dataset_id}/tables/Other", json=other)
    assert error_of(missing, 404)["code"] == "ItemNotFound"


def test_a_percent_encoded_slash_stays_inside_one_path_segment(emu, user):
    table_b = {"name": "b", "columns": [{"name": "x", "dataType": "Int64"}]}
    dataset_id = user.create_dataset(tables=[table_b])["id"]
    # A router that decodes before splitting, or normalises dot segments, would land on "b".
    url = f"{emu.base_url}/datasets/{dataset_id}/tables/a%2F..%2Fb/rows"
    response = user.post(url, json={"rows": [{"x": 1}]})
    assert "Table 'a/../b' does not exist" in error_of(response, 404)["message"]
    assert emu.rows(dataset_id, "b") == []
    assert emu.requests(kind="api")[-1]["path"].endswith("/tables/a%2F..%2Fb/rows")


def test_table_names_with_spaces_travel_percent_encoded(emu, user):
    table = {"name": "Q1 Sales", "columns": [{"name": "x", "dataType": "Int64"}]}
    dataset_id = user.create_dataset(tables=[table])["id"]
    response = user.post(
        f"/datasets/{dataset_id}/tables/Q1%20Sales/rows", json={"rows": [{"x": 1}]}
    )
    assert response.status_code == 200, response.text
    assert emu.rows(dataset_id, "Q1 Sales") == [{"x": 1}]


def test_push_routes_refuse_imported_datasets(user):
    dataset_id = SEED_IDS["my_dataset"]
    assert (
        "not a Push API dataset"
        in error_of(user.get(f"/datasets/{dataset_id}/tables"), 400)["message"]
    )
    assert user.post(f"/datasets/{dataset_id}/tables/T/rows", json={"rows": []}).status_code == 400


def test_unknown_dataset_and_table(user):
    assert error_of(user.get("/datasets/nope/tables"), 404)["code"] == "ItemNotFound"
    dataset_id = user.create_dataset()["id"]
    missing = user.delete(f"/datasets/{dataset_id}/tables/Nope/rows")
    assert "Table 'Nope'" in error_of(missing, 404)["message"]


def test_streaming_dataset_accepts_rows_but_keeps_none(emu, user):
    response = user.post(
        "/datasets", json={"name": "S", "defaultMode": "Streaming", "tables": [TABLE]}
    )
    dataset_id = response.json()["id"]
    assert (
        user.post(
            f"/datasets/{dataset_id}/tables/Sales/rows", json={"rows": [{"Qty": 1}]}
        ).status_code
        == 200
    )
    assert emu.rows(dataset_id, "Sales") == []


# -- reports and imports ----------------------------------------------------------------------


def test_list_reports_in_my_workspace_and_in_a_workspace(user, app):
    mine = user.get("/reports").json()
    assert [(r["name"], r["datasetId"]) for r in mine["value"]] == [
        ("Retail Analysis Sample", SEED_IDS["my_dataset"])
    ]
    sales = app.get(f"/groups/{SALES}/reports").json()["value"]
    assert [r["id"] for r in sales] == [SEED_IDS["sales_report"]]
    assert app.get(f"/groups/{OPERATIONS}/reports").json()["value"] == []


@pytest.mark.parametrize("group", [None, SALES])
def test_import_a_file_by_multipart_upload(user, app, group):
    caller = app if group else user
    prefix = caller.prefix(group)
    response = caller.post(
        f"{prefix}/imports",
        params={"datasetDisplayName": "Quarterly.pbix", "nameConflict": "Ignore"},
        files={
            "file": ("Quarterly.pbix", b"PK\x03\x04\x00\xff binary", "application/octet-stream")
        },
    )
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    assert set(response.json()) == {"id"}

    listed = caller.get(f"{prefix}/imports").json()["value"]
    assert [(i["id"], i["importState"]) for i in listed] == [(import_id, "Publishing")]
    caller.emu.advance_clock(10)  # an import publishes for 10 emulated seconds
    record = caller.get(f"{prefix}/imports/{import_id}").json()
    assert record["importState"] == "Succeeded"
    assert record["name"] == "Quarterly"
    assert record["source"] == "Upload"
    [dataset] = record["datasets"]
    [report] = record["reports"]
    assert dataset["name"] == report["name"] == "Quarterly"
    names = [d["name"] for d in caller.get(f"{prefix}/datasets").json()["value"]]
    assert "Quarterly" in names
    assert report["id"] in [r["id"] for r in caller.get(f"{prefix}/reports").json()["value"]]


def test_import_name_conflicts(user):
    def upload(conflict):
        response = user.post(
            "/imports",
            params={"datasetDisplayName": "Retail Analysis Sample.pbix", "nameConflict": conflict},
            files={"file": ("r.pbix", b"PK\x03\x04", "application/octet-stream")},
        )
        user.emu.advance_clock(10)
        return response

    assert error_of(upload("Abort"), 409)["code"] == "DuplicatePackageNameError"
    assert upload("Overwrite").status_code == 202
    assert len(user.get("/datasets").json()["value"]) == 1  # overwritten in place
    assert upload("GenerateUniqueName").status_code == 202
    names = [d["name"] for d in user.get("/datasets").json()["value"]]
    assert names == ["Retail Analysis Sample", "Retail Analysis Sample (1)"]
    assert error_of(upload("Sideways"), 400)["code"] == "InvalidRequest"


def test_import_by_import_info_and_import_errors(user):
    location = user.post("/imports/createTemporaryUploadLocation").json()["Url"]
    uploaded = httpx.put(
        location, content=b"PK\x03\x04 big", headers={"x-ms-blob-type": "BlockBlob"}
    )
    assert uploaded.status_code == 201
    info = user.post(
        "/imports", params={"datasetDisplayName": "Big.pbix"}, json={"fileUrl": location}
    )
    assert info.status_code == 202, info.text
    elsewhere = user.post(
        "/imports",
        params={"datasetDisplayName": "Big.pbix"},
        json={"fileUrl": "https://blob.example/upload?sig=x"},
    )
    assert "fileUrl" in error_of(elsewhere, 400)["message"]
    missing_name = user.post("/imports", json={"fileUrl": "https://x"})
    assert "datasetDisplayName" in error_of(missing_name, 400)["message"]
    no_location = user.post("/imports", params={"datasetDisplayName": "a.pbix"}, json={})
    assert error_of(no_location, 400)["code"] == "InvalidRequest"
    wrong_type = user.post("/imports", params={"datasetDisplayName": "a.pbix"}, content=b"x")
    assert wrong_type.status_code == 415
    assert error_of(user.get("/imports/nope"), 404)["code"] == "ItemNotFound"


def test_paginated_report_import_creates_no_dataset(user):
    response = user.post(
        "/imports",
        params={"datasetDisplayName": "Invoice.rdl"},
        files={"file": ("Invoice.rdl", b"<Report/>", "application/xml")},
    )
    user.emu.advance_clock(10)
    record = user.get(f"/imports/{response.json()['id']}").json()
    assert record["datasets"] == []
    reports = {r["name"]: r for r in user.get("/reports").json()["value"]}
    assert reports["Invoice"]["reportType"] == "PaginatedReport"
    assert "datasetId" not in reports["Invoice"]


# -- authentication and authorization ---------------------------------------------------------


def test_missing_and_unknown_bearer_tokens_get_401(emu):
    missing = httpx.get(f"{emu.base_url}/datasets")
    assert error_of(missing, 401)["code"] == "Unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer authorization_uri=")
    unknown = httpx.get(f"{emu.base_url}/datasets", headers={"Authorization": "Bearer nope"})
    assert error_of(unknown, 401)["code"] == "Unauthorized"
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    basic = httpx.get(f"{emu.base_url}/datasets", auth=("a", "b"))
    assert basic.status_code == 401


def test_a_token_for_another_resource_gets_401(emu):
    graph = emu.issue_token(principal="app", scope="https://graph.microsoft.com/.default")
    headers = {"Authorization": f"Bearer {graph['access_token']}"}
    response = httpx.get(f"{emu.base_url}/groups", headers=headers)
    assert "not issued for the Power BI service" in error_of(response, 401)["message"]


def test_expired_token_gets_403_token_expired(emu, user):
    assert user.get("/datasets").status_code == 200
    emu.expire_tokens(user.token)
    body = error_of(user.get("/datasets"), 403)
    assert body == {
        "code": "TokenExpired",
        "message": "Access token has expired, resubmit with a new access token",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datasets"),
        ("POST", "/datasets"),
        ("GET", "/reports"),
        ("GET", "/imports"),
        ("GET", f"/datasets/{SEED_IDS['my_dataset']}/tables"),
    ],
)
def test_service_principals_cannot_use_my_workspace(app, method, path):
    response = app.request(method, path, json={"name": "x", "tables": [TABLE]})
    error = error_of(response, 403)
    assert error["code"] == "PowerBINotAuthorizedException"
    assert "service principals cannot use My workspace" in error["message"]


def test_ids_in_paths_compare_without_case(user):
    dataset_id = user.create_dataset(SALES)["id"]
    response = user.get(f"/groups/{SALES.upper()}/datasets/{dataset_id.upper()}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == dataset_id


def test_users_can_use_workspaces_too(user):
    assert user.get(f"/groups/{SALES}/datasets").status_code == 200


def test_unknown_workspace_route_and_method(app):
    unknown = app.get("/groups/00000000-0000-4000-8000-000000000000/datasets")
    assert error_of(unknown, 404)["code"] == "ItemNotFound"
    assert error_of(app.get(f"/groups/{SALES}/nonsense"), 404)["code"] == "NotFound"
    wrong = app.patch(f"/groups/{SALES}/datasets")
    assert error_of(wrong, 405)["code"] == "MethodNotAllowed"
    assert wrong.headers["allow"] == "GET, POST"


def test_every_api_response_carries_a_request_id(user):
    assert user.get("/datasets").headers["requestid"]
    assert user.get("/nope").headers["requestid"]


def test_request_log_records_method_path_query_and_json(emu, app):
    app.create_dataset(SALES, policy="basicFIFO")
    [entry] = emu.requests(kind="api")
    assert entry["method"] == "POST"
    assert entry["path"] == f"/v1.0/myorg/groups/{SALES}/datasets"
    assert entry["query"] == {"defaultRetentionPolicy": "basicFIFO"}
    assert entry["json"]["name"] == "Retail"
    assert entry["status"] == 201
    assert entry["principal"] == "app"
    assert emu.requests(since=entry["seq"]) == []


def test_request_log_keeps_large_bodies_by_size_and_row_count(emu, user):
    dataset_id = user.create_dataset()["id"]
    rows = [{"Product": "x" * 20, "Qty": i} for i in range(5000)]
    user.post(f"/datasets/{dataset_id}/tables/Sales/rows", json={"rows": rows})
    entry = emu.requests(kind="api")[-1]
    assert entry["rows"] == 5000
    assert "json" not in entry
    assert entry["body_bytes"] > 64 * 1024


def test_state_counts_what_is_stored(emu, user):
    dataset_id = user.create_dataset()["id"]
    user.post(f"/datasets/{dataset_id}/tables/Sales/rows", json={"rows": [{"Qty": 1}] * 3})
    state = emu.state()
    [dataset] = [d for d in state["datasets"] if d["id"] == dataset_id]
    assert dataset["tables"] == [{"name": "Sales", "columns": 3, "rows": 3}]
    assert dataset["throttle"]["posts_last_minute"] == 1
    assert state["rows"] == 3
    assert state["reports"] == 2


# -- in-process and packaging -----------------------------------------------------------------


def test_create_app_serves_in_process_on_successive_event_loops():
    app = create_app(EmulatorConfig(latency_ms=1))
    form = {
        "grant_type": "client_credentials",
        "client_id": "connectorkit-demo",
        "client_secret": "demo-secret",
        "scope": "https://analysis.windows.net/powerbi/api/.default",
    }

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            token = await client.post("/emulator/oauth2/v2.0/token", data=form)
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            return await client.get("/v1.0/myorg/groups", headers=headers)

    for _ in range(2):
        response = asyncio.run(scenario())
        assert response.status_code == 200
        assert response.json()["@odata.context"] == "http://emulator/v1.0/myorg/$metadata#groups"


def test_running_stops_its_thread_and_socket():
    before = set(threading.enumerate())
    with running() as handle:
        url = handle.url
        [started] = set(threading.enumerate()) - before
        assert started.name == "connectorkit-emulator"
    assert not started.is_alive()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_emulator/state")


def test_every_module_declares_a_complete_all():
    package = powerbi_emulator
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        declared = set(module.__all__)
        assert all(hasattr(module, name) for name in declared), info.name
        defined = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
            and (inspect.isclass(value) or inspect.isfunction(value))
        }
        assert defined <= declared, (info.name, defined - declared)
    # "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of a distribution with a plugin.
    public = {n for n in vars(package) if not n.startswith(("_", "@"))} - {
        info.name for info in pkgutil.iter_modules(package.__path__)
    }
    assert set(package.__all__) == public - {"annotations"}


def test_importing_the_emulator_loads_no_server():
    code = (
        "import json, sys, powerbi_emulator; "
        "print(json.dumps([m for m in ('uvicorn', 'starlette') if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []
