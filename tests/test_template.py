"""Templates: escaped path segments, optional parts, typed JSON values."""

from __future__ import annotations

import json

import pytest

from connectorkit.core._errors import InvalidInput
from connectorkit.core._template import (
    ABSENT,
    placeholders,
    render_path,
    render_request,
    render_value,
)

NEW_DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff001"
PATH = "[/groups/{group_id}]/datasets/{dataset_id}/tables/{table_name}/rows"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"dataset_id": "d1", "table_name": "T"}, "/datasets/d1/tables/T/rows"),
        (
            {"group_id": "g1", "dataset_id": "d1", "table_name": "T"},
            "/groups/g1/datasets/d1/tables/T/rows",
        ),
        ({"dataset_id": "d1", "table_name": "a/../b"}, "/datasets/d1/tables/a%2F..%2Fb/rows"),
        ({"dataset_id": "..", "table_name": "."}, "/datasets/%2E%2E/tables/%2E/rows"),
        (
            {"dataset_id": "d1", "table_name": "Sales 2026?#%"},
            "/datasets/d1/tables/Sales%202026%3F%23%25/rows",
        ),
        ({"dataset_id": "d1", "table_name": "Ümsatz"}, "/datasets/d1/tables/%C3%9Cmsatz/rows"),
    ],
)
def test_render_path(values, expected):
    assert render_path(PATH, values) == expected


def test_missing_or_empty_path_value_names_the_input():
    with pytest.raises(InvalidInput) as exc:
        render_path(PATH, {"dataset_id": "d1"})
    assert exc.value.details == [{"field": "table_name", "message": "is required"}]
    with pytest.raises(InvalidInput) as exc:
        render_path(PATH, {"dataset_id": "", "table_name": "T"})
    assert exc.value.details == [{"field": "dataset_id", "message": "must not be empty"}]


def test_render_value_keeps_types_and_drops_absent_keys():
    template = {
        "name": "{name}",
        "rows": "{rows}",
        "mode": "Push",
        "label": "Table {name}",
        "missing": "{nope}",
        "list": ["{n}", "{nope}", 3],
    }
    values = {"name": "Sales", "rows": [{"a": 1}], "n": 7}
    assert render_value(template, values) == {
        "name": "Sales",
        "rows": [{"a": 1}],
        "mode": "Push",
        "label": "Table Sales",
        "list": [7, 3],
    }
    assert render_value("{nope}", {}) is ABSENT
    assert render_value("x {nope}", {}) is ABSENT


def test_placeholders():
    assert placeholders({"a": ["{x}", "y {z}"], "{k}": 1}) == {"x", "z", "k"}
    assert placeholders(PATH) == {"group_id", "dataset_id", "table_name"}


@pytest.mark.parametrize(
    "name",
    ["GroupId", "group_id", "_group", "table2", "$body.id", "$status", "a.b.c", "x", "$h.x-ms-id"],
)
def test_every_kind_of_placeholder_name_is_filled(name):
    # Capitals, digits, a leading underscore or $, one letter, and dotted names with dashes
    # ($body.id, $headers.x-ms-request-id) are all names.
    values = {name: "v 1"}
    assert placeholders(f"/x/{{{name}}}") == {name}
    assert render_path(f"/x/{{{name}}}/y", values) == "/x/v%201/y"
    assert render_value(f"{{{name}}}", values) == "v 1"
    assert render_value(f"id={{{name}}}", values) == "id=v 1"


def test_an_empty_optional_part_is_dropped():
    assert render_path("/a[]/b[/c/{c}]", {}) == "/a/b"


def test_an_optional_part_whose_value_is_0_is_kept():
    assert render_path("[/groups/{g}]/datasets", {"g": 0}) == "/groups/0/datasets"


def test_an_optional_part_whose_value_is_empty_is_an_error_not_dropped():
    # An empty Group ID must not quietly turn into "My workspace".
    with pytest.raises(InvalidInput) as exc:
        render_path("[/groups/{g}]/datasets", {"g": ""})
    assert exc.value.details == [{"field": "g", "message": "must not be empty"}]


