"""End to end: the Fabric pack's actions through the real command against the Fabric emulator.

Each step is one `connectorkit invoke --pack packs/fabric` subprocess over loopback HTTP, signed
in as the emulator's service principal: a listing followed through its continuation links, a
job instance run to its end, a long-running operation polled to its result.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_envelope

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from fabric_emulator import SEED_IDS

WORKSPACE = SEED_IDS["sales_workspace"]
NOTEBOOK = SEED_IDS["sales_notebook"]


@pytest.fixture
def connectorkit_pack_dir():
    return ROOT / "packs" / "fabric"


@pytest.fixture
def pack_emulator_args():
    """The Fabric emulator's operations and jobs take two emulated seconds."""
    return ["--operation-seconds", "2", "--job-seconds", "2", "--quiet"]


@pytest.fixture
def act(pack_emulator, invoke_command):
    """Run one action through `connectorkit invoke` as the emulator's service principal."""
    connection = pack_emulator.connection(
        "client_credentials",
        tenant_id=pack_emulator.urls["tenant"],
        client_id="connectorkit-demo",
        client_secret="demo-secret",
    )

    def run(action, **inputs):
        done = invoke_command({"action": action, "inputs": inputs, "connection": connection})
        assert_envelope(done.response)
        assert done.response["ok"], (action, done.response.get("error"))
        assert done.exit_code == 0
        return done.response

    return run


def control(pack_emulator, method, path, **body):
    import httpx  # noqa: PLC0415

    answer = httpx.request(method, f"{pack_emulator.urls['url']}/_emulator/{path}", json=body)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def test_a_listing_is_followed_through_its_continuation_links(pack_emulator, act):
    for name in ("North", "South", "East"):
        act("create_item", workspace_id=WORKSPACE, display_name=name, type="Notebook")
    first = act("list_items", workspace_id=WORKSPACE)["result"]
    assert len(first["value"]) == 6  # one page of the emulator's 100
    every = act("list_items", workspace_id=WORKSPACE, all_pages=True, max_items=4)["result"]
    assert [i["displayName"] for i in every["value"]][:4] == [
        "SalesLakehouse", "Daily refresh", "Nightly load", "North",
    ]  # fmt: skip
    assert every["continuation"]


def test_a_job_instance_runs_to_its_end(pack_emulator, act):
    response = act(
        "run_on_demand_item_job",
        workspace_id=WORKSPACE,
        item_id=NOTEBOOK,
        job_type="RunNotebook",
        max_retry_wait_ms=120_000,
    )
    job = response["result"]
    assert (job["status"], job["jobType"], job["itemId"]) == ("Completed", "RunNotebook", NOTEBOOK)
    assert response["meta"]["operation"]["polls"] >= 1
    log = control(pack_emulator, "GET", "requests?kind=api")["value"]
    polled = [e for e in log if e["method"] == "GET" and "/jobs/instances/" in e["path"]]
    assert [e["status"] for e in polled][-1] == 200


def test_a_long_running_operation_is_polled_to_its_result(pack_emulator, act):
    response = act("get_item_definition", workspace_id=WORKSPACE, item_id=NOTEBOOK)
    assert "definition" in response["result"]
    log = control(pack_emulator, "GET", "requests?kind=api")["value"]
    paths = [e["path"] for e in log]
    assert any(p.endswith("/result") for p in paths)
