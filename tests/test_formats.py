"""Declared formats (uuid, uri) are enforced before sending; binding, checker and describe agree."""

from __future__ import annotations

import json

import httpx
import pytest

from conftest import assert_envelope, copy_pack, user_connection
from connectorkit.authoring._catalog import describe
from connectorkit.call._run import Runner
from connectorkit.pack._check import validate_pack
from connectorkit.protocol._protocol import respond

UUID_WORDS = "must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6"


def call(pack, request: dict) -> tuple[dict, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"value": []})

    runner = Runner(http=httpx.Client(transport=httpx.MockTransport(service)))
    try:
        response, _ = respond(pack, runner, json.dumps(request))
    finally:
        runner.close()
    assert_envelope(response)
    return response, sent


@pytest.mark.parametrize(
    ("action", "inputs", "field"),
    [
        ("list_datasets", {"group_id": "Sales Analytics"}, "group_id"),
        ("list_tables", {"dataset_id": "12345"}, "dataset_id"),
        ("delete_rows", {"dataset_id": "not-a-guid", "table_name": "T"}, "dataset_id"),
    ],
)
def test_a_value_not_in_its_declared_format_is_refused_naming_the_field(
    pack, action, inputs, field
):
    response, sent = call(
        pack, {"action": action, "inputs": inputs, "connection": user_connection()}
    )
    assert response["error"]["type"] == "invalid_input"
    assert {"field": field, "message": f'"{inputs[field]}" {UUID_WORDS}'} in response["error"][
        "details"
    ]
    assert sent == []


def test_a_uuid_in_any_case_is_accepted(pack):
    inputs = {"group_id": "C0FFEE00-5A1E-4A1A-8A1B-000000000001"}
    response, sent = call(
        pack, {"action": "list_datasets", "inputs": inputs, "connection": user_connection()}
    )
    assert response["ok"] is True, response
    assert len(sent) == 1


def test_a_base_url_that_is_no_uri_is_an_invalid_connection(pack):
    connection = user_connection()
    connection["values"]["base_url"] = "api.powerbi.com/v1.0/myorg"
    response, sent = call(pack, {"action": "list_groups", "connection": connection})
    assert response["error"]["type"] == "invalid_connection"
    assert response["error"]["details"][0]["field"] == "connection.values.base_url"
    assert sent == []


def test_describe_shows_the_formats_binding_enforces(pack):
    catalog = describe(pack)
    tables = next(a for a in catalog["actions"] if a["key"] == "list_tables")
    assert tables["inputs"]["properties"]["dataset_id"]["format"] == "uuid"
    assert tables["inputs"]["properties"]["group_id"]["format"] == "uuid"


def test_the_pack_checker_refuses_a_default_not_in_its_format(tmp_path):
    root = copy_pack(tmp_path / "pack")
    path = root / "connector.yaml"
    path.write_text(
        path.read_text().replace(
            "    min_length: 1\n    format: uuid\n",
            "    min_length: 1\n    format: uuid\n    default: Sales Analytics\n",
            1,
        )
    )
    problems = [str(p) for p in validate_pack(root)]
    assert any("must be a UUID" in p for p in problems), problems