def test_rows_are_checked_against_the_columns_create_dataset_remembered(call, httpx_mock):
    # create_dataset remembers its table's columns under "{$body.id}": create_rows into the new
    # dataset then checks rows against them without asking the service.
    httpx_mock.add_response(method="POST", json={"id": NEW_DATASET, "name": "Sales"})
    response, code = call(
        "create_dataset",
        {
            "dataset_name": "Sales",
            "table_name": "Orders",
            "columns": [{"name": "Qty", "dataType": "Int64"}],
        },
    )
    assert code == 0, response
    response, code = call(
        "create_rows",
        {
            "dataset_id": NEW_DATASET,
            "table_name": "Orders",
            "rows": [{"Qty": "many"}],
        },
    )
    assert (code, response["error"]["type"]) == (2, "invalid_input"), response
    assert [d["field"] for d in response["error"]["details"]] == ["rows[0].Qty"]
    assert len(httpx_mock.get_requests()) == 1  # only the create_dataset POST


@pytest.mark.parametrize(
    ("values", "path", "value"),
    [
        ({"group_id": "g1", "workspace": "w1"}, "/groups/g1/x", "g1"),  # the first that has one
        ({"workspace": "w1"}, "/groups/w1/x", "w1"),
        ({"group_id": None, "workspace": 0}, "/groups/0/x", 0),
        ({}, "/x", ABSENT),
    ],
)
def test_a_placeholder_with_alternatives_takes_the_first_that_has_a_value(values, path, value):
    assert render_path("[/groups/{group_id|workspace}]/x", values) == path
    rendered = render_value("{group_id|workspace}", values)
    assert rendered is ABSENT if value is ABSENT else rendered == value
    assert placeholders("{group_id|workspace}") == {"group_id", "workspace"}


def test_a_required_placeholder_with_alternatives_names_the_first_when_none_has_a_value():
    with pytest.raises(InvalidInput) as exc:
        render_path("/groups/{group_id|workspace}/x", {})
    assert exc.value.details == [{"field": "group_id", "message": "is required"}]


def test_the_body_sent_is_the_rendered_template_with_the_absent_keys_left_out(call, httpx_mock):
    httpx_mock.add_response(method="POST", json={"id": NEW_DATASET, "name": "Sales"})
    columns = [{"name": "Qty", "dataType": "Int64"}]
    response, code = call(
        "create_dataset", {"dataset_name": "Sales", "table_name": "Orders", "columns": columns}
    )
    assert code == 0, response
    [sent] = httpx_mock.get_requests()
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {
        "name": "Sales",
        "defaultMode": "Push",
        "tables": [{"name": "Orders", "columns": columns}],
    }
    assert "defaultRetentionPolicy" not in str(sent.url)  # an absent query parameter


@pytest.mark.parametrize(
    ("body", "values", "sent"),
    [
        ("{data}", {"data": {"a": 1}}, {"a": 1}),
        ("{data}", {}, None),  # a lone placeholder without a value: no body
        ({"a": "{a}", "b": "{b}"}, {}, None),  # only optional keys, none given: no body
        ({"a": "{a}", "b": "{b}"}, {"b": False}, {"b": False}),
        ({}, {}, {}),  # a body that is an empty object by itself
    ],
)
def test_a_request_body_is_sent_unless_nothing_of_it_has_a_value(body, values, sent):
    spec = render_request("POST", "https://h/x", {}, {}, body, values, has_body=True)
    assert spec.has_json is (sent is not None)
    if sent is not None:
        assert spec.json == sent
    no_body = render_request("GET", "https://h/x", {}, {}, None, values, has_body=False)
    assert no_body.has_json is False


def test_query_parameters_and_headers_without_a_value_are_left_out():
    spec = render_request(
        "GET",
        "https://h/x",
        {"top": "{top}", "expand": "{expand}", "flag": "{flag}"},
        {"X-Trace": "{trace}", "X-Missing": "{nope}"},
        None,
        {"top": 5, "flag": True, "trace": "t-1"},
        has_body=False,
    )
    assert spec.params == [("top", "5"), ("flag", "true")]
    assert spec.headers == [("X-Trace", "t-1")]
