"""End to end: the six Power BI flows of more than one request, through the real command.

Each test runs ``connectorkit`` (``invoke``, ``run``, ``operations``) in a subprocess against the
emulator over loopback HTTP. The emulator's clock runs ``SCALE`` times faster and the command
is told so (``CONNECTORKIT_LIMITS_TIME_SCALE``), so an operation of minutes ends in a second; a
service's ``Retry-After`` is in real seconds either way. The assertions look at both sides: the
envelope and exit code, and what the service saw (its request log) and holds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

import test_e2e
from powerbi_emulator import SEED_IDS, running
from powerbi_emulator._flows._settings import FlowSettings
from test_e2e import COMMAND, Cli

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SCALE = 60.0
SALES = SEED_IDS["sales_analytics"]
OPERATIONS = SEED_IDS["operations"]
REPORT = SEED_IDS["sales_report"]
DATASET = SEED_IDS["sales_dataset"]
PIPELINE = "9d1e11e5-0000-4000-8000-000000000001"
# Quick flows: exports poll every real second (the least Retry-After), the rest as the service.
FLOWS = {"exports": {"poll_seconds": 1}}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The command runner on a faster clock; after the test, the secret scan over its runs."""
    monkeypatch.setitem(test_e2e.ENV, "CONNECTORKIT_LIMITS_TIME_SCALE", str(SCALE))
    runner = Cli(tmp_path)
    yield runner
    assert runner.leaks() == []


@pytest.fixture
def emu(cli: Cli) -> Iterator[Any]:
    with running(
        time_scale=SCALE, token_lifetime=10**7, flows=FlowSettings.from_mapping(FLOWS)
    ) as handle:
        yield cli.attach(handle)


@pytest.fixture
def state(tmp_path: Path) -> str:
    """One state store for every command of a test (handles live there)."""
    return f"sqlite:///{tmp_path / 'state.sqlite3'}"


def invoke(cli: Cli, request: dict[str, Any], state: str) -> test_e2e.Run:
    return cli.run(["invoke", "--state", state], json.dumps(request))


