"""Every emulator route answers with the body Microsoft's swagger documents for it."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from powerbi_emulator import SEED_IDS, running
from powerbi_emulator._api import ROUTES
from powerbi_emulator._swagger import SWAGGER_URI, load_swagger

SALES = SEED_IDS["sales_analytics"]
TABLE = {
    "name": "Sales",
    "columns": [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}],
}
PBIX = {"file": ("Report.pbix", b"PK\x03\x04 fake pbix", "application/octet-stream")}

# What to send to each operation beyond its path parameters.
REQUESTS: dict[str, dict[str, object]] = {
    "Groups_GetGroups": {},
    "Datasets_GetDatasets": {},
    "Datasets_PostDataset": {
        "json": {"name": "Schema", "tables": [TABLE]},
        "params": {"defaultRetentionPolicy": "basicFIFO"},
    },
    "Datasets_GetDataset": {},
    "Datasets_DeleteDataset": {},
    "Datasets_GetTables": {},
    "Datasets_PutTable": {"json": TABLE},
    "Datasets_PostRows": {"json": {"rows": [{"Product": "A", "Qty": 1}]}},
    "Datasets_DeleteRows": {},
    "Reports_GetReports": {},
    "Imports_GetImports": {},
    "Imports_PostImport": {"files": PBIX, "params": {"datasetDisplayName": "Report.pbix"}},
    "Imports_GetImport": {},
}
OPERATION_IDS = sorted(
    {*REQUESTS, *(f"{op}InGroup" for op in REQUESTS if op != "Groups_GetGroups")}
)


@pytest.fixture(scope="module")
def swagger():
    return load_swagger()


@pytest.fixture(scope="module")
def operations(swagger):
    found = {}
    for path, item in swagger["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (method.upper(), path, operation)
    return found


@pytest.fixture(scope="module")
def registry(swagger):
    return Registry().with_resource(SWAGGER_URI, Resource(contents=swagger, specification=DRAFT4))


def format_checker():
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value):
        return not isinstance(value, str) or bool(dt.datetime.fromisoformat(value))

    return checker


@pytest.fixture(scope="module")
def emu():
    with running() as handle:
        yield handle


def path_values(emu, http, group):
    """Fresh path parameters: a push dataset with a table, and an import."""
    prefix = f"/groups/{group}" if group else ""
    dataset = http.post(f"{prefix}/datasets", json={"name": "Target", "tables": [TABLE]})
    imported = http.post(
        f"{prefix}/imports", params={"datasetDisplayName": "Seed.pbix"}, files=PBIX
    )
    assert dataset.status_code == 201
    assert imported.status_code == 202
    return {
        "groupId": group or "",
        "datasetId": dataset.json()["id"],
        "tableName": "Sales",
        "importId": imported.json()["id"],
    }


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_response_matches_the_swagger_schema(emu, operations, registry, operation_id):
    method, template, operation = operations[operation_id]
    token = emu.issue_token()["access_token"]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        http.base_url = emu.base_url
        values = path_values(emu, http, SALES if "InGroup" in operation_id else None)
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        options = REQUESTS[operation_id.removesuffix("InGroup")]
        response = http.request(method, emu.url + path, **options)

    documented = operation["responses"]
    assert str(response.status_code) in documented, (response.status_code, response.text)
    schema = documented[str(response.status_code)].get("schema")
    if schema is None:
        assert response.content == b""
        return
    body = response.json()
    validator = Draft4Validator(
        {"$ref": SWAGGER_URI + schema["$ref"]}, registry=registry, format_checker=format_checker()
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == []
    if "value" in body:
        assert body["value"], "a list should have items for their schema to be checked"
        assert body["@odata.context"].startswith(emu.url)


def test_every_emulated_route_is_a_documented_operation(operations):
    by_route = {(method, path): op_id for op_id, (method, path, _) in operations.items()}
    for route in ROUTES:
        prefixes = ["/v1.0/myorg", "/v1.0/myorg/groups/{groupId}"]
        for prefix in prefixes if route.workspace_scoped else prefixes[:1]:
            path = "/".join([prefix, *route.pattern])
            for method in route.methods:
                assert (method, path) in by_route, (method, path)
                assert by_route[method, path] in OPERATION_IDS, by_route[method, path]


def test_the_schema_check_can_fail(registry):
    validator = Draft4Validator(
        {"$ref": SWAGGER_URI + "#/definitions/Groups"},
        registry=registry,
        format_checker=format_checker(),
    )
    assert not validator.is_valid({"value": [{"id": "not-a-uuid", "name": "x"}]})
    assert not validator.is_valid({"value": [{"name": "no id"}]})
    assert validator.is_valid({"value": [{"id": SALES, "name": "x"}]})
