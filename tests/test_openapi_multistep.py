"""import-openapi: pages and long-running operations, as far as a document says them."""

from __future__ import annotations

import json

import yaml

from connectorkit.authoring.openapi._import import import_openapi
from connectorkit.pack._load import load_pack

LISTED = {"type": "object", "properties": {"value": {"type": "array", "items": {"type": "object"}}}}


def document() -> dict:
    def op(op_id: str, **extra: object) -> dict:
        return {
            "operationId": op_id,
            "tags": ["Things"],
            "responses": {"200": {"description": "ok"}},
            **extra,
        }

    return {
        "swagger": "2.0",
        "info": {"title": "Things", "version": "1"},
        "basePath": "/v1",
        "paths": {
            "/pageable": {
                "get": op(
                    "Things_ListPageable",
                    **{"x-ms-pageable": {"nextLinkName": "continuationUri", "itemName": "data"}},
                )
            },
            "/linked": {
                "get": op(
                    "Things_ListLinked",
                    responses={
                        "200": {
                            "description": "ok",
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": {"type": "object"}},
                                    "@odata.nextLink": {"type": "string"},
                                },
                            },
                        }
                    },
                )
            },
            "/offsets": {
                "get": op(
                    "Things_ListOffsets",
                    parameters=[
                        {"name": "$top", "in": "query", "type": "integer", "maximum": 500},
                        {"name": "$skip", "in": "query", "type": "integer"},
                    ],
                    responses={"200": {"description": "ok", "schema": LISTED}},
                )
            },
            "/jobs": {
                "post": op(
                    "Things_RunJob",
                    responses={"202": {"description": "started"}},
                    **{
                        "x-ms-long-running-operation": True,
                        "x-ms-long-running-operation-options": {"final-state-via": "location"},
                    },
                )
            },
            "/started": {"post": op("Things_Start", responses={"202": {"description": "started"}})},
        },
    }


def pack_with(tmp_path, doc: dict):
    pack = tmp_path / "things"
    (pack / "actions").mkdir(parents=True)
    (pack / "connections").mkdir()
    (pack / "connector.yaml").write_text(
        "key: things\nlabel: Things\ndescription: d\ndefault_connection: app\n"
    )
    (pack / "connections" / "app.yaml").write_text(
        "key: app\nlabel: App\ndescription: d\ngrant: client_credentials\nvalues:\n"
        "  - {key: base_url, label: B, type: string, default: 'https://x.test/v1', comments: c}\n"
        "  - {key: token_url, label: T, type: string, default: 'https://x.test/t', comments: c}\n"
    )
    spec = tmp_path / "things.json"
    spec.write_text(json.dumps(doc))
    return pack, spec


def action(pack, key: str) -> dict:
    return yaml.safe_load((pack / "actions" / f"{key}.yaml").read_text())


def test_pages_and_operations_come_from_the_document(tmp_path):
    pack, spec = pack_with(tmp_path, document())
    report = import_openapi(spec, pack)
    assert action(pack, "list_pageable")["pages"] == {
        "items": "data",
        "next_url": "continuationUri",
    }
    assert action(pack, "list_linked")["pages"] == {"items": "items", "next_url": "@odata.nextLink"}
    assert action(pack, "list_offsets")["pages"] == {
        "items": "value",
        "offset": {"query": "$skip", "size_query": "$top", "size": 500},
    }
    running = action(pack, "run_job")["long_running"]
    assert running["keep"] == {"location": "{$headers.Location}"}
    assert running["poll"] == {"url": "{location}"}
    assert running["result"] == {"url": "{$headers.Location}"}
    assert "long_running" not in action(pack, "start")
    assert any(
        "Things_Start: answers 202" in n and "start needs a long_running" in n for n in report.notes
    )
    load_pack(pack)  # what it wrote is a valid pack


def test_an_authors_pages_and_operation_survive_a_reimport(tmp_path):
    pack, spec = pack_with(tmp_path, document())
    import_openapi(spec, pack)
    path = pack / "actions" / "list_pageable.yaml"
    data = yaml.safe_load(path.read_text())
    data["pages"] = {**data["pages"], "last": "lastResultSet", "all": True}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    started = pack / "actions" / "start.yaml"
    written = yaml.safe_load(started.read_text())
    written["long_running"] = {
        "keep": {"id": "{$body.id}"},
        "poll": {"path": "/started/{id}"},
        "status": {"at": "state", "succeeded": ["Done"]},
    }
    started.write_text(yaml.safe_dump(written, sort_keys=False))
    report = import_openapi(spec, pack)
    assert action(pack, "list_pageable")["pages"]["last"] == "lastResultSet"
    assert action(pack, "start")["long_running"]["poll"] == {"path": "/started/{id}"}
    assert not any("start needs a long_running" in n for n in report.notes)
