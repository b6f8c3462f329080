"""A batch action's rows checked before anything is sent: what the caller is told and sent."""

from __future__ import annotations

import json

import pytest

from conftest import copy_pack, user_connection
from connectorkit.bulk._rowsource import FileRows, RowFile
from connectorkit.call._entry import call as call_in_process
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

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


def test_a_column_of_a_type_the_pack_does_not_know_leaves_the_next_ones_checked(call, httpx_mock):
    # The service may list a column of a type the pack has no check for; the columns after it
    # are still the table's, checked by their types.
    columns = [{"name": "Note", "dataType": "Variant"}, *COLUMNS]
    httpx_mock.add_response(
        method="GET", url=TABLES_URL, json={"value": [{"name": "T", "columns": columns}]}
    )
    response, code = push(call, [{"Product": "A", "Qty": "many"}])
    assert code == 2
    assert response["error"]["details"] == [
        {"field": "rows[0].Qty", "message": 'input should be a valid integer (got "many")'}
    ]
    httpx_mock.add_response(method="POST", url=ROWS_URL)
    response, code = push(call, [{"Product": "A", "Qty": 1}])
    assert code == 0, response
    assert sent_rows(httpx_mock) == [[{"Product": "A", "Qty": 1}]]


@pytest.mark.parametrize("listed", [[], "Product,Qty"], ids=["no columns", "not a list"])
def test_a_table_listed_without_a_list_of_columns_has_unknown_column_types(
    call, httpx_mock, listed
):
    tables = {"value": [{"name": "T", "columns": listed}]}
    httpx_mock.add_response(method="GET", url=TABLES_URL, json=tables)
    response, code = push(call, [{"Product": "A", "Qty": 1}])
    assert code == 2, response
    assert response["error"]["details"] == [{"field": "columns", "message": "column types unknown"}]
    assert httpx_mock.get_requests(method="POST") == []


def test_a_pack_that_remembers_no_columns_asks_the_service_each_time(tmp_path, runner, httpx_mock):
    root = copy_pack(tmp_path / "pack")
    action = root / "actions" / "create_rows.yaml"
    text = action.read_text(encoding="utf-8")
    line = '      remember: ["{dataset_id}", "{table_name}"]\n'
    assert line in text
    action.write_text(text.replace(line, ""), encoding="utf-8")
    pack = load_pack(root)
    tables = {"value": [{"name": "T", "columns": COLUMNS}]}
    for rows in ([{"Product": "A", "Qty": 1}], [{"Qty": 2}]):
        httpx_mock.add_response(method="GET", url=TABLES_URL, json=tables)
        httpx_mock.add_response(method="POST", url=ROWS_URL)
        inputs = {"dataset_id": DATASET, "table_name": "T", "rows": rows}
        request = {"action": "create_rows", "inputs": inputs, "connection": user_connection()}
        response, code = respond(pack, runner, json.dumps(request))
        assert code == 0, response
    assert sent_rows(httpx_mock) == [[{"Product": "A", "Qty": 1}], [{"Qty": 2}]]
    assert len(httpx_mock.get_requests(method="GET")) == 2


# -- rows from a file --------------------------------------------------------------------------

TYPED = [
    {"name": "Id", "dataType": "Int64"},
    {"name": "Name", "dataType": "String"},
    {"name": "Price", "dataType": "Double"},
    {"name": "At", "dataType": "DateTime"},
    {"name": "Paid", "dataType": "Boolean"},
]


def push_file(pack, runner, path, **inputs):
    request = {
        "action": "create_rows",
        "inputs": {"dataset_id": DATASET, "table_name": "T", **inputs},
        "connection": user_connection(),
    }
    return call_in_process(request, pack, runner, rows=FileRows(RowFile(str(path))))


def test_a_csv_files_cells_are_sent_as_their_columns_json_types(pack, runner, httpx_mock, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        "Id,Name,Price,At,Paid\n"
        "1,n1,2.5,2026-11-28T10:00:00Z,yes\n"
        "2,,3,2026-11-28,false\n"
        "-3,007,0.25,2026-11-29,1\n",
        encoding="utf-8",
    )
    httpx_mock.add_response(method="POST", url=ROWS_URL)
    response = push_file(pack, runner, path, columns=TYPED)
    assert response["ok"] is True, response
    [body] = [r.content for r in httpx_mock.get_requests(method="POST")]
    assert json.loads(body) == {
        "rows": [
            {"Id": 1, "Name": "n1", "Price": 2.5, "At": "2026-11-28T10:00:00Z", "Paid": True},
            {"Id": 2, "Price": 3, "At": "2026-11-28", "Paid": False},
            {"Id": -3, "Name": "007", "Price": 0.25, "At": "2026-11-29", "Paid": True},
        ]
    }


def test_a_csv_cell_that_is_not_of_its_columns_type_is_named_by_row_and_line(
    pack, runner, httpx_mock, tmp_path
):
    path = tmp_path / "rows.csv"
    path.write_text("Id,Name\n1,a\nmany,b\n", encoding="utf-8")
    response = push_file(pack, runner, path, columns=TYPED)
    assert response["error"]["details"] == [
        {"field": "rows[1].Id", "message": "'many' is not a whole number", "line": 3}
    ]
    assert httpx_mock.get_requests(method="POST") == []


def test_a_column_of_a_type_the_pack_does_not_know_takes_any_value(call, httpx_mock):
    # Microsoft's own examples make columns of type "bool" and "string": a table listed with
    # one still has that column, and its values are left for the service to judge.
    columns = [{"name": "Paid", "dataType": "bool"}, *COLUMNS]
    tables = {"value": [{"name": "T", "columns": columns}]}
    httpx_mock.add_response(method="GET", url=TABLES_URL, json=tables)
    response, code = push(call, [{"Paid": True, "Product": "A", "Qty": "many"}])
    assert code == 2
    assert response["error"]["details"] == [
        {"field": "rows[0].Qty", "message": 'input should be a valid integer (got "many")'}
    ]
    httpx_mock.add_response(method="POST", url=ROWS_URL)  # (the columns are remembered now)
    rows = [{"Paid": True, "Product": "A", "Qty": 1}, {"Paid": "yes", "Qty": 2}]
    response, code = push(call, rows)
    assert code == 0, response
    assert sent_rows(httpx_mock) == [rows]
