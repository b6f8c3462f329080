"""The activity log over real HTTP: quoted same-day windows, continuation pages, determinism."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

import flows_helpers
from flows_helpers import app_token, emulator_process, error_of, peak_rss_mib
from powerbi_emulator._flows._activity import events

admin, emu = flows_helpers.admin, flows_helpers.emu  # shared fixtures

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
DAY = YESTERDAY.isoformat()


def window(start: str, end: str, **more: str) -> dict[str, str]:
    return {"startDateTime": f"'{DAY}T{start}'", "endDateTime": f"'{DAY}T{end}'", **more}


def every_page(admin, params: dict[str, str]) -> list[dict]:
    """Each answer, first to last, following continuationUri."""
    page = admin.get("/admin/activityevents", params=params)
    assert page.status_code == 200, page.text
    pages = [page.json()]
    while not pages[-1]["lastResultSet"]:
        pages.append(admin.get(pages[-1]["continuationUri"]).json())
    return pages


def test_a_day_comes_an_hour_a_page_then_a_last_result_set(emu, admin):
    pages = every_page(admin, window("00:00:00.000Z", "23:59:59.999Z"))
    assert len(pages) == 24
    assert [len(p["activityEventEntities"]) for p in pages] == [100] * 24  # 2,400 a day
    for page in pages[:-1]:
        assert page["lastResultSet"] is False
        assert page["continuationUri"] == (
            f"{emu.base_url}/admin/activityevents?continuationToken='{page['continuationToken']}'"
        )
    assert pages[-1] == {
        "activityEventEntities": pages[-1]["activityEventEntities"],
        "continuationUri": None,
        "continuationToken": None,
        "lastResultSet": True,
    }
    first = pages[0]["activityEventEntities"][0]
    assert first["CreationTime"] == f"{DAY}T00:00:00"
    assert {"Id", "Activity", "UserId", "ReportId", "WorkSpaceName", "RecordType"} <= set(first)
    assert first["Workload"] == "PowerBI"
    times = [e["CreationTime"] for p in pages for e in p["activityEventEntities"]]
    assert times == sorted(times)


def test_the_events_are_the_same_for_the_same_seed(emu, admin):
    params = window("10:00:00Z", "10:59:59Z")
    once = every_page(admin, params)[0]["activityEventEntities"]
    assert every_page(admin, params)[0]["activityEventEntities"] == once
    day = dt.datetime.combine(YESTERDAY, dt.time(10), dt.UTC)
    start = int(day.timestamp() * 1000)
    tenant = once[0]["OrganizationId"]
    assert list(events(0, tenant, start, start + 3_599_000, 2400)) == once
    emu.set_flows(activity={"seed": 99})
    assert every_page(admin, params)[0]["activityEventEntities"] != once


def test_a_page_holds_at_most_page_size_events(emu, admin):
    emu.set_flows(activity={"events_per_day": 24_000, "page_size": 400})
    pages = every_page(admin, window("06:00:00Z", "06:59:59.999Z"))
    assert [len(p["activityEventEntities"]) for p in pages] == [400] * 2 + [200]
    ids = [e["Id"] for p in pages for e in p["activityEventEntities"]]
    assert len(set(ids)) == 1000


def test_filters_on_activity_and_user(emu, admin):
    everything = [
        e
        for p in every_page(admin, window("00:00:00Z", "05:59:59Z"))
        for e in p["activityEventEntities"]
    ]
    user = everything[0]["UserId"]
    wanted = "Activity eq 'viewreport' and UserId eq '" + user + "'"
    filtered = [
        e
        for p in every_page(admin, window("00:00:00Z", "05:59:59Z", **{"$filter": wanted}))
        for e in p["activityEventEntities"]
    ]
    expected = [e for e in everything if e["Activity"] == "ViewReport" and e["UserId"] == user]
    assert filtered == expected
    assert filtered
    bad = admin.get(
        "/admin/activityevents",
        params=window("00:00:00Z", "01:00:00Z", **{"$filter": "Activity ne 'x'"}),
    )
    assert "$filter" in error_of(bad, 400)["message"]


TOMORROW = (YESTERDAY + dt.timedelta(days=1)).isoformat()
OLD = {"startDateTime": "'2020-01-01T00:00:00Z'", "endDateTime": "'2020-01-01T01:00:00Z'"}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        (window("00:00:00Z", "01:00:00Z") | {"startDateTime": f"{DAY}T00:00:00Z"}, "single quotes"),
        (window("00:00:00Z", "01:00:00Z") | {"endDateTime": f"'{TOMORROW}T00:30:00Z'"}, "same UTC"),
        (window("02:00:00Z", "01:00:00Z"), "not be before"),
        ({"startDateTime": f"'{DAY}T00:00:00Z'"}, "both startDateTime and endDateTime"),
        (OLD, "30 days"),
        ({"continuationToken": "'bm90IGEgdG9rZW4='"}, "continuationToken"),
        (window("00:00:00Z", "01:00:00Z") | {"continuationToken": "'x'"}, "not both"),
    ],
)
def test_a_bad_window_or_token_is_refused(admin, params, words):
    assert words in error_of(admin.get("/admin/activityevents", params=params), 400)["message"]


def test_paging_interrupted_is_resumed_from_the_token(emu, admin):
    first = admin.get("/admin/activityevents", params=window("00:00:00Z", "02:59:59Z")).json()
    token = first["continuationToken"]
    assert "%" in token  # percent-encoded in the body, as the service shows it
    # Later, from the token alone (quoted, as it is in continuationUri).
    resumed = admin.get(f"/admin/activityevents?continuationToken='{token}'").json()
    again = admin.get(first["continuationUri"]).json()
    assert resumed == again
    assert resumed["activityEventEntities"][0]["CreationTime"] == f"{DAY}T01:00:00"


def test_the_hourly_limit_answers_429(emu, admin):
    emu.set_flows(activity={"per_hour": 3})
    pages = admin.get("/admin/activityevents", params=window("00:00:00Z", "23:59:59Z")).json()
    for _ in range(2):
        pages = admin.get(pages["continuationUri"]).json()
    throttled = admin.get(pages["continuationUri"])
    assert error_of(throttled, 429)["code"] == "TooManyRequests"
    assert throttled.headers["retry-after"] == "3600"
    emu.advance_clock(3600)
    assert admin.get(pages["continuationUri"]).status_code == 200


def test_no_event_is_in_the_future(emu, admin):
    now = dt.datetime.fromtimestamp(emu.advance_clock(0), dt.UTC)
    today = now.date().isoformat()
    params = {"startDateTime": f"'{today}T00:00:00Z'", "endDateTime": f"'{today}T23:59:59Z'"}
    pages = every_page(admin, params)
    latest = max(e["CreationTime"] for p in pages for e in p["activityEventEntities"])
    assert latest <= now.strftime("%Y-%m-%dT%H:%M:%S")


def test_100_000_events_are_served_in_flat_memory():
    flows = json.dumps({"activity": {"events_per_day": 100_000, "per_hour": 0}})
    with emulator_process("--flows", flows) as (process, urls):
        headers = {"Authorization": f"Bearer {app_token(urls)}"}
        with httpx.Client(headers=headers, timeout=120) as http:
            params = window("00:00:00.000Z", "23:59:59.999Z")
            page = http.get(f"{urls['base_url']}/admin/activityevents", params=params).json()
            after_first = peak_rss_mib(process.pid)
            count = len(page["activityEventEntities"])
            while not page["lastResultSet"]:
                page = http.get(page["continuationUri"]).json()
                count += len(page["activityEventEntities"])
        assert count == 100_000
        # Later pages cost no more than the first: nothing accumulates.
        assert peak_rss_mib(process.pid) - after_first < 15
