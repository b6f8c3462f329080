"""A batch action's rows checked before anything is sent: what the caller is told and sent."""

from __future__ import annotations

import json

import pytest

DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
BASE = "https://api.powerbi.com/v1.0/myorg"
ROWS_URL = f"{BASE}/datasets/{DATASET}/tables/T/rows"
TABLES_URL = f"{BASE}/datasets/{DATASET}/tables"
COLUMNS = [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}]
BAD_ROW = {"Product": "B", "Qty": "many", "Colour": "red"}


def push(call, rows, **inputs):
    return call("create_rows", {"dataset_id": DATASET, "table_name": "T", "rows": rows, **inputs})


def sent_rows(httpx_mock):
    return [json.loads(r.content)["rows"] for r in httpx_mock.get_requests(method="POST")]


def test_a_bad_row_is_named_by_position_and_column_and_nothing_is_sent(call, httpx_mock):
    rows = [{"Product": "A", "Qty": 1}, BAD_ROW, {"Qty": 2}]
    response, code = push(call, rows, columns=COLUMNS)
    assert code == 2
    assert response["error"] == {
        "type": "invalid_input",
        "message": "1 of the rows does not fit the table's columns; nothing was sent",
        "details": [
            {"field": "rows[1].Qty", "message": 'input should be a valid integer (got "many")'},
            {"field": "rows[1].Colour", "message": "is not a column of the table"},
        ],
    }
    assert httpx_mock.get_requests() == []


def test_bad_rows_can_be_skipped_and_the_others_are_sent(call, httpx_mock):
    httpx_mock.add_response(method="POST", url=ROWS_URL)
    rows = [{"Product": "A", "Qty": 1}, BAD_ROW, {"Qty": 2}]
    response, code = push(call, rows, columns=COLUMNS, skip_bad_rows=True)
    assert code == 0, response
    result = response["result"]
    assert (result["rows"], result["batches"], result["committed"]) == (2, 1, 2)
    assert result["skipped"] == [
        {
            "row": 1,
            "message": 'rows[1].Qty: input should be a valid integer (got "many"); '
            "rows[1].Colour: is not a column of the table",
        }
    ]
    assert result["skipped_count"] == 1
    assert sent_rows(httpx_mock) == [[{"Product": "A", "Qty": 1}, {"Qty": 2}]]


@pytest.mark.parametrize(("bad", "listed"), [(20, 20), (21, 20)])
def test_the_first_twenty_bad_rows_are_listed_and_the_rest_counted(call, httpx_mock, bad, listed):
    rows = [{"Qty": f"n{i}"} for i in range(bad)] + [{"Qty": 1}]
    response, code = push(call, rows, columns=COLUMNS)
    assert code == 2
    error = response["error"]
    assert [d["field"] for d in error["details"]] == [f"rows[{i}].Qty" for i in range(listed)]
    more = " (the first 20 are listed)" if bad > listed else ""
    assert error["message"] == (
        f"{bad} of the rows do not fit the table's columns{more}; nothing was sent"
    )


def test_the_columns_are_asked_of_the_service_when_not_given(call, httpx_mock):
    tables = {"value": [{"name": "Other", "columns": []}, {"name": "T", "columns": COLUMNS}]}
    httpx_mock.add_response(method="GET", url=TABLES_URL, json=tables)
    response, code = push(call, [BAD_ROW])
    assert code == 2
    assert [d["field"] for d in response["error"]["details"]] == ["rows[0].Qty", "rows[0].Colour"]
    # Remembered: the next push to the table asks nothing.
    response, code = push(call, [{"Product": "C", "Qty": "x"}])
    assert [d["field"] for d in response["error"]["details"]] == ["rows[0].Qty"]
    assert len(httpx_mock.get_requests()) == 1


def test_a_table_the_service_does_not_have_is_named_with_the_ones_it_has(call, httpx_mock):
    tables = {"value": [{"name": "Sales", "columns": COLUMNS}, {"name": "Orders"}]}
    httpx_mock.add_response(method="GET", url=TABLES_URL, json=tables)
    response, code = push(call, [{"Qty": 1}])
    assert code == 2
    assert response["error"]["message"] == (
        "there is no table 'T' here (the service lists: Orders, Sales)"
    )
    assert response["error"]["details"] == [{"field": "table_name", "message": "no such table"}]


def test_unknown_columns_are_an_error_unless_the_caller_sends_unchecked(call, httpx_mock):
    httpx_mock.add_response(method="GET", url=TABLES_URL, json={"value": [{"name": "T"}]})
    response, code = push(call, [{"Qty": "x"}])
    assert code == 2
    assert response["error"]["details"] == [{"field": "columns", "message": "column types unknown"}]
    httpx_mock.add_response(method="GET", url=TABLES_URL, json={"value": [{"name": "T"}]})
    httpx_mock.add_response(method="POST", url=ROWS_URL)
    response, code = push(call, [{"Qty": "x"}], send_unchecked=True)
    assert code == 0, response
    assert sent_rows(httpx_mock) == [[{"Qty": "x"}]]
