"""The admin scanner over real HTTP: modified workspaces, scans, status, result, hourly limits."""

from __future__ import annotations

import datetime as dt

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import flows_helpers
from flows_helpers import IN_SALES, OPERATIONS, SALES, Api, error_of
from powerbi_emulator import SEED_IDS
from powerbi_emulator._swagger import SWAGGER_URI, load_swagger

admin, emu = flows_helpers.admin, flows_helpers.emu  # shared fixtures

ALL_OPTIONS = {
    "lineage": "true",
    "datasourceDetails": "true",
    "datasetSchema": "true",
    "datasetExpressions": "true",
    "getArtifactUsers": "true",
}


def when(emu, seconds_ago: float) -> str:
    moment = dt.datetime.fromtimestamp(emu.advance_clock(0) - seconds_ago, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def scan(admin, workspaces: list[str], **options: str) -> dict:
    started = admin.post(
        "/admin/workspaces/getInfo", params=options, json={"workspaces": workspaces}
    )
    assert started.status_code == 202, started.text
    return started.json()


def test_modified_workspaces_since_a_time(emu, admin):
    everything = admin.get("/admin/workspaces/modified")
    assert everything.status_code == 200
    assert everything.json() == [{"id": SALES}, {"id": OPERATIONS}]

    emu.advance_clock(7200)
    renamed = admin.patch(f"/groups/{OPERATIONS}", json={"name": "Ops"})
    assert renamed.status_code == 200
    report = f"{IN_SALES}/reports/{SEED_IDS['sales_report']}"
    assert admin.post(f"{report}/ExportTo", json={"format": "PDF"}).status_code == 202  # a read
    emu.advance_clock(3600)
    since = admin.get("/admin/workspaces/modified", params={"modifiedSince": when(emu, 5400)})
    assert since.json() == [{"id": OPERATIONS}]

    too_recent = admin.get("/admin/workspaces/modified", params={"modifiedSince": when(emu, 60)})
    assert "30 minutes" in error_of(too_recent, 400)["message"]
    too_old = admin.get(
        "/admin/workspaces/modified", params={"modifiedSince": when(emu, 31 * 86400)}
    )
    assert "30 days" in error_of(too_old, 400)["message"]
    garbled = admin.get("/admin/workspaces/modified", params={"modifiedSince": "yesterday"})
    assert "modifiedSince" in error_of(garbled, 400)["message"]


def test_a_scan_runs_then_its_result_describes_the_workspaces(emu, admin):
    started = scan(admin, [SALES, OPERATIONS], **ALL_OPTIONS)
    assert set(started) == {"id", "createdDateTime", "status"}
    assert started["status"] == "NotStarted"
    status_url = f"/admin/workspaces/scanStatus/{started['id']}"
    result_url = f"/admin/workspaces/scanResult/{started['id']}"
    early = admin.get(result_url)
    assert "Succeeded" in error_of(early, 400)["message"]
    emu.advance_clock(2)
    assert admin.get(status_url).json()["status"] == "Running"
    emu.advance_clock(4)
    assert admin.get(status_url).json()["status"] == "Succeeded"

    result = admin.get(result_url).json()
    swagger = load_swagger()
    validator = Draft4Validator(
        {"$ref": SWAGGER_URI + "#/definitions/WorkspaceInfoResponse"},
        registry=Registry().with_resource(
            SWAGGER_URI, Resource(contents=swagger, specification=DRAFT4)
        ),
    )
    assert [e.message for e in validator.iter_errors(result)] == []
    sales, operations = result["workspaces"]
    assert (sales["id"], sales["name"], operations["name"]) == (
        SALES,
        "Sales Analytics",
        "Operations",
    )
    [report] = sales["reports"]
    [dataset] = sales["datasets"]
    assert (report["id"], report["datasetId"]) == (SEED_IDS["sales_report"], dataset["id"])
    assert {e["name"] for e in dataset["expressions"]} == {"Server", "Region"}
    [usage] = dataset["datasourceUsages"]
    [source] = result["datasourceInstances"]
    assert source["datasourceId"] == usage["datasourceInstanceId"]
    assert source["connectionDetails"]["server"] == "sql.contoso.com"
    assert sales["users"][0]["groupUserAccessRight"] == "Admin"
    assert [d["displayName"] for d in sales["dashboards"]] == ["Sales Overview"]
    assert operations["reports"] == operations["datasets"] == []


def test_a_scan_without_options_leaves_out_what_was_not_asked_for(emu, admin):
    started = scan(admin, [SALES])
    emu.advance_clock(6)
    [sales] = admin.get(f"/admin/workspaces/scanResult/{started['id']}").json()["workspaces"]
    [dataset] = sales["datasets"]
    assert not {"expressions", "tables", "datasourceUsages", "users"} & set(dataset)
    assert "users" not in sales


def test_the_result_is_the_state_when_the_scan_ran(emu, admin):
    started = scan(admin, [SALES])
    emu.advance_clock(6)
    user = Api(emu)
    user.post(f"{IN_SALES}/dashboards", json={"name": "Later"})
    user.close()
    [sales] = admin.get(f"/admin/workspaces/scanResult/{started['id']}").json()["workspaces"]
    assert [d["displayName"] for d in sales["dashboards"]] == ["Sales Overview"]


@pytest.mark.parametrize(
    ("workspaces", "words"),
    [([], "non-empty"), (["not-a-guid"], "GUID"), ([SALES] * 101, "at most 100")],
)
def test_a_scan_takes_1_to_100_workspace_ids(admin, workspaces, words):
    refused = admin.post("/admin/workspaces/getInfo", json={"workspaces": workspaces})
    assert words in error_of(refused, 400)["message"]


def test_a_failed_scan_and_an_unknown_one(emu, admin):
    emu.set_flows(scans={"fail": 1})
    failed = scan(admin, [SALES])
    emu.advance_clock(6)
    status = admin.get(f"/admin/workspaces/scanStatus/{failed['id']}").json()
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "ScanFailed"
    missing = admin.get("/admin/workspaces/scanStatus/00000000-0000-4000-8000-000000000000")
    assert error_of(missing, 404)["code"] == "ItemNotFound"


def test_a_result_is_kept_for_a_day(emu, admin):
    started = scan(admin, [SALES])
    emu.advance_clock(6 + 24 * 3600)
    gone = admin.get(f"/admin/workspaces/scanResult/{started['id']}")
    assert error_of(gone, 404)["code"] == "ItemNotFound"


def test_the_hourly_limits_answer_429_with_retry_after(emu, admin):
    emu.set_flows(scans={"modified_per_hour": 2, "get_info_per_hour": 1})
    assert admin.get("/admin/workspaces/modified").status_code == 200
    emu.advance_clock(600)
    assert admin.get("/admin/workspaces/modified").status_code == 200
    throttled = admin.get("/admin/workspaces/modified")
    assert error_of(throttled, 429)["code"] == "TooManyRequests"
    assert throttled.headers["retry-after"] == "3000"  # until the first of the two is an hour old
    scan(admin, [SALES])
    assert admin.post("/admin/workspaces/getInfo", json={"workspaces": [SALES]}).status_code == 429
    emu.advance_clock(3000)
    assert admin.get("/admin/workspaces/modified").status_code == 200
    assert emu.flows()["limits_used"]["scans.modified_per_hour"] == 2


def test_at_most_16_scans_run_at_once(emu, admin):
    for _ in range(16):
        scan(admin, [SALES])
    busy = admin.post("/admin/workspaces/getInfo", json={"workspaces": [SALES]})
    assert error_of(busy, 429)["code"] == "TooManyRequests"
    assert busy.headers["retry-after"] == "6"
    emu.advance_clock(6)
    scan(admin, [SALES])
