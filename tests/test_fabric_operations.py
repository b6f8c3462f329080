"""Every one of the 725 operations of Microsoft's Fabric REST documents answers as documented.

Each operation is sent to a running emulator (state reset first) with the path ids of things
that exist, the query flags and required parameters it declares, and a body built from its
schema. The status must be a documented success and the body valid against that response's
schema with no property it does not declare. A 202 of a long-running operation is polled (the
clock moved on) to its end, and its result checked against the operation's success schema; a
202 of a job leads to a job instance.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from emulator_core import SchemaValues
from fabric_emulator import SEED_IDS, fabric_swagger, running
from fabric_emulator._service import ITEM_PATH, item_type_of

SWAGGER = fabric_swagger()
OPERATIONS = {op.key: op for op in SWAGGER.table.operations}
BASE_URI = "https://fabric-specs.example/"
NOW = "2026-01-01T00:00:00.000Z"
ANY_ID = "a1b2c3d4-0000-4000-8000-0000000000aa"
WS = SEED_IDS["sales_workspace"]
SEEDED = {
    "Lakehouse": "sales_lakehouse",
    "Notebook": "sales_notebook",
    "DataPipeline": "sales_pipeline",
}


def format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        return not isinstance(value, str) or bool(dt.datetime.fromisoformat(value))

    return checker


def _registry() -> Registry:
    documents = SWAGGER.documents.documents
    resources = [
        (BASE_URI + path, Resource(contents=doc, specification=DRAFT4))
        for path, doc in documents.items()
    ]
    # One document names `../../Common/...`: a file system that ignores case finds it.
    resources += [
        (
            BASE_URI + "Common/" + path.removeprefix("common/"),
            Resource(contents=doc, specification=DRAFT4),
        )
        for path, doc in documents.items()
        if path.startswith("common/")
    ]
    return Registry().with_resources(resources)


REGISTRY = _registry()
CHECKER = format_checker()


def schema_errors(body: Any, located: tuple[dict[str, Any], str]) -> list[str]:
    schema, document = located
    validator = Draft4Validator(
        {"id": BASE_URI + document, "allOf": [schema]}, registry=REGISTRY, format_checker=CHECKER
    )
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def undeclared(value: Any, located: tuple[dict[str, Any], str], path: str = "") -> list[str]:
    """Properties of `value` its schema does not declare (allOf, subtypes, refs across files)."""
    schema, document = SWAGGER.documents.resolve(*located)
    if isinstance(value, list):
        items = (schema.get("items", {}), document)
        return [p for i, v in enumerate(value) for p in undeclared(v, items, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    declared = _declared((schema, document))
    discriminator = schema.get("discriminator")
    subtype = SWAGGER.subtypes.pick(schema, value.get(discriminator)) if discriminator else None
    if subtype is not None:
        declared |= _declared(subtype)
    if not declared or schema.get("additionalProperties"):
        return []
    found = []
    for key, item in value.items():
        if key not in declared:
            found.append(f"{path}.{key}")
        else:
            found += undeclared(item, declared[key], f"{path}.{key}")
    return found


def _declared(located: tuple[dict[str, Any], str]) -> dict[str, tuple[dict[str, Any], str]]:
    schema, document = SWAGGER.documents.resolve(*located)
    properties: dict[str, tuple[dict[str, Any], str]] = {}
    for part in schema.get("allOf", []):
        properties |= _declared((part, document))
    for key, sub in schema.get("properties", {}).items():
        properties[key] = (sub, document)
    return properties


@pytest.fixture(scope="module")
def emu():
    with running() as handle:
        yield handle


@pytest.fixture(scope="module")
def http(emu):
    token = emu.issue_token(
        principal="app", scope="https://api.fabric.microsoft.com/.default", lifetime=10**9
    )
    with httpx.Client(
        headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=30
    ) as client:
        yield client


def item_for(emu, http, operation) -> dict[str, str]:
    """Path values naming things that exist: the seed workspace, an item of the path's type."""
    values: dict[str, str] = {"workspaceId": WS}
    match = ITEM_PATH.match(operation.path)
    kind = item_type_of(match.group("collection")) if match else None
    if match is None or kind is None:
        return values
    kind = kind or "Lakehouse"
    if kind in SEEDED:
        values[match.group("id")] = SEED_IDS[SEEDED[kind]]
    else:
        made = http.post(
            f"{emu.base_url}/workspaces/{WS}/items", json={"displayName": "Walk", "type": kind}
        )
        assert made.status_code == 201, made.text
        values[match.group("id")] = made.json()["id"]
    return values


