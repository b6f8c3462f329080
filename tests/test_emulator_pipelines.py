"""Deployment pipelines over real HTTP: deploy all or some, polled to Succeeded or Failed."""

from __future__ import annotations

import flows_helpers
from flows_helpers import OPERATIONS, SALES, error_of
from powerbi_emulator import SEED_IDS
from powerbi_emulator._flows._pipelines import SEED_PIPELINE

api, emu = flows_helpers.api, flows_helpers.emu  # shared fixtures


PIPELINE = f"/pipelines/{SEED_PIPELINE}"
ALLOW = {"allowCreateArtifact": True, "allowOverwriteArtifact": True}


def deploy(api, path: str = "deployAll", **body: object) -> dict:
    started = api.post(f"{PIPELINE}/{path}", json={"sourceStageOrder": 0, **body})
    assert started.status_code == 202, started.text
    return started.json()


def operation(api, operation_id: str) -> dict:
    return api.get(f"{PIPELINE}/operations/{operation_id}").json()


def names_in(api, workspace: str, kind: str) -> list[str]:
    return [item["name"] for item in api.get(f"/groups/{workspace}/{kind}").json()["value"]]


def test_the_seed_pipeline_and_its_stages(api):
    listed = api.get("/pipelines").json()["value"]
    assert [(p["id"], p["displayName"]) for p in listed] == [(SEED_PIPELINE, "Sales deployment")]
    assert "stages" not in listed[0]
    stages = api.get(f"{PIPELINE}/stages").json()["value"]
    assert stages == [
        {"order": 0, "workspaceId": SALES, "workspaceName": "Sales Analytics"},
        {"order": 1, "workspaceId": OPERATIONS, "workspaceName": "Operations"},
        {"order": 2},
    ]
    assert api.get(PIPELINE).json()["stages"] == stages


def test_deploy_all_runs_step_by_step_then_the_items_are_in_the_next_stage(emu, api):
    started = deploy(api, options=ALLOW, note="release 1")
    assert (started["status"], started["sourceStageOrder"], started["targetStageOrder"]) == (
        "NotStarted", 0, 1
    )  # fmt: skip
    assert started["preDeploymentDiffInformation"]["newArtifactsCount"] == 3
    emu.advance_clock(1 + 10)  # queued 1 s, then half of the 20 s it runs
    halfway = operation(api, started["id"])
    assert halfway["status"] == "Executing"
    steps = halfway["executionPlan"]["steps"]
    assert [s["type"] for s in steps] == [
        "DatasetDeployment", "ReportDeployment", "DashboardDeployment"
    ]  # fmt: skip
    assert [s["status"] for s in steps] == ["Succeeded", "Executing", "NotStarted"]
    assert names_in(api, OPERATIONS, "datasets") == []  # nothing until it ends

    emu.advance_clock(10)
    done = operation(api, started["id"])
    assert done["status"] == "Succeeded"
    assert done["note"] == {"content": "release 1", "isTruncated": False}
    assert [s["status"] for s in done["executionPlan"]["steps"]] == ["Succeeded"] * 3
    assert names_in(api, OPERATIONS, "datasets") == ["Sales Pipeline"]
    [report] = api.get(f"/groups/{OPERATIONS}/reports").json()["value"]
    [dataset] = api.get(f"/groups/{OPERATIONS}/datasets").json()["value"]
    assert report["datasetId"] == dataset["id"]  # bound to the copy, not the source
    artifacts = api.get(f"{PIPELINE}/stages/1/artifacts").json()
    assert artifacts["datasets"][0]["sourceArtifactId"] == SEED_IDS["sales_dataset"]
    assert (
        api.get(f"{PIPELINE}/stages/0/artifacts").json()["datasets"][0]["targetArtifactId"]
        == dataset["id"]
    )

    # Deploying again overwrites the same items in place.
    again = deploy(api, options=ALLOW)
    assert again["preDeploymentDiffInformation"]["differentArtifactsCount"] == 3
    emu.advance_clock(21)
    assert operation(api, again["id"])["status"] == "Succeeded"
    assert [d["id"] for d in api.get(f"/groups/{OPERATIONS}/datasets").json()["value"]] == [
        dataset["id"]
    ]
    listed = api.get(f"{PIPELINE}/operations").json()["value"]
    assert [o["id"] for o in listed] == [again["id"], started["id"]]
    assert "executionPlan" not in listed[0]


