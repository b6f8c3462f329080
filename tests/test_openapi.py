"""import-openapi: OpenAPI 2 and 3 to action files, in the pack's style, re-runnable."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import PACK, ROOT, copy_pack
from connectorkit.authoring.openapi._import import import_openapi
from connectorkit.authoring.openapi._naming import DEFAULT_VERBS, title
from connectorkit.pack._load import load_pack

SWAGGER = PACK / "openapi" / "powerbi-swagger.json"
PETSTORE = ROOT / "tests" / "data" / "petstore.openapi.yaml"


def power_bi_copy(tmp_path):
    pack = copy_pack(tmp_path / "pack")
    shutil.copytree(PACK / "openapi", pack / "openapi")
    return pack


def action(pack, key):
    return yaml.safe_load((pack / "actions" / f"{key}.yaml").read_text())


def test_the_keys_of_the_hand_written_actions_come_out_of_their_operation_ids():
    # The naming style is the pack's own: these are the nine seeds' keys.
    expected = {
        "Datasets_GetDatasets": "list_datasets",
        "Datasets_PostDataset": "create_dataset",
        "Datasets_PostRows": "create_rows",
        "Datasets_DeleteRows": "delete_rows",
        "Datasets_PutTable": "update_table",
        "Datasets_GetTables": "list_tables",
        "Groups_GetGroups": "list_groups",
        "Reports_GetReports": "list_reports",
        "Datasets_GetRefreshHistory": "get_refresh_history",
        "Admin_GetPowerBIEncryptionKeys": "list_power_bi_encryption_keys",
        "Goals_(Preview)_GetByID": "get_goal",
        "listPets": "list_pets",
    }
    for op_id, key in expected.items():
        tag = op_id.split("_")[0] if "_" in op_id else "pets"
        assert "_".join(w.lower() for w in title(op_id, tag, DEFAULT_VERBS)) == key, op_id


@pytest.mark.slow
def test_the_shipped_pack_is_what_the_importer_makes(tmp_path):
    pack = power_bi_copy(tmp_path)
    report = import_openapi(SWAGGER, pack)
    assert report.operations == 286
    # Nothing to write: the shipped files are the importer's output (with their curated edits).
    assert (report.created, report.updated) == ([], [])
    assert len(report.unchanged) == 219
    # The hand-written actions stand for 15 operations and are never touched.
    assert sorted(set(report.curated)) == [
        "create_dataset",
        "create_rows",
        "delete_rows",
        "list_datasets",
        "list_groups",
        "list_reports",
        "list_tables",
        "update_table",
    ]


def test_my_workspace_and_in_group_become_one_action_with_an_optional_group_id():
    refresh = action(PACK, "refresh_dataset")
    assert refresh["openapi"]["operations"] == [
        "Datasets_RefreshDataset",
        "Datasets_RefreshDatasetInGroup",
    ]
    assert refresh["request"]["path"] == "[/groups/{group_id}]/datasets/{dataset_id}/refreshes"
    assert {"use": "group_id"} in refresh["inputs"]
    # Where only the workspace form exists, the group is a required input like any other.
    dataflows = action(PACK, "list_dataflows")
    assert dataflows["request"]["path"] == "/groups/{group_id}/dataflows"
    assert {"use": "group_id", "required": True} in dataflows["inputs"]


def test_parameters_become_typed_inputs_and_responses_a_result_shape():
    refresh = action(PACK, "refresh_dataset")
    inputs = {i.get("key") or i["use"]: i for i in refresh["inputs"]}
    assert inputs["notify_option"]["enum"] == [
        "NoNotification",
        "MailOnFailure",
        "MailOnCompletion",
    ]
    assert inputs["effective_date"]["format"] == "date-time"
    assert inputs["objects"]["items"]["properties"]["table"]["type"] == "string"
    assert inputs["dataset_id"] == {"use": "dataset_id", "required": True}
    assert refresh["request"]["body"]["notifyOption"] == "{notify_option}"
    history = action(PACK, "get_dataset_refresh_history")
    assert history["request"].get("query") == {"$top": "{top}"}
    assert history["returns"]["properties"]["value"]["type"] == "array"
    assert "Dataset.ReadWrite.All" in history["description"]


@pytest.mark.slow
def test_a_rerun_renews_the_structure_and_keeps_what_the_author_wrote(tmp_path):
    pack = power_bi_copy(tmp_path)
    path = pack / "actions" / "refresh_dataset.yaml"
    data = yaml.safe_load(path.read_text())
    data["label"] = "Refresh a Dataset Now"
    notify = next(i for i in data["inputs"] if i.get("key") == "notify_option")
    notify["comments"] = "Who hears about it."
    notify["default"] = "MailOnFailure"
    data["examples"] = data["examples"][:1]
    data["request"]["path"] = "/wrong"  # a generated field: the document wins
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    # The document gains a value in an enum and a query parameter.
    swagger = json.loads(SWAGGER.read_text())
    definition = swagger["definitions"]["DatasetRefreshRequest"]["properties"]["notifyOption"]
    definition["enum"].append("MailOnEverything")
    operation = swagger["paths"]["/v1.0/myorg/datasets/{datasetId}/refreshes"]["post"]
    operation["parameters"].append(
        {"name": "priority", "in": "query", "type": "integer", "minimum": 1, "maximum": 9}
    )
    changed = tmp_path / "powerbi-swagger.json"
    changed.write_text(json.dumps(swagger))

    report = import_openapi(changed, pack, operation_ids=("Datasets_RefreshDataset",))
    assert report.updated == ["refresh_dataset"]
    after = yaml.safe_load(path.read_text())
    assert after["label"] == "Refresh a Dataset Now"
    assert len(after["examples"]) == 1
    assert after["request"]["path"] == "[/groups/{group_id}]/datasets/{dataset_id}/refreshes"
    assert after["request"]["query"] == {"priority": "{priority}"}
    inputs = {i.get("key") or i["use"]: i for i in after["inputs"]}
    assert inputs["notify_option"]["comments"] == "Who hears about it."
    assert inputs["notify_option"]["default"] == "MailOnFailure"
    assert inputs["notify_option"]["enum"][-1] == "MailOnEverything"
    assert (inputs["priority"]["minimum"], inputs["priority"]["maximum"]) == (1, 9)
    # The document it came from is stored in the pack for the conformance suite.
    assert json.loads((pack / "openapi" / "powerbi-swagger.json").read_text()) == swagger
    assert "refresh_dataset" in load_pack(pack).actions


def test_openapi_3_with_what_it_cannot_say_reported(tmp_path):
    pack = tmp_path / "pets"
    (pack / "actions").mkdir(parents=True)
    (pack / "connector.yaml").write_text("key: pets\nlabel: Pets\ndescription: d\n")
    report = import_openapi(PETSTORE, pack)
    assert report.operations == 5
    assert sorted(report.created) == [
        "create_pet",
        "delete_pet",
        "get_pet_by_id",
        "get_pet_photo",
        "list_pets",
    ]
    notes = set(report.notes)
    assert (
        "createPet: request body as multipart/form-data is not supported; only JSON is sent"
        in notes
    )
    assert "deletePet: cookie parameter 'session' is not supported; left out" in notes
    assert any("'oneOf' is not supported" in n for n in notes)
    created = action(pack, "create_pet")
    inputs = {i["key"]: i for i in created["inputs"]}
    assert inputs["name"] == {
        "key": "name",
        "label": "Name",
        "type": "string",
        "required": True,
        "comments": "The pet's name.",
        "min_length": 1,
        "max_length": 50,
    }
    assert inputs["owner"]["type"] == "json"  # the oneOf: any value
    assert created["returns"]["properties"]["id"]["type"] == "string"  # allOf folded in
    listed = action(pack, "list_pets")
    assert listed["request"] == {
        "method": "GET",
        "path": "/pets",
        "query": {"limit": "{limit}", "status": "{status}"},
    }
    assert action(pack, "delete_pet")["request"]["headers"] == {"X-Reason": "{x_reason}"}
    assert action(pack, "get_pet_photo")["result"] == {"encoding": "base64"}
    connector = yaml.safe_load((pack / "connector.yaml").read_text())
    assert connector["openapi"] == {"document": "openapi/petstore.openapi.yaml", "base_path": "/v1"}
