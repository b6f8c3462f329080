"""Each Power BI trigger end to end: the real command polls the emulator while things happen.

Every poll is a ``connectorkit invoke`` (or ``serve``) process of its own, sharing a SQLite
store: a subscription is resumed by another process at every poll. For each trigger the tests
check what a platform relies on: the first poll is bounded (from now, or from ``since``); each
event comes once, in order, across many polls; items sharing a timestamp are each given; a poll
repeated from the cursor of the last answer kept gives the lost answer's events again, with the
same ids; and an answer that could not be written moves nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from powerbi_emulator import SEED_IDS, running
from triggers_helpers import SALES, Platform, Service, data, ids

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

SALES_DATASET = SEED_IDS["sales_dataset"]
SALES_REPORT = SEED_IDS["sales_report"]


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with running(seed=11) as handle:
        yield handle


@pytest.fixture
def platform(emu, tmp_path) -> Iterator[Platform]:
    emu.reset()
    emu.set_flows(activity={"events_per_day": 0})  # the activity log holds what happens here
    polling = Platform(emu, f"sqlite:///{tmp_path / 'state.sqlite3'}")
    yield polling
    polling.secrets_kept()


@pytest.fixture
def service(emu) -> Iterator[Service]:
    acting = Service(emu)
    yield acting
    acting.close()


def last_seq(emu) -> int:
    """Where the emulator's request log ends now."""
    entries = emu.requests()
    return int(entries[-1]["seq"]) if entries else 0