def test_a_deployment_that_would_create_items_without_permission_fails(emu, api):
    started = deploy(api)  # no options: creating is not allowed
    emu.advance_clock(21)
    failed = operation(api, started["id"])
    assert failed["status"] == "Failed"
    first = failed["executionPlan"]["steps"][0]
    assert (first["status"], first["error"]["errorCode"]) == (
        "Failed", "ArtifactCreationNotAllowed"
    )  # fmt: skip
    assert [s["status"] for s in failed["executionPlan"]["steps"][1:]] == ["NotStarted"] * 2
    assert names_in(api, OPERATIONS, "datasets") == []


def test_selective_deploy_needs_a_report_s_dataset_in_the_target(emu, api):
    report_only = {"reports": [{"sourceId": SEED_IDS["sales_report"]}]}
    started = deploy(api, "deploy", options=ALLOW, **report_only)
    emu.advance_clock(21)
    failed = operation(api, started["id"])
    assert failed["status"] == "Failed"
    assert failed["executionPlan"]["steps"][0]["error"]["errorCode"] == "MissingDependency"

    both = {"datasets": [{"sourceId": SEED_IDS["sales_dataset"]}], **report_only}
    started = deploy(api, "deploy", options=ALLOW, **both)
    emu.advance_clock(21)
    assert operation(api, started["id"])["status"] == "Succeeded"
    assert names_in(api, OPERATIONS, "reports") == ["Sales Pipeline"]
    assert api.get(f"/groups/{OPERATIONS}/dashboards").json()["value"] == []  # not listed
    unknown = api.post(
        f"{PIPELINE}/deploy",
        json={"sourceStageOrder": 0, "reports": [{"sourceId": SEED_IDS["my_report"]}]},
    )
    assert "not in the source stage" in error_of(unknown, 400)["message"]


def test_deploying_to_an_empty_stage_creates_its_workspace(emu, api):
    first = deploy(api, options=ALLOW)
    emu.advance_clock(21)
    assert operation(api, first["id"])["status"] == "Succeeded"
    refused = api.post(f"{PIPELINE}/deployAll", json={"sourceStageOrder": 1, "options": ALLOW})
    assert "newWorkspace" in error_of(refused, 400)["message"]
    started = deploy(api, sourceStageOrder=1, options=ALLOW, newWorkspace={"name": "Sales Prod"})
    emu.advance_clock(21)
    assert operation(api, started["id"])["status"] == "Succeeded"
    production = api.get(f"{PIPELINE}/stages").json()["value"][2]
    assert production["workspaceName"] == "Sales Prod"
    assert names_in(api, production["workspaceId"], "reports") == ["Sales Pipeline"]


def test_one_deployment_at_a_time_and_a_failure_on_demand(emu, api):
    emu.set_flows(deployments={"fail": 1, "error_code": "CapacityNotAvailable"})
    started = deploy(api, options=ALLOW)
    busy = api.post(f"{PIPELINE}/deployAll", json={"sourceStageOrder": 0, "options": ALLOW})
    assert error_of(busy, 409)["code"] == "Conflict"
    emu.advance_clock(21)
    failed = operation(api, started["id"])
    assert failed["executionPlan"]["steps"][0]["error"]["errorCode"] == "CapacityNotAvailable"
    assert deploy(api, options=ALLOW)["status"] == "NotStarted"


def test_unknown_pipelines_and_operations_are_404(api):
    missing = api.get("/pipelines/00000000-0000-4000-8000-000000000000/operations")
    assert error_of(missing, 404)["code"] == "PowerBIEntityNotFound"
    unknown = api.get(f"{PIPELINE}/operations/00000000-0000-4000-8000-000000000000")
    assert error_of(unknown, 404)["code"] == "PowerBIEntityNotFound"
    users = api.get("/pipelines/00000000-0000-4000-8000-000000000000/users")
    assert users.status_code == 404


def test_pipelines_are_created_assigned_and_deleted(api):
    created = api.post("/pipelines", json={"displayName": "Finance"})
    assert created.status_code == 201
    pipeline = f"/pipelines/{created.json()['id']}"
    workspace = api.post("/groups", json={"name": "Finance Dev"}).json()["id"]
    assert (
        api.post(
            f"{pipeline}/stages/0/assignWorkspace", json={"workspaceId": workspace}
        ).status_code
        == 200
    )
    taken = api.post(f"{pipeline}/stages/1/assignWorkspace", json={"workspaceId": SALES})
    assert "already assigned" in error_of(taken, 400)["message"]
    assert api.get(f"{pipeline}/stages").json()["value"][0]["workspaceName"] == "Finance Dev"
    assert api.post(f"{pipeline}/stages/0/unassignWorkspace").status_code == 200
    assert api.delete(pipeline).status_code == 200
    assert api.get(pipeline).status_code == 404
    assert api.get(PIPELINE).status_code == 200  # the seed pipeline is untouched