def pbix(size: int) -> bytes:
    """A zip of about ``size`` bytes (random, so it does not compress): a .pbix to the service."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("DataModel", os.urandom(size))
        archive.writestr("Report/Layout", b'{"sections": []}')
    return buffer.getvalue()


def api_log(run: test_e2e.Run) -> list[tuple[str, str, int | None]]:
    return [(m, p.removeprefix("/v1.0/myorg"), s) for m, p, s in run.api()]


# -- publish ---------------------------------------------------------------------------------


def test_a_1_mb_pbix_is_published_then_listed(cli, emu, tmp_path, state):
    data = pbix(1 << 20)
    (tmp_path / "Quarterly Sales.pbix").write_bytes(data)
    connection = tmp_path / "app.json"
    connection.write_text(json.dumps(cli.app()))
    run = cli.run(
        [
            "run", "publish_report", "file=@Quarterly Sales.pbix", f"group_id={SALES}",
            "name_conflict=Abort", "--connection", str(connection), "--state", state, "--json",
        ],
        "",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    result = run.result
    assert set(result) >= {"import_id", "report_id", "dataset_id", "name"}
    assert result["name"] == "Quarterly Sales"
    posted = next(e for e in run.log if e["method"] == "POST" and e["path"].endswith("/imports"))
    assert posted["query"]["datasetDisplayName"] == "Quarterly Sales.pbix"
    assert posted["upload"]["bytes"] == len(data)
    assert posted["upload"]["sha256"] == hashlib.sha256(data).hexdigest()

    listed = cli.invoke("list_reports", {"group_id": SALES}, cli.app())
    assert result["report_id"] in [r["id"] for r in listed.result["value"]]
    datasets = cli.invoke("list_datasets", {"group_id": SALES}, cli.app())
    assert {"id": result["dataset_id"], "name": "Quarterly Sales"}.items() <= next(
        d for d in datasets.result["value"] if d["id"] == result["dataset_id"]
    ).items()

    again = cli.invoke(
        "publish_report",
        {"file": {"path": str(tmp_path / "Quarterly Sales.pbix")}, "group_id": SALES,
         "name_conflict": "Abort"},
        cli.app(),
    )  # fmt: skip
    assert again.code == 1
    assert (again.error["status"], again.error["code"]) == (409, "DuplicatePackageNameError")


def test_a_large_file_goes_through_the_upload_location_in_blocks(cli, emu, tmp_path, state):
    data = pbix(9 << 20)  # three blocks of 4 MiB
    path = tmp_path / "Big.pbix"
    path.write_bytes(data)
    run = invoke(
        cli,
        {
            "action": "publish_report",
            "inputs": {"file": {"path": str(path)}, "group_id": SALES, "upload_mode": "always"},
            "connection": cli.app(),
        },
        state,
    )
    assert run.code == 0, run.stderr
    blobs = [e for e in run.log if e["kind"] == "blob"]
    assert [e["method"] for e in blobs] == ["PUT"] * 4
    assert [e["upload"]["bytes"] for e in blobs[:3]] == [4 << 20, 4 << 20, len(data) - (8 << 20)]
    assert all(e["status"] == 201 for e in blobs)
    imported = next(e for e in run.log if e["method"] == "POST" and e["path"].endswith("/imports"))
    assert imported["json"]["fileUrl"].startswith(emu.url + "/_blob/")
    listed = cli.invoke("list_datasets", {"group_id": SALES}, cli.app()).result["value"]
    assert "Big" in [d["name"] for d in listed]


# -- refresh ---------------------------------------------------------------------------------


def test_a_refresh_is_followed_to_completed(cli, emu, state):
    run = invoke(
        cli,
        {"action": "refresh_dataset", "inputs": {"dataset_id": DATASET, "group_id": SALES},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.result["status"] == "Completed"
    assert run.response["meta"]["operation"]["status"] == "succeeded"
    polls = [s for m, p, s in api_log(run) if m == "GET" and "/refreshes/" in p]
    assert polls[-1] == 200
    assert set(polls[:-1]) <= {202}


def test_a_failed_refresh_says_why(cli, emu, state):
    emu.set_flows(refreshes={"fail": 1, "error_code": "ModelRefreshFailed_CredentialsNotSpecified"})
    run = invoke(
        cli,
        {"action": "refresh_dataset",
         "inputs": {"dataset_id": DATASET, "group_id": SALES, "type": "Full"},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert run.code == 1
    error = run.error
    assert (error["type"], error["code"]) == (
        "http_error", "ModelRefreshFailed_CredentialsNotSpecified"
    )  # fmt: skip
    assert error["operation"]["status"] == "failed"
    assert error["operation"]["details"][0]["code"] == "ModelRefreshFailed_CredentialsNotSpecified"


# -- export ----------------------------------------------------------------------------------


def export_request(cli: Cli, **inputs: Any) -> dict[str, Any]:
    return {
        "action": "export_to_file",
        "inputs": {"report_id": REPORT, "group_id": SALES, "format": "PDF", **inputs},
        "connection": cli.app(),
    }


def test_an_export_is_polled_with_retry_after_and_saved(cli, emu, tmp_path, state):
    target = tmp_path / "sales.pdf"
    emu.set_fault(path=r"/exports/[^/]+$", method="GET", status=429, retry_after=1, count=1)
    run = invoke(cli, export_request(cli, save_to=str(target)), state)
    assert run.code == 0, run.stderr
    saved = target.read_bytes()
    assert saved.startswith(b"%PDF")
    assert run.result == {
        "saved_to": str(target),
        "size": len(saved),
        "content_type": "application/pdf",
        "sha256": hashlib.sha256(saved).hexdigest(),
    }
    statuses = [s for m, p, s in api_log(run) if m == "GET" and p.split("/")[-2] == "exports"]
    assert statuses[0] == 429  # the throttled poll was polled again, not a failure
    assert statuses[-1] == 200


def test_a_failed_export_is_an_http_error(cli, emu, state):
    emu.set_flows(exports={"fail": 1})
    run = invoke(cli, export_request(cli), state)
    assert run.code == 1
    assert run.error["type"] == "http_error"
    assert run.error["operation"]["status"] == "failed"
    assert not any(p.endswith("/file") for _, p, _ in api_log(run))


def test_a_handle_is_resumed_by_another_process(cli, emu, tmp_path, state):
    started = invoke(cli, export_request(cli, wait=False), state)
    assert started.code == 0, started.stderr
    assert started.result["status"] == "running"
    handle = started.result["operation"]["handle"]
    assert [m for m, _, _ in api_log(started)] == ["POST"]  # started, not polled

    target = tmp_path / "later.pdf"
    resumed = invoke(
        cli,
        {"id": "later", "resume": handle, "inputs": {"save_to": str(target)},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert resumed.code == 0, resumed.stderr
    assert resumed.response["action"] == "export_to_file"
    assert resumed.result["saved_to"] == str(target)
    assert target.read_bytes().startswith(b"%PDF")
    assert not any(m == "POST" for m, _, _ in api_log(resumed))  # nothing started again

    listed = cli.run(["operations", "list", "--state", state, "--json"], "")
    assert [(o["handle"], o["status"]) for o in listed.result] == [(handle, "succeeded")]


def test_a_wait_that_outlives_the_token(cli, tmp_path, state):
    # Tokens of 60 emulated minutes, an export of 90: the token is renewed once on the way.
    flows = FlowSettings.from_mapping({"exports": {"seconds": 5400, "poll_seconds": 1}})
    with running(time_scale=600, token_lifetime=3600, flows=flows) as emu:
        cli.attach(emu)
        request = export_request(cli)
        request["connection"]["values"]["token_leeway"] = 0  # seconds are emulated minutes here
        run = invoke(cli, request, state)
    assert run.code == 0, run.stderr
    assert run.result["encoding"] == "base64"
    assert run.grants() == [("client_credentials", 200)] * 2
    polls = [s for m, p, s in api_log(run) if m == "GET" and p.split("/")[-2] == "exports"]
    assert polls
    assert all(s in (200, 202) for s in polls)


def test_a_token_expired_mid_wait_is_renewed_and_the_wait_goes_on(cli, emu, state):
    emu.set_flows(exports={"seconds": 600})  # ten emulated minutes: ten real seconds
    with subprocess.Popen(
        [str(COMMAND), "invoke", "--state", state],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=test_e2e.ENV,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(export_request(cli)))
        process.stdin.close()
        deadline = time.monotonic() + 30
        while not any("/exports/" in e["path"] for e in emu.requests(kind="api")):
            assert time.monotonic() < deadline, "the command never polled"
            time.sleep(0.05)
        assert emu.expire_tokens() >= 1
        stdout = process.stdout.read()  # the answer comes when the export has ended
        stderr = process.stderr.read() if process.stderr else ""
        process.wait(timeout=60)
    assert process.returncode == 0, stderr
    response = json.loads(stdout)
    assert response["ok"], response
    refused = [e for e in emu.requests(kind="api") if e["status"] == 403]
    assert len(refused) == 1  # the one poll after the expiry, then renewed and sent again
    grants = [e for e in emu.requests() if e["path"].endswith("/token")]
    assert len(grants) == 2


# -- scanner ---------------------------------------------------------------------------------


def test_workspaces_are_scanned_and_merged(cli, emu, state):
    run = invoke(
        cli,
        {"action": "scan_workspaces", "inputs": {"lineage": True, "datasource_details": True},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert sorted(w["id"] for w in run.result["workspaces"]) == sorted([SALES, OPERATIONS])
    log = api_log(run)
    assert next(p for m, p, _ in log if m == "GET") == "/admin/workspaces/modified"
    assert sum(1 for m, p, _ in log if p == "/admin/workspaces/getInfo") == 1
    assert any(p.startswith("/admin/workspaces/scanResult/") for _, p, _ in log)


def test_given_workspaces_are_scanned_in_chunks(cli, emu, state):
    ids = [SALES, OPERATIONS]
    run = invoke(
        cli,
        {"action": "scan_workspaces", "inputs": {"workspaces": ids}, "connection": cli.app()},
        state,
    )
    assert run.code == 0, run.stderr
    assert sorted(w["id"] for w in run.result["workspaces"]) == sorted(ids)
    assert not any(p == "/admin/workspaces/modified" for _, p, _ in api_log(run))


# -- activity events -------------------------------------------------------------------------


def window() -> dict[str, str]:
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400))
    return {"start_date_time": f"'{day}T00:00:00.000Z'", "end_date_time": f"'{day}T23:59:59.999Z'"}


def test_every_page_of_activity_events_is_streamed(cli, emu, state):
    emu.set_flows(activity={"events_per_day": 500, "page_size": 100})
    run = cli.run(
        ["invoke", "--state", state],
        json.dumps({"id": "a", "action": "list_activity_events",
                    "inputs": {**window(), "stream": True}, "connection": cli.app()}),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    lines = run.responses
    items = [line["item"] for line in lines[:-1]]
    assert all(line["id"] == "a" for line in lines)
    assert lines[-1]["result"] == {"items": len(items)}
    assert len(items) == 500
    assert len({i["Id"] for i in items}) == 500
    pages = [p for m, p, _ in api_log(run) if p == "/admin/activityevents"]
    assert len(pages) == lines[-1]["meta"]["pages"] >= 24  # an hour a page at least


def test_paging_interrupted_is_resumed_from_the_continuation(cli, emu, state):
    emu.set_flows(activity={"events_per_day": 300, "page_size": 50})
    whole = invoke(
        cli, {"action": "list_activity_events", "inputs": window(), "connection": cli.app()}, state
    )
    everything = [e["Id"] for e in whole.result["activityEventEntities"]]
    assert len(everything) == 300
    first = invoke(
        cli,
        {"action": "list_activity_events", "inputs": {**window(), "max_items": 125},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    part = [e["Id"] for e in first.result["activityEventEntities"]]
    assert len(part) == 125
    rest = invoke(
        cli,
        {"action": "list_activity_events",
         "inputs": {**window(), "continuation": first.result["continuation"]},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert part + [e["Id"] for e in rest.result["activityEventEntities"]] == everything
    assert "continuation" not in rest.result


# -- deployments -----------------------------------------------------------------------------


ALLOW = {"allowCreateArtifact": True, "allowOverwriteArtifact": True}


def test_deploy_all_is_followed_to_its_end(cli, emu, state):
    run = invoke(
        cli,
        {"action": "deploy_all",
         "inputs": {"pipeline_id": PIPELINE, "source_stage_order": 0, "options": ALLOW,
                    "note": "release 1"},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.result["status"] == "Succeeded"
    assert [s["status"] for s in run.result["executionPlan"]["steps"]] == ["Succeeded"] * 3
    datasets = cli.invoke("list_datasets", {"group_id": OPERATIONS}, cli.app()).result["value"]
    assert [d["name"] for d in datasets] == ["Sales Pipeline"]


def test_a_failed_deployment_says_which_step(cli, emu, state):
    run = invoke(
        cli,
        {"action": "selective_deploy",
         "inputs": {"pipeline_id": PIPELINE, "source_stage_order": 0,
                    "reports": [{"sourceId": REPORT}]},
         "connection": cli.app()},
        state,
    )  # fmt: skip
    assert run.code == 1
    assert run.error["type"] == "http_error"
    assert run.error["operation"]["status"] == "failed"


# -- people at a terminal --------------------------------------------------------------------


def person(cli: Cli, args: list[str]) -> test_e2e.Run:
    """A command whose output is text for people: run, checked for secrets (not kept as JSON)."""
    since = cli.emu.requests()[-1]["seq"] if cli.emu.requests() else 0
    started = time.monotonic()
    done = subprocess.run(
        [str(COMMAND), *args],
        capture_output=True,
        text=True,
        cwd=cli.cwd,
        env=test_e2e.ENV,
        timeout=test_e2e.RUN_TIMEOUT_S,
        check=False,
    )
    log = cli.emu.requests(since=since)
    elapsed = time.monotonic() - started
    run = test_e2e.Run(args, done.returncode, done.stdout, done.stderr, elapsed, log)
    text = done.stdout + done.stderr
    assert "Traceback" not in text, text
    shown = [n[:12] for n in cli.secrets | set(test_e2e.TOKEN_PREFIXES) if n in text]
    assert shown == [], f"{' '.join(args)} shows secrets: {shown}"
    return run


def test_run_no_wait_then_operations_wait_and_cancel(cli, emu, tmp_path, state):
    emu.set_flows(refreshes={"seconds": 3600})  # a minute of real time: it is still running
    connection = tmp_path / "app.json"
    connection.write_text(json.dumps(cli.app()))
    common = ["--connection", str(connection), "--state", state]
    started = person(
        cli,
        ["run", "refresh_dataset", f"dataset_id={DATASET}", f"group_id={SALES}", "--no-wait",
         *common],
    )  # fmt: skip
    assert started.code == 0, started.stderr
    handle = next(w for w in started.stderr.split() if w.startswith("op_"))
    assert f"connectorkit operations wait {handle}" in started.stderr
    assert "running" in started.stdout

    shown = person(cli, ["operations", "show", handle, "--state", state])
    assert f"operation {handle}: refresh_dataset, running" in shown.stdout

    cancelled = cli.run(["operations", "cancel", handle, *common, "--json"], "")
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.result["status"] == "cancelled"
    assert ("DELETE", f"/groups/{SALES}/datasets/{DATASET}/refreshes/", 200) in [
        (m, p.rsplit("/", 1)[0] + "/", s) for m, p, s in api_log(cancelled)
    ]
    waited = person(cli, ["operations", "wait", handle, *common])
    assert waited.code == 1
    assert "operation_cancelled" in waited.stderr


def test_run_shows_an_exports_progress_and_saves_the_file(cli, emu, tmp_path, state):
    emu.set_flows(exports={"seconds": 180})  # three real seconds, polled each second
    connection = tmp_path / "app.json"
    connection.write_text(json.dumps(cli.app()))
    run = person(
        cli,
        ["run", "export_to_file", f"report_id={REPORT}", f"group_id={SALES}", "format=PNG",
         f"save_to={tmp_path / 'page.png'}", "--connection", str(connection), "--state", state],
    )  # fmt: skip
    assert run.code == 0, run.stderr
    progress = [line for line in run.stderr.splitlines() if line.startswith("connectorkit: export")]
    assert any("Running" in line and "%" in line for line in progress), run.stderr
    assert (tmp_path / "page.png").read_bytes()[:4] in (b"\x89PNG", b"PK\x03\x04")
    assert str(tmp_path / "page.png") in run.stdout
