"""The swagger-driven core of the emulators, on small documents written here.

Cross-file `$ref`s resolved relative to the referring document (and a file named in another
case), operations matched by method, path and query flags, values built from schemas, requests
checked field by field, pages and their tokens, long-running operations on a clock, a request
rate.
"""

from __future__ import annotations

import threading

import pytest

from emulator_core import (
    BadTokenError,
    DocumentSet,
    LongRunningOperations,
    OperationFailedError,
    OperationLookupError,
    Pages,
    RequestRate,
    SwaggerApi,
    UnresolvedReferenceError,
)

NOW = "2026-01-02T03:04:05.000Z"
WORKSPACE = "11111111-2222-4333-8444-555555555555"

COMMON = {
    "definitions": {
        "Item": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "readOnly": True},
                "displayName": {"type": "string"},
                "type": {"type": "string", "enum": ["Lakehouse", "Notebook"]},
            },
        },
        "Paginated": {
            "properties": {"continuationToken": {"type": "string"}},
        },
    }
}
DEFINITIONS = {
    "definitions": {
        "Items": {
            "type": "object",
            "required": ["value"],
            "allOf": [{"$ref": "../Common/definitions.json#/definitions/Paginated"}],
            "properties": {
                "value": {
                    "type": "array",
                    "items": {"$ref": "../common/definitions.json#/definitions/Item"},
                }
            },
        },
        "Options": {
            "type": "object",
            "discriminator": "format",
            "required": ["format"],
            "properties": {"format": {"type": "string", "enum": ["Csv", "Parquet"]}},
        },
        "Csv": {
            "allOf": [{"$ref": "#/definitions/Options"}],
            "x-ms-discriminator-value": "Csv",
            "properties": {
                "header": {"type": "boolean"},
                "delimiter": {"type": "string", "maxLength": 1},
            },
        },
        "Load": {
            "type": "object",
            "required": ["relativePath", "formatOptions"],
            "properties": {
                "relativePath": {"type": "string", "pattern": "^Files(\\/[\\p{L}\\w]+)*$"},
                "mode": {"type": "string", "enum": ["Overwrite", "Append"]},
                "formatOptions": {"$ref": "#/definitions/Options"},
                "count": {"type": "integer", "minimum": 1, "maximum": 10},
            },
        },
    }
}
WORKSPACE_PARAM = {"name": "workspaceId", "in": "path", "type": "string", "format": "uuid"}
SWAGGER = {
    "swagger": "2.0",
    "basePath": "/v1",
    "paths": {
        "/workspaces/{workspaceId}/items": {
            "parameters": [WORKSPACE_PARAM],
            "get": {
                "operationId": "Items_ListItems",
                "x-ms-pageable": {"nextLinkName": "continuationUri"},
                "parameters": [
                    {"name": "maxResults", "in": "query", "type": "integer", "minimum": 1},
                ],
                "responses": {"200": {"schema": {"$ref": "./definitions.json#/definitions/Items"}}},
            },
        },
        "/workspaces/{workspaceId}/items/bulk?beta=true": {
            "post": {
                "operationId": "Items_Bulk_(beta)",
                "x-ms-fabric-sdk-long-running-operation": True,
                "parameters": [WORKSPACE_PARAM],
                "responses": {
                    "200": {"schema": {"$ref": "../common/definitions.json#/definitions/Item"}},
                    "202": {"headers": {"Location": {"type": "string"}}},
                },
            }
        },
        "/workspaces/{workspaceId}/items/{itemId}": {
            "get": {
                "operationId": "Items_GetItem",
                "parameters": [
                    WORKSPACE_PARAM,
                    {"name": "itemId", "in": "path", "type": "string", "format": "uuid"},
                ],
                "responses": {
                    "200": {"schema": {"$ref": "../common/definitions.json#/definitions/Item"}}
                },
            }
        },
        "/workspaces/{workspaceId}/load": {
            "post": {
                "operationId": "Tables_Load",
                "parameters": [
                    WORKSPACE_PARAM,
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": {"$ref": "./definitions.json#/definitions/Load"},
                    },
                ],
                "responses": {"202": {"headers": {"x-ms-operation-id": {"type": "string"}}}},
            }
        },
    },
}


@pytest.fixture(scope="module")
def api():
    documents = DocumentSet({
        "common/definitions.json": COMMON,
        "lakehouse/definitions.json": DEFINITIONS,
        "lakehouse/swagger.json": SWAGGER,
    })  # fmt: skip
    return SwaggerApi(documents)


class Clock:
    def __init__(self) -> None:
        self.now_value = 1_000_000.0

    def now(self) -> float:
        return self.now_value

    def isoformat(self, when: float | None = None) -> str:
        return f"t{when if when is not None else self.now_value}"

    def retry_after(self, emulated_seconds: float) -> int:
        return max(1, int(emulated_seconds + 0.999))


# -- documents and operations --


