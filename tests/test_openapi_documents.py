"""import-openapi on documents as real services publish them: several files that refer to each
other, examples in files of their own, query flags in path keys, pages and long-running
operations; several documents into one pack in one run. Then the Fabric pack, made this way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from connectorkit.authoring.openapi._import import import_openapi

FABRIC = ROOT / "packs" / "fabric"
# Two item documents, an admin one, definitions and examples in files of their own (one named
# `../Common/...`, in another case than the folder), as a service publishes them.
SAMPLE = ROOT / "tests" / "data" / "multi-document-pack"


@pytest.fixture
def pack(tmp_path):
    root = tmp_path / "pack"
    shutil.copytree(SAMPLE, root)
    (root / "actions").mkdir()
    return root


def action(pack, key):
    return yaml.safe_load((pack / "actions" / f"{key}.yaml").read_text())


def connectorkit(*args):
    return subprocess.run(
        [sys.executable, "-m", "connectorkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_listed_document_is_imported_in_one_run_with_every_reference_resolved(pack):
    done = connectorkit("import-openapi", "--pack", str(pack))
    assert done.returncode == 0, done.stderr
    assert "could not be resolved" not in done.stderr
    keys = sorted(p.stem for p in (pack / "actions").glob("*.yaml"))
    assert keys == [
        "list_items",
        "list_items_as_admin",
        "list_lakehouse_livy_sessions",
        "list_notebook_livy_sessions",
        "load_table",
        "load_table_beta",
        "run_on_demand_item_job",
    ]
    listing = action(pack, "list_items")
    assert listing["openapi"]["operations"] == ["openapi/lakehouse/swagger.json#Items_ListItems"]
    assert (listing["label"], listing["group"]) == ("List Items", "Lakehouse: Items")
    item = listing["returns"]["properties"]["value"]["items"]["properties"]
    assert item["type"]["enum"] == ["Lakehouse", "Notebook"]  # from ../common/, read relative
    admin = action(pack, "list_items_as_admin")
    assert (admin["label"], admin["group"]) == ("List Items As Admin", "Admin: Items")
    assert admin["request"]["path"] == "/admin/workspaces/{workspace_id}/items"
    checked = connectorkit("validate", str(pack))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_query_flag_is_sent_by_the_action_and_shown_by_its_example(pack):
    import_openapi(None, pack)
    beta = action(pack, "load_table_beta")
    assert beta["request"]["query"] == {"beta": "true"}
    assert "beta" not in [i.get("key") for i in beta["inputs"]]  # a flag is no input
    [example] = beta["examples"]
    assert example["request"]["query"] == {"beta": "true"}
    assert example["request"]["body"] == {"relativePath": "Files/in/sales.csv", "mode": "Append"}
    assert example["response"]["headers"]["Location"] == "https://api.example.com/v1/operations/1"


def test_pages_and_long_running_operations_are_declared(pack):
    import_openapi(None, pack)
    assert action(pack, "list_items")["pages"] == {"items": "value", "next_url": "continuationUri"}
    polled = action(pack, "load_table")["long_running"]
    assert polled["keep"] == {"location": "{$headers.Location}"}
    assert polled["poll"] == {"url": "{location}"}
    assert polled["status"]["succeeded"] == ["Succeeded", "Completed"]
    job = action(pack, "run_on_demand_item_job")
    assert job["long_running"]["started"] == [202]  # its Location is only described
    assert "long_running" not in action(pack, "list_lakehouse_livy_sessions")


def test_a_second_run_changes_nothing_and_keeps_what_an_author_wrote(pack):
    import_openapi(None, pack)
    path = pack / "actions" / "load_table.yaml"
    edited = action(pack, "load_table")
    edited["label"] = "Load a CSV file into a table"
    edited["inputs"][0]["comments"] = "The workspace, as List Workspaces gives it."
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    definitions = pack / "openapi" / "lakehouse" / "definitions.json"
    changed = json.loads(definitions.read_text())
    changed["definitions"]["LoadTableRequest"]["properties"]["mode"]["enum"].append("Merge")
    definitions.write_text(json.dumps(changed))  # the document moved on
    report = import_openapi(None, pack)
    assert (report.created, report.updated) == ([], ["load_table", "load_table_beta"])
    assert action(pack, "load_table")["inputs"][-1]["enum"] == ["Overwrite", "Append", "Merge"]
    again = action(pack, "load_table")
    assert again["label"] == "Load a CSV file into a table"
    assert again["inputs"][0]["comments"] == "The workspace, as List Workspaces gives it."
    report = import_openapi(None, pack)
    assert (report.created, report.updated) == ([], [])


@pytest.mark.slow
def test_the_shipped_fabric_pack_is_what_the_importer_makes(tmp_path):
    copy = tmp_path / "fabric"
    shutil.copytree(FABRIC, copy)
    report = import_openapi(None, copy)
    assert report.operations == 725
    assert (report.created, report.updated, report.curated) == ([], [], [])
    assert len(report.unchanged) == 725
    # Every reference resolved; one operation is written twice.
    repeat = "openapi/sqlEndpoint/swagger_refreshMetadata.json#Items_RefreshSqlEndpointMetadata"
    said = (
        f"{repeat} repeats openapi/sqlEndpoint/swagger.json#Items_RefreshSqlEndpointMetadata;"
        " its action stands for both"
    )
    # Two operations answer 202 with nothing in the documents that says where to poll.
    unfollowed = [
        f"Workspaces_{name}: answers 202 (started, not done) and the document does not say how to "
        f"follow it: {key} needs a long_running block written by hand"
        for name, key in (
            ("AssignToCapacity", "assign_to_capacity"),
            ("UnassignFromCapacity", "unassign_from_capacity"),
        )
    ]
    assert report.notes == [said, *unfollowed]
