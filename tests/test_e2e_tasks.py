"""End to end: the Power BI user's common tasks, through the real command against the emulator.

Uses the pytest plugin's own fixtures (`pack_emulator`, `invoke_command`): each step is one
`connectorkit invoke` subprocess over loopback HTTP, as a platform would run it.
"""

from __future__ import annotations

import base64

import pytest

from conftest import assert_envelope

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import SEED_IDS

WORKSPACE = SEED_IDS["sales_analytics"]
DATASET = SEED_IDS["sales_dataset"]
REPORT = SEED_IDS["sales_report"]


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
        return done.response["result"]

    return run


def test_refresh_a_dataset_and_read_its_refresh_history(act):
    act("refresh_dataset", dataset_id=DATASET, group_id=WORKSPACE, notify_option="NoNotification")
    history = act("get_dataset_refresh_history", dataset_id=DATASET, group_id=WORKSPACE, top=5)
    assert history["value"], history
    assert history["value"][0]["status"] in {"Unknown", "Completed", "Failed", "Disabled"}


def test_list_dashboards_and_their_tiles(act):
    made = act("add_dashboard", name="Operations board", group_id=WORKSPACE)
    boards = act("list_dashboards", group_id=WORKSPACE)
    assert made["id"] in [b["id"] for b in boards["value"]]
    tiles = act("list_dashboard_tiles", dashboard_id=made["id"], group_id=WORKSPACE)
    assert tiles["value"] == []


def test_get_and_clone_a_report(act):
    report = act("get_report", report_id=REPORT, group_id=WORKSPACE)
    assert report["id"] == REPORT
    copy = act("clone_report", report_id=REPORT, group_id=WORKSPACE, name="Sales (copy)")
    assert copy["id"] != REPORT
    assert act("get_report", report_id=copy["id"], group_id=WORKSPACE)["name"] == "Sales (copy)"


def test_export_a_report_to_a_file(act):
    # One call: the export started, polled until it succeeds, its file downloaded.
    exported = act("export_to_file", report_id=REPORT, group_id=WORKSPACE, format="PDF")
    assert exported["encoding"] == "base64"
    assert base64.b64decode(exported["data"]).startswith(b"%PDF")
    pbix = act("export_report", report_id=REPORT, group_id=WORKSPACE)
    assert pbix["encoding"] == "base64"
    assert base64.b64decode(pbix["data"])


def test_generate_an_embed_token(act):
    token = act("generate_report_token", report_id=REPORT, group_id=WORKSPACE, access_level="View")
    assert token["token"]
    assert token["expiration"]


def test_take_over_a_dataset_and_update_its_parameters(act):
    act("take_dataset_over", dataset_id=DATASET, group_id=WORKSPACE)
    parameters = act("list_parameters", dataset_id=DATASET, group_id=WORKSPACE)["value"]
    assert parameters, "the seeded dataset has parameters"
    name = parameters[0]["name"]
    act(
        "update_parameters",
        dataset_id=DATASET,
        group_id=WORKSPACE,
        update_details=[{"name": name, "newValue": "changed"}],
    )
    after = act("list_parameters", dataset_id=DATASET, group_id=WORKSPACE)["value"]
    assert {p["name"]: p["currentValue"] for p in after}[name] == "changed"
