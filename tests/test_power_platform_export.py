"""``connectorkit export power-platform``: a pack as a custom connector, checked against the
schemas Microsoft publishes for the two files, and imported back into the same pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectorkit.authoring.openapi._lenient import read_lenient
from connectorkit.pack._load import load_pack
from test_cli import ck

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "data" / "power_platform"
SCHEMAS = SAMPLES / "schemas"
DOCUMENTS = {
    "apiDefinition.swagger.json": "apiDefinition.swagger.schema.json",
    "apiProperties.json": "paconn-apiProperties.schema.json",
}
# What an export of the Power BI pack does not bring back as it was, and why:
# list_* take the runtime's paging inputs (top, page_offset), which a swagger operation does not
# declare (list_groups' $skip comes back named skip); update_table sends the table's name in
# the path and in the body, which an import makes two inputs.
POWERBI_CHANGED = {"list_datasets", "list_groups", "list_reports", "list_tables", "update_table"}


def _problems(folder: Path) -> list[str]:
    found = []
    for document, schema_file in DOCUMENTS.items():
        schema = read_lenient((SCHEMAS / schema_file).read_text(encoding="utf-8")).value
        value = json.loads((folder / document).read_text(encoding="utf-8"))
        found += [
            f"{document} {list(e.absolute_path)}: {e.message[:200]}"
            for e in jsonschema.Draft4Validator(schema).iter_errors(value)
        ]
    return found


def _export(pack: Path, target: Path) -> dict[str, Any]:
    done = ck("export", "power-platform", str(pack), str(target), "--json", cwd=target.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["result"]
    return result


def _import(folder: Path, pack: Path) -> None:
    done = ck("import", "power-platform", str(folder), "--pack", str(pack), cwd=folder.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def _shape(pack: Path) -> dict[str, Any]:
    """What a round trip keeps: each action's inputs and request, and the connection kinds."""
    loaded = load_pack(pack)
    return {
        "actions": {
            key: (
                sorted(i.key for i in a.inputs if not i.call_input),
                a.request.method,
                a.request.path,
                dict(a.request.query),
                dict(a.request.headers),
                a.request.body,
            )
            for key, a in loaded.actions.items()
        },
        "kinds": sorted((c.type, c.grant or "") for c in loaded.connections.values()),
    }


@pytest.mark.slow
def test_the_power_bi_export_validates_against_microsofts_schemas(tmp_path: Path) -> None:
    result = _export(ROOT / "packs" / "powerbi", tmp_path / "PowerBI")
    assert _problems(tmp_path / "PowerBI") == []
    swagger = json.loads((tmp_path / "PowerBI" / "apiDefinition.swagger.json").read_text())
    assert (swagger["host"], swagger["basePath"], swagger["schemes"]) == (
        "api.powerbi.com",
        "/v1.0/myorg",
        ["https"],
    )
    ops = {op["operationId"]: op for item in swagger["paths"].values() for op in item.values()}
    groups = ops["ListGroups"]
    assert groups["x-ms-visibility"] == "important"
    grouped = ops["ListDatasetsInGroup"]
    assert grouped["parameters"][0]["x-ms-dynamic-values"] == {
        "operationId": "ListGroups",
        "value-path": "id",
        "value-collection": "value",
        "value-title": "name",
    }
    tables = ops["ListTablesInGroup"]
    dataset = next(p for p in tables["parameters"] if p["name"] == "dataset_id")
    assert dataset["x-ms-summary"] == "Dataset ID"
    assert dataset["x-ms-dynamic-values"]["operationId"] == "ListDatasetsInGroup"
    assert dataset["x-ms-dynamic-values"]["parameters"] == {"group_id": {"parameter": "group_id"}}
    props = json.loads((tmp_path / "PowerBI" / "apiProperties.json").read_text())["properties"]
    settings = props["connectionParameters"]["token"]["oAuthSettings"]
    assert settings["identityProvider"] == "aad"
    assert settings["customParameters"]["resourceUri"] == {
        "value": "https://analysis.windows.net/powerbi/api"
    }
    assert swagger["securityDefinitions"]["oauth2"]["tokenUrl"] == (
        "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    )
    # What a custom connector cannot express is named and counted, not dropped.
    assert result["skipped"]["create_rows"] == "batch pushes"
    assert result["skipped"]["raw_request"] == "a hook (code) builds the request"
    assert result["not_exported"]["connection kind managed_identity"] == 1
    assert len(result["actions"]) + len([k for k in result["skipped"] if "/" not in k]) == len(
        load_pack(ROOT / "packs" / "powerbi").actions
    )


@pytest.mark.slow
def test_the_power_bi_export_imports_back_into_the_same_pack(tmp_path: Path) -> None:
    result = _export(ROOT / "packs" / "powerbi", tmp_path / "PowerBI")
    _import(tmp_path / "PowerBI", tmp_path / "back")
    before, after = _shape(ROOT / "packs" / "powerbi"), _shape(tmp_path / "back")
    exported = set(result["actions"])
    assert set(after["actions"]) == exported
    changed = {k for k in exported if before["actions"][k] != after["actions"][k]}
    assert changed == POWERBI_CHANGED
    assert after["kinds"] == [("oauth2", "authorization_code")]


@pytest.mark.parametrize("sample", ["d7sms", "abstract_iban", "yeelight", "transform2all"])
def test_an_imported_connector_exported_and_imported_again_is_the_same_pack(
    tmp_path: Path, sample: str
) -> None:
    _import(SAMPLES / sample, tmp_path / "first")
    result = _export(tmp_path / "first", tmp_path / "Exported")
    assert result["not_exported"] == {}
    assert _problems(tmp_path / "Exported") == []
    _import(tmp_path / "Exported", tmp_path / "second")
    assert _shape(tmp_path / "second") == _shape(tmp_path / "first")


def test_a_folder_that_is_no_pack_is_refused_naming_it(tmp_path: Path) -> None:
    done = ck("export", "power-platform", str(tmp_path), str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert "no connector.yaml" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_field_named_service_in_a_body_or_query_is_the_services_own(tmp_path: Path) -> None:
    """Imported from a definition whose body and query have a field `service`, the pack loads."""
    folder = tmp_path / "Tickets"
    folder.mkdir()
    field = {"name": "service", "in": "query", "type": "string", "x-ms-summary": "Service"}
    body = {
        "name": "body",
        "in": "body",
        "schema": {"type": "object", "properties": {"service": {"type": "string"}}},
    }
    swagger = {
        "swagger": "2.0",
        "info": {"title": "Tickets", "version": "1.0"},
        "host": "tickets.example.org",
        "basePath": "/api",
        "schemes": ["https"],
        "paths": {
            "/tickets": {
                "get": {"operationId": "ListTickets", "parameters": [field], "responses": {}},
                "post": {"operationId": "CreateTicket", "parameters": [body], "responses": {}},
            }
        },
    }
    (folder / "apiDefinition.swagger.json").write_text(json.dumps(swagger), encoding="utf-8")
    _import(folder, tmp_path / "pack")
    pack = load_pack(tmp_path / "pack")
    assert dict(pack.actions["list_tickets"].request.query) == {"service": "{service}"}
    assert pack.actions["create_ticket"].request.body == {"service": "{service}"}