def test_a_ref_to_another_file_resolves_from_the_referring_document_and_keeps_its_own(api):
    items, where = api.documents.target(
        "./definitions.json#/definitions/Items", "lakehouse/swagger.json"
    )
    assert where == "lakehouse/definitions.json"
    item, where = api.documents.resolve(items["properties"]["value"]["items"], where)
    assert (where, item["required"]) == ("common/definitions.json", ["type"])


def test_a_file_named_in_another_case_is_found(api):
    node, where = api.documents.target(
        "../Common/definitions.json#/definitions/Paginated", "lakehouse/definitions.json"
    )
    assert where == "common/definitions.json"
    assert "continuationToken" in node["properties"]


def test_a_missing_target_is_an_error_naming_the_ref_and_the_document():
    documents = DocumentSet(
        {"a/swagger.json": {"definitions": {"X": {"$ref": "../b/nope.json#/definitions/Y"}}}}
    )
    problems = documents.unresolved()
    assert [(p.document, p.ref) for p in problems] == [
        ("a/swagger.json", "../b/nope.json#/definitions/Y")
    ]
    with pytest.raises(UnresolvedReferenceError, match=r"nope\.json"):
        documents.resolve({"$ref": "../b/nope.json#/definitions/Y"}, "a/swagger.json")


def test_operations_carry_the_base_path_flags_paging_and_long_running(api):
    by_id = {op.id: op for op in api.table.operations}
    listing, bulk = by_id["Items_ListItems"], by_id["Items_Bulk_(beta)"]
    assert listing.path == "/v1/workspaces/{workspaceId}/items"
    assert listing.paging is not None
    assert listing.paging.item_name == "value"
    assert [p.name for p in listing.parameters] == ["workspaceId", "maxResults"]
    assert (bulk.flags, bulk.accepted, bulk.result.status) == (
        (("beta", "true"),),
        "operation",
        200,
    )
    assert by_id["Tables_Load"].accepted == "operation"


def test_a_query_flag_picks_its_operation_and_literal_text_beats_a_parameter(api):
    match, _ = api.table.match("POST", f"/V1/workspaces/{WORKSPACE}/items/bulk/", {"beta": "True"})
    assert match is not None
    assert match.operation.id == "Items_Bulk_(beta)"
    match, allowed = api.table.match("POST", f"/v1/workspaces/{WORKSPACE}/items/bulk", {})
    assert match is None
    assert allowed == ["GET"]
    match, allowed = api.table.match("DELETE", f"/v1/workspaces/{WORKSPACE}/items", {})
    assert match is None
    assert allowed == ["GET"]
    match, _ = api.table.match("GET", f"/v1/workspaces/{WORKSPACE}/items/abc", {})
    assert match is not None
    assert match.params == {"workspaceId": WORKSPACE, "itemId": "abc"}


# -- values and checks --


def test_answers_follow_their_schema_across_files_with_ids_from_the_path(api):
    by_id = {op.id: op for op in api.table.operations}
    item_id = "99999999-2222-4333-8444-555555555555"
    answer = api.answer(by_id["Items_GetItem"], NOW, {"workspaceId": WORKSPACE, "itemId": item_id})
    assert answer.status == 200
    assert answer.body == {"id": item_id, "displayName": "Emulated_item", "type": "Lakehouse"}
    listing = api.answer(by_id["Items_ListItems"], NOW, {})
    assert set(listing.body) == {"continuationToken", "value"}


def test_a_polymorphic_base_becomes_its_subtype_and_patterns_are_met(api):
    load, _ = api.documents.target("#/definitions/Load", "lakehouse/definitions.json")
    value = api.value((load, "lakehouse/definitions.json"), NOW)
    assert value["formatOptions"] == {"format": "Csv", "header": False, "delimiter": "d"}
    assert value["relativePath"] == "Files/emulated"
    assert value["count"] == 1


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"relativePath": "Files/a", "formatOptions": {"format": "Csv"}}, []),
        ({"formatOptions": {"format": "Csv"}}, [("relativePath", "'relativePath' is required.")]),
        (
            {"relativePath": "Tables/a", "formatOptions": {"format": "Csv"}, "count": 11},
            [
                (
                    "relativePath",
                    "'relativePath' does not match ^Files(\\/[\\p{L}\\w]+)*$; got 'Tables/a'.",
                ),
                ("count", "'count' must be at most 10; got 11."),
            ],
        ),
        (
            {"relativePath": "Files/a", "formatOptions": {"format": "Csv", "delimiter": ";;"}},
            [("formatOptions.delimiter", "'formatOptions.delimiter' is longer than 1 characters.")],
        ),
        (
            {
                "relativePath": "Files/a",
                "mode": "Replace",
                "formatOptions": {"format": "Csv", "header": "yes"},
            },
            [
                ("mode", "'mode' must be one of Overwrite, Append; got 'Replace'."),
                (
                    "formatOptions.header",
                    "'formatOptions.header' must be true or false; got 'yes'.",
                ),
            ],
        ),
        ([1], [("body", "'body' must be an object; got [1].")]),
    ],
    ids=["valid", "missing", "pattern-and-range", "subtype-field", "enum-and-type", "not-object"],
)
def test_a_body_is_checked_field_by_field(api, body, problems):
    load = next(op for op in api.table.operations if op.id == "Tables_Load")
    found = api.validator.check(load, {"workspaceId": WORKSPACE}, {}, {}, body)
    assert [(p.target, p.message) for p in found] == problems


