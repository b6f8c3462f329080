"""Dataset refreshes over emulated time, over real HTTP: history, execution details, cancel."""

from __future__ import annotations

import json

import pytest

import flows_helpers
from flows_helpers import IN_SALES, Api, error_of, wait_until
from powerbi_emulator import SEED_IDS, running

api, emu = flows_helpers.api, flows_helpers.emu  # shared fixtures

DATASET = f"{IN_SALES}/datasets/{SEED_IDS['sales_dataset']}"
COLUMN = {"name": "A", "dataType": "Int64"}


def history(api) -> list[dict]:
    return api.get(f"{DATASET}/refreshes").json()["value"]


def test_a_refresh_is_unknown_until_it_completes(emu, api):
    started = api.post(f"{DATASET}/refreshes", json={"notifyOption": "NoNotification"})
    assert started.status_code == 202
    assert started.content == b""
    request_id = started.headers["requestid"]
    assert "location" not in started.headers  # only an enhanced refresh says where it is
    [entry] = history(api)
    assert (entry["requestId"], entry["refreshType"], entry["status"]) == (
        request_id, "ViaApi", "Unknown"
    )  # fmt: skip
    assert "endTime" not in entry

    emu.advance_clock(32)  # 2 s queued, 30 s refreshing
    [entry] = history(api)
    assert entry["status"] == "Completed"
    assert entry["endTime"] > entry["startTime"]
    details = api.get(f"{DATASET}/refreshes/{request_id}")
    assert (details.status_code, details.json()["extendedStatus"]) == (200, "Completed")


def test_an_enhanced_refresh_answers_with_its_location_and_is_polled(emu, api):
    body = {"type": "full", "commitMode": "transactional", "objects": [{"table": "Sales"}]}
    started = api.post(f"{DATASET}/refreshes", json=body)
    assert started.status_code == 202
    refresh_id = started.headers["x-ms-request-id"]
    location = started.headers["location"]
    assert location == f"{emu.base_url}{DATASET}/refreshes/{refresh_id}"
    assert started.headers["requestid"] == refresh_id

    queued = api.get(location)
    assert queued.status_code == 202
    assert (queued.json()["status"], queued.json()["extendedStatus"]) == ("Unknown", "NotStarted")
    assert queued.json()["refreshAttempts"] == []
    emu.advance_clock(10)
    running_ = api.get(location)
    assert running_.status_code == 202
    assert running_.json()["extendedStatus"] == "InProgress"
    assert running_.json()["objects"] == [{"table": "Sales", "status": "InProgress"}]
    emu.advance_clock(30)
    done = api.get(location)
    assert done.status_code == 200
    detail = done.json()
    assert (detail["status"], detail["extendedStatus"], detail["type"], detail["commitMode"]) == (
        "Completed", "Completed", "Full", "Transactional"
    )  # fmt: skip
    [entry] = history(api)
    assert entry["refreshType"] == "ViaEnhancedApi"


def test_a_refresh_set_to_fail_reports_why(emu, api):
    emu.set_flows(refreshes={"fail": 1, "error_code": "ModelRefresh_ShortMessage_ProcessingError"})
    started = api.post(f"{DATASET}/refreshes", json={"type": "Full", "retryCount": 2})
    location = started.headers["location"]
    emu.advance_clock(32)
    detail = api.get(location).json()
    assert (detail["status"], detail["extendedStatus"]) == ("Failed", "Failed")
    assert detail["numberOfAttempts"] == 3  # the first, and two retries
    assert [a["attemptId"] for a in detail["refreshAttempts"]] == [1, 2, 3]
    assert detail["messages"][0]["code"] == "ModelRefresh_ShortMessage_ProcessingError"
    [entry] = history(api)
    assert entry["status"] == "Failed"
    assert json.loads(entry["serviceExceptionJson"])["errorCode"] == (
        "ModelRefresh_ShortMessage_ProcessingError"
    )
    # The next one succeeds: one failure was asked for.
    api.post(f"{DATASET}/refreshes", json={})
    emu.advance_clock(32)
    assert [e["status"] for e in history(api)] == ["Completed", "Failed"]


def test_a_running_refresh_is_cancelled(emu, api):
    location = api.post(f"{DATASET}/refreshes", json={"type": "Full"}).headers["location"]
    emu.advance_clock(5)
    assert api.delete(location).status_code == 200
    cancelled = api.get(location)
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["extendedStatus"]) == (
        "Cancelled", "Cancelled"
    )  # fmt: skip
    assert history(api)[0]["status"] == "Cancelled"
    emu.advance_clock(60)  # it stays cancelled
    assert api.get(location).json()["extendedStatus"] == "Cancelled"
    assert error_of(api.delete(location), 400)["code"] == "InvalidRequest"


def test_one_refresh_at_a_time(emu, api):
    assert api.post(f"{DATASET}/refreshes", json={}).status_code == 202
    standard = api.post(f"{DATASET}/refreshes", json={"notifyOption": "MailOnFailure"})
    assert "already executing" in error_of(standard, 400)["message"]
    enhanced = api.post(f"{DATASET}/refreshes", json={"type": "Full"})
    assert enhanced.status_code == 409
    emu.advance_clock(32)
    assert api.post(f"{DATASET}/refreshes", json={"type": "Full"}).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notifyOption": "MailOnCompletion", "type": "Full"}, "notifyOption"),
        ({"notifyOption": "Sometimes"}, "notifyOption"),
        ({"type": "Everything"}, "type"),
        ({"commitMode": "Eventually"}, "commitMode"),
        ({"retryCount": -1}, "retryCount"),
        ({"objects": "Sales"}, "objects"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_refresh_request_names_the_field(api, body, field):
    assert field in error_of(api.post(f"{DATASET}/refreshes", json=body), 400)["message"]


def test_unknown_refreshes_and_push_datasets(api):
    missing = api.get(f"{DATASET}/refreshes/00000000-0000-4000-8000-000000000000")
    assert error_of(missing, 404)["code"] == "ItemNotFound"
    pushed = api.post(
        f"{IN_SALES}/datasets",
        json={
            "name": "Push",
            "tables": [{"name": "T", "columns": [{"name": "A", "dataType": "Int64"}]}],
        },
    ).json()["id"]
    refused = api.post(f"{IN_SALES}/datasets/{pushed}/refreshes", json={})
    assert "push dataset" in error_of(refused, 400)["message"]


def test_a_refresh_on_a_scaled_clock_completes_in_real_time():
    with running(time_scale=200) as emu:
        api = Api(emu)
        location = api.post(f"{DATASET}/refreshes", json={"type": "Full"}).headers["location"]
        # 32 emulated seconds at 200x: about 0.16 real seconds.
        done = wait_until(lambda: (r := api.get(location)).status_code == 200 and r.json())
        assert done["status"] == "Completed"
        api.close()
