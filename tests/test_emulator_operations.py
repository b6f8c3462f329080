"""Every operation of Microsoft's swagger answers, with a body valid against its schema.

The walk sends each of the 286 operations to a running emulator (state reset before each) and
checks the status is a documented success and the body validates, with no property the schema
does not declare. Then the stateful tasks a pack runs end to end, and URL normalisation.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from powerbi_emulator import SEED_IDS, running
from powerbi_emulator._flows._pipelines import SEED_PIPELINE
from powerbi_emulator._operations import SchemaExample, operation_table
from powerbi_emulator._swagger import SWAGGER_URI, load_swagger

SALES = SEED_IDS["sales_analytics"]
PIPELINE = SEED_PIPELINE
YESTERDAY = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
TABLE = {
    "name": "Sales",
    "columns": [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}],
}
PBIX = {"file": ("Report.pbix", b"PK\x03\x04 fake pbix", "application/octet-stream")}
PUSH_OPERATIONS = {"Datasets_GetTables", "Datasets_PutTable", "Datasets_PostRows",
                   "Datasets_DeleteRows"}  # fmt: skip
TABLE_ = operation_table()
# What the service sends that its swagger does not declare (the emulator sends it too).
REAL_SERVICE_EXTRAS = frozenset({
    "isRefreshable", "isEffectiveIdentityRequired", "isEffectiveIdentityRolesRequired",
    "isOnPremGatewayRequired", "createdDate", "createReportEmbedURL", "qnaEmbedURL",
    "upstreamDatasets", "defaultRetentionPolicy", "isFromPbix", "datasetWorkspaceId", "type",
    "connectionType", "source", "id", "lastResultSet",
})  # fmt: skip
ALL_IDS = sorted(TABLE_.by_id)


def format_checker():
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value):
        return not isinstance(value, str) or bool(dt.datetime.fromisoformat(value))

    return checker


def undeclared(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Properties in `value` that `schema` (allOf merged, $ref followed) does not declare."""
    schema = TABLE_.resolve(schema)
    if isinstance(value, list):
        items = schema.get("items", {})
        return [p for i, v in enumerate(value) for p in undeclared(v, items, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    properties: dict[str, Any] = {key: {} for key in schema.get("required", [])}
    for part in [schema, *schema.get("allOf", [])]:
        properties |= TABLE_.resolve(part).get("properties", {})
        for inner in TABLE_.resolve(part).get("allOf", []):
            properties |= TABLE_.resolve(inner).get("properties", {})
    if not properties or schema.get("additionalProperties"):
        return []
    found = []
    for key, item in value.items():
        if key not in properties:
            if key not in REAL_SERVICE_EXTRAS:
                found.append(f"{path}.{key}")
        else:
            found += undeclared(item, properties[key], f"{path}.{key}")
    return found


@pytest.fixture(scope="module")
def emu():
    with running(time_scale=1000) as handle:
        yield handle


@pytest.fixture(scope="module")
def registry():
    swagger = load_swagger()
    return Registry().with_resource(SWAGGER_URI, Resource(contents=swagger, specification=DRAFT4))


@pytest.fixture(scope="module")
def http(emu):
    token = emu.issue_token(lifetime=10**9)["access_token"]  # the clock runs 1000x
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {token}"}, timeout=20
    ) as client:
        yield client


def values_for(emu, http, operation) -> dict[str, str]:
    group = "{groupId}" in operation.template and not operation.template.startswith(
        "/v1.0/myorg/admin"
    )
    prefix = f"/v1.0/myorg/groups/{SALES}" if group else "/v1.0/myorg"
    values = {
        "groupId": SALES,
        "datasetId": SEED_IDS["sales_dataset" if group else "my_dataset"],
        "reportId": SEED_IDS["sales_report" if group else "my_report"],
        "dashboardId": SEED_IDS["sales_dashboard" if group else "my_dashboard"],
        "tileId": SEED_IDS["sales_tile" if group else "my_tile"],
        "tableName": "Sales",
        "user": "emulator.user@contoso.com",
        "pipelineId": PIPELINE,
        "stageOrder": "0",
        "identifier": "emulator.user@contoso.com",
    }
    base = operation.id.removesuffix("InGroup")
    if base in PUSH_OPERATIONS:
        pushed = http.post(f"{prefix}/datasets", json={"name": "Push", "tables": [TABLE]})
        values["datasetId"] = pushed.json()["id"]
    if "{importId}" in operation.template:
        imported = http.post(
            f"{prefix}/imports", params={"datasetDisplayName": "Seed.pbix"}, files=PBIX
        )
        values["importId"] = imported.json()["id"]
    if "{exportId}" in operation.template:
        started = http.post(
            f"{prefix}/reports/{values['reportId']}/ExportTo", json={"format": "PDF"}
        )
        values["exportId"] = started.json()["id"]
    if "{refreshId}" in operation.template:
        started = http.post(f"{prefix}/datasets/{values['datasetId']}/refreshes", json={})
        values["refreshId"] = started.headers["requestid"]
    if "{scanId}" in operation.template:
        started = http.post("/v1.0/myorg/admin/workspaces/getInfo", json={"workspaces": [SALES]})
        values["scanId"] = started.json()["id"]
    if "{operationId}" in operation.template:
        options = {"allowCreateArtifact": True, "allowOverwriteArtifact": True}
        started = http.post(
            f"/v1.0/myorg/pipelines/{PIPELINE}/deployAll",
            json={"sourceStageOrder": 0, "options": options},
        )
        values["operationId"] = started.json()["id"]
    if base == "Pipelines_AssignWorkspace":
        values["workspaceId"] = http.post("/v1.0/myorg/groups", json={"name": "New"}).json()["id"]
        values["stageOrder"] = "2"
    if base != "Datasets_CancelRefresh":  # every other operation over time has ended
        emu.advance_clock(3600)
    return values


def request_for(operation, values) -> dict[str, Any]:
    base = operation.id.removesuffix("InGroup")
    special: dict[str, dict[str, Any]] = {
        "Datasets_PostDataset": {"json": {"name": "Walk", "tables": [TABLE]}},
        "Datasets_PutTable": {"json": TABLE},
        "Datasets_PostRows": {"json": {"rows": [{"Product": "A", "Qty": 1}]}},
        "Imports_PostImport": {"files": PBIX, "params": {"datasetDisplayName": "Walk.pbix"}},
        "Reports_CloneReport": {"json": {"name": "Copy"}},
        "Reports_RebindReport": {"json": {"datasetId": values["datasetId"]}},
        "Datasets_UpdateParameters": {
            "json": {"updateDetails": [{"name": "Region", "newValue": "US"}]}
        },
        "Groups_AddGroupUser": {
            "json": {"identifier": "new.user@contoso.com", "groupUserAccessRight": "Viewer"}
        },
        "Datasets_RefreshDataset": {"json": {"notifyOption": "NoNotification"}},
        "Admin_GetActivityEvents": {
            "params": {
                "startDateTime": f"'{YESTERDAY}T09:00:00.000Z'",
                "endDateTime": f"'{YESTERDAY}T10:59:59.999Z'",  # a first page, of two
            }
        },
        "Pipelines_AssignWorkspace": {"json": {"workspaceId": values.get("workspaceId")}},
        "Pipelines_UnassignWorkspace": {},
        "Pipelines_DeployAll": {"json": {"sourceStageOrder": 0}},
        "Pipelines_SelectiveDeploy": {
            "json": {"sourceStageOrder": 0, "datasets": [{"sourceId": SEED_IDS["sales_dataset"]}]}
        },
    }
    if base in special:
        return special[base]
    if operation.body_schema is not None:
        example = SchemaExample(TABLE_, "2026-01-01T00:00:00.000Z", values)
        return {"json": example.build(operation.body_schema)}
    return {}


@pytest.mark.parametrize("operation_id", ALL_IDS)
def test_every_operation_answers_as_documented(emu, http, registry, operation_id):
    operation = TABLE_.by_id[operation_id]
    emu.reset()
    values = values_for(emu, http, operation)
    path = re.sub(
        r"\{(\w+)\}",
        lambda m: values.get(m.group(1), "a1b2c3d4-0000-4000-8000-0000000000aa"),
        operation.template,
    )
    response = http.request(operation.method, path, **request_for(operation, values))
    documented = load_swagger()["paths"][operation.template][operation.method.lower()]
    assert str(response.status_code) in documented["responses"], response.text
    assert response.headers.get("requestid")
    schema = documented["responses"][str(response.status_code)].get("schema")
    if schema is None or schema.get("type") == "file":
        assert not response.headers.get("content-type", "").startswith("application/json")
        return
    body = response.json()
    inline = {**schema, "definitions": load_swagger()["definitions"]}
    validator = Draft4Validator(
        {"$ref": SWAGGER_URI + schema["$ref"]} if "$ref" in schema else inline,
        registry=registry,
        format_checker=format_checker(),
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == []
    extra = [p for p in undeclared(body, schema) if not p.startswith(".@odata")]
    assert extra == []


def test_the_table_holds_every_operation_of_the_swagger():
    count = sum(
        1
        for item in load_swagger()["paths"].values()
        for method, spec in item.items()
        if method != "parameters" and isinstance(spec, dict)
    )
    assert count == len(ALL_IDS) == 286


# -- stateful tasks, as a pack runs them ---------------------------------------------------------


def test_refresh_then_read_the_refresh_history(emu, http):
    emu.reset()
    dataset = f"/v1.0/myorg/groups/{SALES}/datasets/{SEED_IDS['sales_dataset']}"
    assert http.get(f"{dataset}/refreshes").json()["value"] == []
    started = http.post(f"{dataset}/refreshes", json={"notifyOption": "NoNotification"})
    assert started.status_code == 202
    request_id = started.headers["requestid"]
    history = http.get(f"{dataset}/refreshes", params={"$top": "1"}).json()["value"]
    assert [(h["requestId"], h["refreshType"], h["status"]) for h in history] == [
        (request_id, "ViaApi", "Unknown")  # running: a refresh takes 32 emulated seconds
    ]
    emu.advance_clock(32)
    history = http.get(f"{dataset}/refreshes", params={"$top": "1"}).json()["value"]
    assert [(h["requestId"], h["status"]) for h in history] == [(request_id, "Completed")]


def test_clone_then_export_a_report_as_an_asynchronous_job(emu, http):
    emu.reset()
    reports = f"/v1.0/myorg/groups/{SALES}/reports"
    clone = http.post(f"{reports}/{SEED_IDS['sales_report']}/Clone", json={"name": "Copy"})
    assert clone.status_code == 200
    copy_id = clone.json()["id"]
    assert http.get(f"{reports}/{copy_id}").json()["name"] == "Copy"
    assert "Copy" in [r["name"] for r in http.get(reports).json()["value"]]
    job = http.post(f"{reports}/{copy_id}/ExportTo", json={"format": "PDF"})
    assert job.status_code == 202
    emu.advance_clock(11)  # an export takes 11 emulated seconds
    status = http.get(f"{reports}/{copy_id}/exports/{job.json()['id']}")
    assert (status.status_code, status.json()["status"]) == (200, "Succeeded")
    file = http.get(f"{reports}/{copy_id}/exports/{job.json()['id']}/file")
    assert file.status_code == 200
    assert file.content.startswith(b"%PDF-")
    assert b"(Copy) Tj" in file.content  # the report's name, on its page


def test_dashboards_tiles_embed_token_takeover_and_parameters(emu, http):
    emu.reset()
    group = f"/v1.0/myorg/groups/{SALES}"
    dashboards = http.get(f"{group}/dashboards").json()["value"]
    assert [d["displayName"] for d in dashboards] == ["Sales Overview"]
    tiles = http.get(f"{group}/dashboards/{dashboards[0]['id']}/tiles").json()["value"]
    assert tiles[0]["reportId"] == SEED_IDS["sales_report"]
    token = http.post(
        f"{group}/reports/{SEED_IDS['sales_report']}/GenerateToken", json={"accessLevel": "View"}
    ).json()
    assert token["token"]
    assert dt.datetime.fromisoformat(token["expiration"]) > dt.datetime.now(dt.UTC)
    dataset = f"{group}/datasets/{SEED_IDS['sales_dataset']}"
    assert http.post(f"{dataset}/Default.TakeOver").status_code == 200
    update = {"updateDetails": [{"name": "Region", "newValue": "US"}]}
    assert http.post(f"{dataset}/Default.UpdateParameters", json=update).status_code == 200
    params = {
        p["name"]: p["currentValue"] for p in http.get(f"{dataset}/parameters").json()["value"]
    }
    assert params["Region"] == "US"
    wrong = {"updateDetails": [{"name": "Nope", "newValue": "x"}]}
    assert http.post(f"{dataset}/Default.UpdateParameters", json=wrong).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/v1.0/myorg//groups",
        "/v1.0/myorg/groups/",
        "/V1.0/MyOrg/Groups",
        f"/v1.0/myorg/groups/{SALES}/Reports/",
    ],
)
def test_urls_are_normalised_as_the_service_does(http, path):
    assert http.get(path).status_code == 200


def test_unknown_ids_are_404_with_the_service_codes(http):
    group = f"/v1.0/myorg/groups/{SALES}"
    missing = "00000000-0000-4000-8000-0000000000ff"
    report = http.get(f"{group}/reports/{missing}")
    assert report.status_code == 404
    assert report.json()["error"]["code"] == "PowerBIEntityNotFound"
    dataset = http.get(f"{group}/datasets/{missing}/datasources")
    assert dataset.status_code == 404
    assert dataset.json()["error"]["code"] == "ItemNotFound"