def request_for(emu, http, operation) -> tuple[str, dict[str, Any]]:
    values = item_for(emu, http, operation)
    if "{jobInstanceId}" in operation.path:
        item = values[ITEM_PATH.match(operation.path).group("id")]
        run = http.post(f"{emu.base_url}/workspaces/{WS}/items/{item}/jobs/Run/instances")
        values["jobInstanceId"] = run.headers["location"].rsplit("/", 1)[1]
    if "{operationId}" in operation.path and operation.path.startswith("/v1/operations"):
        started = http.post(
            f"{emu.base_url}/workspaces/{WS}/items/{SEED_IDS['sales_notebook']}/getDefinition"
        )
        values["operationId"] = started.headers["x-ms-operation-id"]
        emu.advance_clock(emu.fabric_config.operation_seconds)
    params = {p.name: p for p in operation.parameters}

    def value_of(name: str) -> str:
        if name in values:
            return values[name]
        spec = params[name].spec
        if spec.get("format") == "uuid":
            return ANY_ID
        return str(
            SchemaValues(SWAGGER.documents, SWAGGER.subtypes, NOW).build(
                (spec, params[name].document), name
            )
        )

    path = re.sub(r"\{(\w+)\}", lambda m: value_of(m.group(1)), operation.path)
    query = dict(operation.flags)
    for parameter in operation.parameters_in("query"):
        if parameter.required and parameter.name not in query:  # a flag keeps its value
            query[parameter.name] = _text(value_of(parameter.name))
    options: dict[str, Any] = {"params": query}
    body = operation.body
    if body is not None:
        schema = body.spec["schema"]
        resolved, _ = SWAGGER.documents.resolve(schema, body.document)
        if resolved.get("type") in {"file", "string"}:
            options["content"] = b"emulated file content"
            options["headers"] = {"Content-Type": "application/octet-stream"}
        else:
            options["json"] = SWAGGER.value((schema, body.document), NOW, values)
    return emu.base_url.removesuffix("/v1") + path, options


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_body(response: httpx.Response, operation, status: int) -> None:
    documented = operation.responses[status]
    if documented.schema is None:
        return
    schema, _document = SWAGGER.documents.resolve(*documented.schema)
    if schema.get("type") == "file":  # content of any type: one it produces, or bytes
        media = response.headers["content-type"].split(";")[0]
        assert media in {*operation.produces, "application/octet-stream"}
        return
    body = response.json()
    assert schema_errors(body, documented.schema) == []
    assert undeclared(body, documented.schema) == []


@pytest.mark.parametrize("key", sorted(OPERATIONS))
def test_every_operation_answers_as_documented(emu, http, key):
    operation = OPERATIONS[key]
    emu.reset()
    url, options = request_for(emu, http, operation)
    response = http.request(operation.method, url, **options)
    assert response.status_code in operation.successes, response.text
    check_body(response, operation, response.status_code)
    if response.status_code != 202:
        return
    accepted = operation.accepted
    if accepted == "operation":
        assert response.headers["x-ms-operation-id"]
        assert response.headers["retry-after"]
        emu.advance_clock(emu.fabric_config.operation_seconds)
        state = http.get(response.headers["location"])
        assert (
            schema_errors(
                state.json(), OPERATIONS["GET /v1/operations/{operationId}"].responses[200].schema
            )
            == []
        )
        if (
            operation.result is not None
            and operation.result.schema is not None
            and state.json()["status"] == "Succeeded"
        ):
            result = http.get(state.headers["location"])
            assert result.status_code == 200
            check_body(result, operation, operation.result.status)
    elif accepted == "job":
        job = http.get(response.headers["location"])
        assert job.status_code == 200
        check_body(
            job,
            OPERATIONS[
                "GET /v1/workspaces/{workspaceId}/items/{itemId}/jobs/instances/{jobInstanceId}"
            ],
            200,
        )


def test_the_table_holds_every_operation_of_the_documents():
    assert len(list(SWAGGER.documents.swaggers())) == 56  # 55 folders; sqlEndpoint has two files
    assert len(OPERATIONS) == 725
    assert sum(op.paging is not None for op in OPERATIONS.values()) == 127
    assert sum(202 in op.responses for op in OPERATIONS.values()) == 190
    assert SWAGGER.documents.unresolved() == []


def test_every_operation_has_an_action_of_the_fabric_pack():
    import yaml  # noqa: PLC0415

    from conftest import ROOT  # noqa: PLC0415

    by_ref = {f"openapi/{op.document}#{op.id}": key for key, op in OPERATIONS.items()}
    by_ref |= {
        f"openapi/{alias.split('#')[0]}#{alias.split('#')[1]}": key
        for alias, key in SWAGGER.table.aliases.items()
    }
    covered: dict[str, str] = {}
    for path in sorted((ROOT / "packs" / "fabric" / "actions").glob("*.yaml")):
        # A hand-written action (rows into a table) stands for no one operation.
        for ref in (yaml.safe_load(path.read_text()).get("openapi") or {}).get("operations", []):
            covered[by_ref[ref]] = path.stem
    assert set(covered) == set(OPERATIONS)
    assert len(set(covered.values())) == 725  # one action per operation