def iso(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_order(events: list[dict[str, Any]]) -> None:
    """Each event once, in the order of their time."""
    assert len({e["id"] for e in events}) == len(events)
    times = [dt.datetime.fromisoformat(e["at"]).timestamp() for e in events]
    assert times == sorted(times)


# -- refreshes -------------------------------------------------------------------------------


def test_refresh_failures_of_a_workspace_come_once_in_order(emu, platform, service):
    service.publish("Forecast")
    emu.advance_clock(11)  # the import ends: a second refreshable dataset
    forecast = service.items("datasets")["Forecast"]
    now = emu.advance_clock(0)
    emu.schedule_refresh(SALES_DATASET, at=now - 600, fail=True)  # before anyone watched
    first = platform.poll("refresh_failed", "ops-1", {"group_id": SALES})
    assert first["events"] == []
    assert first["first"] is True

    # Two refreshes started by the schedule at the same moment fail together: both are given,
    # one per poll here, by the time they ended and then by their id; a completed one is not.
    at = emu.advance_clock(60)
    emu.schedule_refresh(SALES_DATASET, at=at, fail=True, error_code="ModelRefreshFailed_X")
    emu.schedule_refresh(forecast, at=at, fail=True)
    emu.schedule_refresh(SALES_DATASET, at=at + 40, fail=False)
    emu.advance_clock(120)
    seq = last_seq(emu)
    one = platform.poll("refresh_failed", "ops-1", {"group_id": SALES, "max_events": 1})
    two = platform.poll("refresh_failed", "ops-1", {"group_id": SALES, "max_events": 1})
    assert (one["more"], two["more"]) == (True, False)
    assert one["next_poll_s"] == 0
    assert two["next_poll_s"] == 300
    both = one["events"] + two["events"]
    assert {e["data"]["dataset_id"] for e in both} == {SALES_DATASET, forecast}
    assert both[0]["at"] == both[1]["at"] == both[0]["data"]["end_time"]
    assert sorted(ids(one) + ids(two)) == ids(one) + ids(two)
    assert {e["data"]["status"] for e in both} == {"Failed"}
    failed = next(e["data"] for e in both if e["data"]["dataset_id"] == SALES_DATASET)
    assert failed["dataset_name"] == "Sales Pipeline"
    assert "ModelRefreshFailed_X" in failed["error"]
    assert failed["refresh_type"] == "Scheduled"
    # What a poll costs: the workspace's datasets, then each refreshable one's history.
    asked = [(e["method"], e["path"], e.get("query")) for e in emu.requests(kind="api", since=seq)]
    assert [a[:2] for a in asked[:3]] == [
        ("GET", f"/v1.0/myorg/groups/{SALES}/datasets"),
        ("GET", f"/v1.0/myorg/groups/{SALES}/datasets/{SALES_DATASET}/refreshes"),
        ("GET", f"/v1.0/myorg/groups/{SALES}/datasets/{forecast}/refreshes"),
    ]
    assert len(asked) == 6  # two polls, three requests each: nothing else

    # An answer that was lost: the platform polls again from the last cursor it kept.
    kept = two["cursor"]
    emu.schedule_refresh(forecast, at=emu.advance_clock(0), fail=True)
    emu.advance_clock(60)
    lost = platform.poll("refresh_failed", "ops-1", {"group_id": SALES})
    assert len(lost["events"]) == 1
    again = platform.poll("refresh_failed", "ops-1", {"group_id": SALES}, cursor=kept)
    assert again == lost
    assert platform.poll("refresh_failed", "ops-1", {"group_id": SALES})["events"] == []

    # Another worker (serve) goes on where the store says; nothing is given twice.
    emu.schedule_refresh(SALES_DATASET, at=emu.advance_clock(0), fail=True)
    emu.advance_clock(60)
    request = platform.request("refresh_failed", "ops-1", {"group_id": SALES})
    served = [r["result"]["events"] for r in platform.serve([request, request])]
    # Two polls at once: one gives the event, the other nothing (or says another is busy).
    assert sorted(len(events) for events in served) == [0, 1]
    in_order(both + lost["events"] + served[0] + served[1])


def test_an_answer_that_could_not_be_written_moves_the_subscription_on_not_at_all(emu, platform):
    platform.poll("refresh_failed", "ops-2", {"group_id": SALES, "dataset_id": SALES_DATASET})
    emu.schedule_refresh(SALES_DATASET, at=emu.advance_clock(0), fail=True)
    emu.advance_clock(60)
    reader, writer = os.pipe()
    os.close(reader)  # nobody will read the answer: writing it fails
    try:
        request = platform.request(
            "refresh_failed", "ops-2", {"group_id": SALES, "dataset_id": SALES_DATASET}
        )
        process = platform.run(["invoke"], json.dumps(request), stdout=writer, stderr=-1)
    finally:
        os.close(writer)
    assert process.returncode == 141
    result = platform.poll(
        "refresh_failed", "ops-2", {"group_id": SALES, "dataset_id": SALES_DATASET}
    )
    assert data(result, "status") == ["Failed"]


def test_completed_refreshes_of_one_dataset_since_a_moment(emu, platform):
    start = emu.advance_clock(0)
    for offset in (0, 100, 200):
        emu.schedule_refresh(SALES_DATASET, at=start + offset)
    emu.advance_clock(300)
    inputs = {"group_id": SALES, "dataset_id": SALES_DATASET, "since": iso(start + 50)}
    first = platform.poll("refresh_completed", "done-1", {**inputs, "max_events": 1})
    assert first["first"] is True
    assert first["more"] is True
    rest = platform.poll("refresh_completed", "done-1", inputs)  # since applies to a first poll
    events = first["events"] + rest["events"]
    assert [e["data"]["start_time"] for e in events] == [iso(start + 100), iso(start + 200)]
    in_order(events)
    # A dataset the workspace does not have gives nothing rather than an error.
    other = {"group_id": SALES, "dataset_id": SEED_IDS["my_dataset"], "since": iso(start)}
    assert platform.poll("refresh_completed", "done-2", other)["events"] == []


# -- published and deleted -------------------------------------------------------------------


def test_reports_and_datasets_published_and_deleted(emu, platform, service):
    group = {"group_id": SALES}
    for trigger in ("report_published", "dataset_published", "report_deleted", "dataset_deleted"):
        first = platform.poll(trigger, f"{trigger}-1", group)
        assert (first["events"], first.get("first")) == ([], True)  # the seed items are there

    # Two reports published together appear at the same moment; both come, one per poll.
    service.publish("North")
    service.publish("South")
    emu.advance_clock(11)
    one = platform.poll("report_published", "report_published-1", {**group, "max_events": 1})
    two = platform.poll("report_published", "report_published-1", group)
    assert data(one, "report_name") + data(two, "report_name") == ["North", "South"]
    assert one["more"] is True
    datasets = platform.poll("dataset_published", "dataset_published-1", group)
    assert data(datasets, "dataset_name") == ["North", "South"]
    assert data(datasets, "refreshable") == [True, True]
    pushed = service.push_dataset("Live")
    created = platform.poll("dataset_published", "dataset_published-1", group)
    assert data(created, "dataset_id") == [pushed]
    assert data(created, "push") == [True]

    # What appeared is known to the deleted triggers once they polled after it.
    assert platform.poll("dataset_deleted", "dataset_deleted-1", group)["events"] == []
    # A deleted report's event holds what it was when last seen.
    kept = platform.poll("report_deleted", "report_deleted-1", group)["cursor"]
    reports = service.items("reports")
    service.delete("reports", reports["North"])
    gone = platform.poll("report_deleted", "report_deleted-1", group)
    assert data(gone, "report_name") == ["North"]
    assert ids(gone) == [f"report_deleted:{reports['North']}"]
    repeated = platform.poll("report_deleted", "report_deleted-1", group, cursor=kept)
    assert repeated == gone
    assert platform.poll("report_deleted", "report_deleted-1", group)["events"] == []

    # Deleting a dataset deletes its reports too: both triggers say so.
    service.delete("datasets", service.items("datasets")["South"])
    assert data(platform.poll("dataset_deleted", "dataset_deleted-1", group), "dataset_name") == [
        "South"
    ]
    assert data(platform.poll("report_deleted", "report_deleted-1", group), "report_name") == [
        "South"
    ]
    # Nothing was given twice to the publish subscriptions either.
    assert platform.poll("report_published", "report_published-1", group)["events"] == []


def test_a_lost_answer_comes_again_for_the_workspace_triggers(emu, platform, service):
    """The cursor repeat for the triggers the tests above do not repeat a poll of."""
    group = {"group_id": SALES}
    gone = service.push_dataset("Gone")
    watched = ("refresh_completed", "report_published", "dataset_published", "dataset_deleted")
    kept = {}
    for trigger in watched:
        first = platform.poll(trigger, f"{trigger}-lost", group)
        assert (first["events"], first.get("first")) == ([], True)
        kept[trigger] = first["cursor"]
    service.publish("East")
    emu.advance_clock(11)  # the import ends: a report and a refreshable dataset
    east = service.items("datasets")["East"]
    service.delete("datasets", gone)
    # Two refreshes that end at the same moment: both completed events come, one per poll.
    at = emu.advance_clock(0)
    emu.schedule_refresh(SALES_DATASET, at=at)
    emu.schedule_refresh(east, at=at)
    emu.advance_clock(120)
    one = platform.poll("refresh_completed", "refresh_completed-lost", {**group, "max_events": 1})
    two = platform.poll("refresh_completed", "refresh_completed-lost", group)
    assert one["more"] is True
    assert sorted(data(one, "dataset_id") + data(two, "dataset_id")) == sorted(
        [SALES_DATASET, east]
    )
    assert one["events"][0]["at"] == two["events"][0]["at"]
    # The platform lost both answers: from the cursor it kept, the same events, the same ids.
    again = platform.poll(
        "refresh_completed", "refresh_completed-lost", group, cursor=kept["refresh_completed"]
    )
    assert again["events"] == one["events"] + two["events"]
    expected = {
        "report_published": ("report_name", ["East"]),
        "dataset_published": ("dataset_name", ["East"]),
        "dataset_deleted": ("dataset_name", ["Gone"]),
    }
    for trigger, (field, names) in expected.items():
        got = platform.poll(trigger, f"{trigger}-lost", group)
        assert data(got, field) == names, trigger
        repeated = platform.poll(trigger, f"{trigger}-lost", group, cursor=kept[trigger])
        assert repeated == got, trigger
        assert platform.poll(trigger, f"{trigger}-lost", group)["events"] == [], trigger
    assert platform.poll("refresh_completed", "refresh_completed-lost", group)["events"] == []


# -- audit events ----------------------------------------------------------------------------

# A poll asks the activity log for the time since the last one, by the worker's clock: these
# tests use an emulator whose clock is never moved ahead of it (an import ends at once).


@pytest.fixture
def live(tmp_path) -> Iterator[tuple[Any, Platform]]:
    with running(seed=13) as handle:
        handle.set_flows(activity={"events_per_day": 0}, imports={"seconds": 0})
        polling = Platform(handle, f"sqlite:///{tmp_path / 'state.sqlite3'}")
        yield handle, polling
        polling.secrets_kept()


def test_audit_events_of_given_activities_come_once_in_order(live):
    emu, platform = live
    service = Service(emu)
    before = emu.record_activity("DeleteReport", report_id=SALES_REPORT)  # not watched yet
    inputs = {"activities": ["DeleteReport", "import"]}
    assert platform.poll("new_audit_events", "audit-1", inputs)["first"] is True

    # Two events at the very same second: both come, once each.
    pair = emu.record_activity(
        "DeleteReport", count=2, report_id=SALES_REPORT, user_id="adele.vance@contoso.com"
    )
    emu.record_activity("ViewReport", report_id=SALES_REPORT)  # another activity: left out
    seq = last_seq(emu)
    one = platform.poll("new_audit_events", "audit-1", {**inputs, "max_events": 1})
    two = platform.poll("new_audit_events", "audit-1", inputs)
    assert sorted(ids(one) + ids(two)) == sorted(f"new_audit_events:{e['Id']}" for e in pair)
    assert one["events"][0]["at"] == two["events"][0]["at"] == pair[0]["CreationTime"]
    assert data(one, "UserId") == ["adele.vance@contoso.com"]
    [asked, *_] = [e for e in emu.requests(kind="api", since=seq) if "activityevents" in e["path"]]
    window = asked["query"]
    start, end = window["startDateTime"], window["endDateTime"]
    assert start.startswith("'")
    assert end.endswith("Z'")
    assert start[1:11] == end[1:11]  # one UTC day, as the service requires

    # What the service's own operations do is audited too: deleting a report, an import.
    kept = two["cursor"]
    service.delete("reports", SALES_REPORT)
    service.publish("Audited")
    service.items("reports")  # the import has ended: the next request sees what it made
    service.close()
    lost = platform.poll("new_audit_events", "audit-1", inputs)
    # (One second's events come in the order of their ids: which of the two is first is not set.)
    assert sorted(data(lost, "Activity")) == ["DeleteReport", "Import"]
    [deleted] = [e["data"] for e in lost["events"] if e["data"]["Activity"] == "DeleteReport"]
    assert deleted["ReportName"] == "Sales Pipeline"
    # The same events again (the window, and so the cursor after it, reaches a later now).
    again = platform.poll("new_audit_events", "audit-1", inputs, cursor=kept)
    assert again["events"] == lost["events"]
    assert platform.poll("new_audit_events", "audit-1", inputs)["events"] == []
    in_order(one["events"] + two["events"] + lost["events"])

    # Since a moment before all of it, without a filter: everything, the first one included.
    everything = platform.poll(
        "new_audit_events", "audit-2", {"since": iso(emu.advance_clock(0) - 900)}
    )
    activities = data(everything, "Activity")
    # The first one is there; it shares its second with the pair, and one second's events come
    # in the order of their ids.
    assert f"new_audit_events:{before[0]['Id']}" in ids(everything)
    assert activities.count("ViewReport") == 1
    in_order(everything["events"])


def test_audit_events_since_older_than_the_service_keeps_are_refused(live):
    _, platform = live
    old = iso(dt.datetime.now(dt.UTC).timestamp() - 31 * 86400)
    response, code = platform.invoke(
        platform.request("new_audit_events", "audit-3", {"since": old})
    )
    assert code == 2
    assert response["error"]["type"] == "invalid_input"
    assert response["error"]["details"] == [
        {"field": "since", "message": "is too old for the service"}
    ]


# -- push jobs ---------------------------------------------------------------------------------


def test_pushes_that_finished_come_from_the_job_ledger(emu, platform, service):
    dataset = service.push_dataset("Pushed")
    watched = {"dataset_id": dataset}
    assert platform.poll("push_job_finished", "jobs-1", watched)["first"] is True

    def push(job_id: str, rows: int) -> dict[str, Any]:
        request = {
            "action": "create_rows",
            "inputs": {
                "group_id": SALES,
                "dataset_id": dataset,
                "table_name": "T",
                "columns": [{"name": "A", "dataType": "String"}],
                "rows": [{"A": str(i)} for i in range(rows)],
                "job_id": job_id,
            },
            "connection": platform.connection,
        }
        response, _ = platform.invoke(request)
        return response

    assert push("job-1", 3)["ok"]
    assert push("job-2", 5)["ok"]
    emu.set_fault(path=r"/rows$", method="POST", status=400, count=1)
    assert push("job-3", 2)["error"]["type"] == "http_error"
    seq = last_seq(emu)
    events = platform.poll("push_job_finished", "jobs-1", watched)
    assert data(events, "job_id") == ["job-1", "job-2", "job-3"]
    assert data(events, "state") == ["done", "done", "stopped"]
    assert data(events, "committed") == [3, 5, 0]
    assert data(events, "rows") == [3, 5, 2]
    assert ids(events)[0] == "push_job_finished:job-1/1"
    assert emu.requests(kind="api", since=seq) == []  # the ledger, not the service
    in_order(events["events"])
    first = events["events"][0]["data"]
    assert (first["dataset_id"], first["table_name"], first["group_id"]) == (dataset, "T", SALES)
    assert first["batches"] == 1
    started, ended = (dt.datetime.fromisoformat(first[k]) for k in ("started_at", "ended_at"))
    assert started <= ended <= dt.datetime.now(dt.UTC)

    # The stopped job sent again ends a second time: a new event of the same job.
    kept = events["cursor"]
    assert push("job-3", 2)["ok"]
    again = platform.poll("push_job_finished", "jobs-1", watched)
    assert data(again, "job_id") == ["job-3"]
    assert data(again, "state") == ["done"]
    assert ids(again) == ["push_job_finished:job-3/2"]
    assert platform.poll("push_job_finished", "jobs-1", watched, cursor=kept) == again
    # A subscription of the stopped ones only, from long ago: the ledger holds each job's
    # last ending, so job-3 (now done) is not one of them.
    emu.set_fault(path=r"/rows$", method="POST", status=400, count=1)
    assert push("job-4", 1)["error"]["type"] == "http_error"
    stopped_only = {**watched, "state": "stopped", "since": "2000-01-01T00:00:00Z"}
    assert data(platform.poll("push_job_finished", "jobs-2", stopped_only), "job_id") == ["job-4"]


# -- the command for people, and a subscription's inputs -------------------------------------


def test_a_subscription_follows_one_set_of_inputs(platform):
    platform.poll("report_published", "mine", {"group_id": SALES})
    other = platform.request("report_published", "mine", {"group_id": SEED_IDS["operations"]})
    response, code = platform.invoke(other)
    assert code == 2
    assert response["error"]["type"] == "invalid_request"
    assert response["error"]["details"] == [
        {"field": "subscription", "message": "follows other inputs"}
    ]
    # Per-poll inputs (max_events, the call's timeout) are not what it follows.
    assert platform.poll("report_published", "mine", {"group_id": SALES, "max_events": 5})


def test_watch_prints_each_event_once_for_people(emu, platform, service, tmp_path):
    connection = tmp_path / "emulator-sp.json"
    connection.write_text(json.dumps(platform.connection), encoding="utf-8")
    watch = ["watch", "report_published", f"group_id={SALES}", "--connection", str(connection)]
    named = [*watch, "--subscription", "desk", "--once"]
    started = platform.run(named, "")
    assert started.returncode == 0, started.stderr
    assert started.stdout == "no new events (subscription desk)\n"
    service.publish("Quarterly")
    emu.advance_clock(11)
    shown = platform.run(named, "")
    assert shown.returncode == 0, shown.stderr
    head, *facts = shown.stdout.splitlines()
    assert "When a Report Is Published" in head
    assert head.endswith(f"report_published:{service.items('reports')['Quarterly']}")
    assert "  report_name  Quarterly" in facts
    assert platform.run(named, "").stdout == "no new events (subscription desk)\n"
    as_json = platform.run([*named, "--json"], "")
    assert json.loads(as_json.stdout)["result"]["events"] == []
    # A watch that cannot go on says so once, and stops (a caller's mistake: exit 2).
    typo = platform.run(["watch", "report_publish", "--once"], "")
    assert typo.returncode == 2
    assert "did you mean 'report_published'?" in typo.stderr
    assert typo.stdout == ""
    since = platform.run([*watch, "--since", "2024-05-01T00:00:00Z", "--once"], "")
    assert since.returncode == 2
    assert "--since" in since.stderr