def test_path_and_query_parameters_and_a_missing_body_are_checked(api):
    by_id = {op.id: op for op in api.table.operations}
    found = api.validator.check(
        by_id["Items_ListItems"], {"workspaceId": "nope"}, {"maxResults": "x"}, {}
    )
    assert [p.target for p in found] == ["workspaceId", "maxResults"]
    assert found[1].message == "'maxResults' must be an integer; got 'x'."
    found = api.validator.check(by_id["Tables_Load"], {"workspaceId": WORKSPACE}, {}, {})
    assert [(p.target, p.message) for p in found] == [("body", "The request body is required.")]


def test_read_only_properties_are_not_required_of_a_request(api):
    documents = api.documents
    item, _ = documents.target("#/definitions/Item", "common/definitions.json")
    located = ({**item, "required": ["id", "type"]}, "common/definitions.json")
    problems = api.validator._value({"type": "Notebook"}, located, "")
    assert problems == []


# -- pages --


def test_pages_walk_a_listing_and_refuse_a_token_of_another():
    pages = Pages(page_size=2)
    items = list(range(5))
    first = pages.cut(items, "/v1/a", {})
    assert first.items == [0, 1]
    assert first.token
    uri = first.next_uri("https://x/v1/a", {"maxResults": "2"})
    assert uri == f"https://x/v1/a?maxResults=2&continuationToken={first.token}"
    second = pages.cut(items, "/v1/a", {"continuationToken": first.token})
    last = pages.cut(items, "/v1/a", {"continuationToken": second.token})
    assert (second.items, last.items, last.token) == ([2, 3], [4], None)
    assert pages.cut(items, "/v1/a", {}, limit=1).items == [0]
    with pytest.raises(BadTokenError):
        pages.cut(items, "/v1/b", {"continuationToken": first.token})
    with pytest.raises(BadTokenError):
        pages.cut(items, "/v1/a", {"continuationToken": "%%%"})


# -- long-running operations and rates --


def test_an_operation_runs_its_course_on_the_clock_and_gives_its_result():
    clock = Clock()
    operations = LongRunningOperations(clock, duration=20, location="/v1/operations")
    started = operations.start(result={"id": "x"})
    accepted = operations.accepted(started, "https://host")
    assert accepted.status == 202
    assert accepted.header("Location") == f"https://host/v1/operations/{started.id}"
    assert (accepted.header("x-ms-operation-id"), accepted.header("Retry-After")) == (
        started.id,
        "20",
    )
    assert operations.state(started.id, "https://host").body["status"] == "NotStarted"
    clock.now_value += 10
    running = operations.state(started.id, "https://host")
    assert (running.body["status"], running.body["percentComplete"]) == ("Running", 50)
    assert running.header("Retry-After") == "10"
    with pytest.raises(OperationLookupError, match="has not succeeded"):
        operations.result(started.id)
    clock.now_value += 10
    done = operations.state(started.id, "https://host")
    assert done.body["status"] == "Succeeded"
    assert done.header("Location") == f"https://host/v1/operations/{started.id}/result"
    assert operations.result(started.id).body == {"id": "x"}
    with pytest.raises(OperationLookupError) as missing:
        operations.state("nope", "https://host")
    assert missing.value.status == 404
    operations.close()


def test_an_operation_waits_for_its_work_and_fails_with_its_error():
    clock = Clock()
    operations = LongRunningOperations(clock, duration=0, location="/v1/operations")
    release = threading.Event()

    def work() -> None:
        release.wait(10)
        raise OperationFailedError("InvalidInput", "row 2, column Qty: 'x' is not a long")

    started = operations.start(work=work)
    assert operations.state(started.id, "h").body["status"] == "Running"
    release.set()
    assert started.future is not None
    started.future.exception(10)  # the work has ended
    state = operations.state(started.id, "h").body
    assert state["status"] == "Failed"
    assert state["error"] == {
        "errorCode": "InvalidInput",
        "message": "row 2, column Qty: 'x' is not a long",
    }
    operations.close()


def test_a_request_rate_says_how_long_to_wait():
    clock = Clock()
    rate = RequestRate(clock, limit=2, per=60)
    assert [rate.take("a"), rate.take("a"), rate.take("b")] == [0, 0, 0]
    clock.now_value += 15
    assert rate.take("a") == 45
    clock.now_value += 45
    assert rate.take("a") == 0
