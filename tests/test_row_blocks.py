"""Rows checked while they are parsed: the same answers as rows decoded whole, block by block.

``invoke`` leaves a push's rows as JSON text and decodes them a block at a time straight into
the table's columns; ``connectorkit push`` does the same with an NDJSON file's lines. Whatever
the rows hold, the answer must be the one the same request gets when its rows are decoded whole
first (``respond``, as ``serve`` reads a line): the same bad rows named the same way, the same
rows stored, the same errors for what JSON cannot carry. Blocks are made tiny here so that
every case crosses many of them.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from conftest import copy_pack, user_connection
from connectorkit.bulk import _rowsource
from connectorkit.bulk._rowsource import FileRows, RowFile, blocks_of
from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import invoke, respond
from connectorkit.types._compile import compile_rows
from faultserver import FaultServer

DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
COLUMNS = [
    {"name": "Id", "dataType": "Int64"},
    {"name": "Name", "dataType": "String"},
    {"name": "Price", "dataType": "Double"},
    {"name": "At", "dataType": "DateTime"},
    {"name": "Paid", "dataType": "Boolean"},
]


@pytest.fixture(autouse=True)
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(_rowsource, "BLOCK_BYTES", 300)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return load_pack(copy_pack(tmp_path_factory.mktemp("blocks")))


def good_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"Id": i, "Name": f"n{i}", "Price": i / 4, "At": "2026-11-28T10:00:00Z", "Paid": i % 2 == 0}
        for i in range(count)
    ]


def request_text(server: FaultServer, rows: Any, **inputs: Any) -> str:
    connection = user_connection()
    connection["values"]["base_url"] = server.base_url
    given = {"dataset_id": DATASET, "table_name": "Sales", "rows": rows, "columns": COLUMNS}
    return json.dumps(
        {"action": "create_rows", "inputs": {**given, **inputs}, "connection": connection}
    )


def by_blocks(pack, text: str) -> tuple[dict[str, Any], list[Any]]:
    """The answer of ``invoke`` (rows decoded a block at a time), and the rows stored."""
    with FaultServer() as server:
        runner = Runner(sleep=lambda _s: None)
        out = io.StringIO()
        try:
            stdin = io.BytesIO(text.replace("{base}", server.base_url).encode())
            invoke(lambda: (pack, runner), stdin, out)
        finally:
            runner.close()
        return json.loads(out.getvalue()), sorted(server.rows, key=repr)


def whole(pack, text: str) -> tuple[dict[str, Any], list[Any]]:
    """The answer of the same request with its rows decoded whole first (as serve reads it)."""
    with FaultServer() as server:
        runner = Runner(sleep=lambda _s: None)
        try:
            response, _ = respond(pack, runner, text.replace("{base}", server.base_url))
        finally:
            runner.close()
        return response, sorted(server.rows, key=repr)


def comparable(response: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs between any two calls (its job id and timings)."""
    out = {k: v for k, v in response.items() if k != "meta"}
    if isinstance(out.get("result"), dict):
        out["result"] = {k: v for k, v in out["result"].items() if k != "job_id"}
    return out


def same_answer(pack, rows: Any, **inputs: Any) -> tuple[dict[str, Any], list[Any]]:
    with FaultServer() as placeholder:
        text = request_text(placeholder, rows, **inputs).replace(placeholder.base_url, "{base}")
    blocks, stored = by_blocks(pack, text)
    decoded, stored_whole = whole(pack, text)
    assert comparable(blocks) == comparable(decoded)
    assert stored == stored_whole
    return blocks, stored


def test_good_rows_over_many_blocks_are_all_stored_once(pack):
    rows = good_rows(250)
    response, stored = same_answer(pack, rows)
    assert response["ok"] is True, response
    assert response["result"]["rows"] == 250
    assert stored == sorted(rows, key=repr)


def test_rows_that_leave_out_a_checked_column_are_stored_without_it(pack):
    rows = good_rows(90)
    for row in rows[::3]:
        del row["At"]  # a column with a pattern, left out: it stays out
    for row in rows[1::3]:
        del row["Name"]
    response, stored = same_answer(pack, rows)
    assert response["ok"] is True, response
    assert stored == sorted(rows, key=repr)


def test_a_cut_inside_a_string_is_not_taken(pack):
    rows = good_rows(60)
    for row in rows[::3]:
        row["Name"] = '},{"Id": 1},{'  # text that looks like the end of a row
    response, stored = same_answer(pack, rows)
    assert response["ok"] is True, response
    assert stored == sorted(rows, key=repr)


@pytest.mark.parametrize(
    "cell",
    [
        {"Id": "7"},
        {"Id": 1.5},
        {"Id": 2**63},
        {"Price": True},
        {"Name": None},
        {"At": "2026-1-2"},
        {"Colour": "red"},
    ],
)
def test_a_bad_row_in_a_later_block_is_named_as_when_decoded_whole(pack, cell):
    rows = good_rows(120)
    rows[97].update(cell)
    response, stored = same_answer(pack, rows)
    assert response["error"]["type"] == "invalid_input"
    assert response["error"]["details"][0]["field"].startswith("rows[97]")
    assert stored == []


def test_skipped_rows_leave_the_same_batches(pack):
    rows = good_rows(130)
    for position in (3, 64, 65, 129):
        rows[position]["Paid"] = "yes"
    response, stored = same_answer(pack, rows, skip_bad_rows=True)
    assert response["result"]["skipped_count"] == 4
    assert len(stored) == 126


def test_values_only_the_row_check_takes_are_sent_as_they_were(pack):
    rows = good_rows(40)
    rows[30]["Id"] = 30.0  # an integer to the row check; not to the columns' structure
    response, stored = same_answer(pack, rows)
    assert response["ok"] is True, response
    assert type(next(r for r in stored if r["Name"] == "n30")["Id"]) is float


def test_a_row_that_is_not_an_object_is_refused_as_binding_refuses_it(pack):
    rows: list[Any] = good_rows(50)
    rows[44] = [1, 2]
    response, _ = same_answer(pack, rows)
    assert response["error"]["type"] == "invalid_input"
    assert {d["field"] for d in response["error"]["details"]} == {"rows[44]"}


@pytest.mark.parametrize("rows", [[], {}, "rows"], ids=["empty", "object", "text"])
def test_rows_that_are_not_a_list_of_rows_are_refused_as_before(pack, rows):
    response, _ = same_answer(pack, rows)
    assert response["error"]["type"] == "invalid_input"


@pytest.mark.parametrize(
    ("raw", "field"),
    [("1e400", "rows[40].Price"), ('"\\ud800"', "rows[40].Name")],
    ids=["number out of range", "lone surrogate"],
)
def test_what_json_cannot_carry_in_a_row_is_refused_by_its_place(pack, raw, field):
    with FaultServer() as placeholder:
        text = request_text(placeholder, good_rows(60)).replace(placeholder.base_url, "{base}")
    key = "Price" if field.endswith("Price") else "Name"
    old = json.dumps(good_rows(60)[40][key])
    marker = '"Id": 40, '
    at = text.index(marker)
    start = text.index(f'"{key}": {old}', at) + len(f'"{key}": ')
    text = text[:start] + raw + text[start + len(old) :]
    blocks, stored = by_blocks(pack, text)
    decoded, _ = whole(pack, text)
    assert comparable(blocks) == comparable(decoded)
    assert blocks["error"]["details"][0]["field"] == field
    assert stored == []


# -- NDJSON files ------------------------------------------------------------------------------


def columns_check():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        "additionalProperties": False,
    }
    return compile_rows(schema)


def read_blocks(path: str) -> list[Any]:
    blocks = list(blocks_of(FileRows(RowFile(path)), columns_check(), 10_000))
    assert [b.first for b in blocks] == [
        sum(len(x.rows) for x in blocks[:i]) for i in range(len(blocks))
    ]
    return [row for block in blocks for row in (block.plain() if block.plain else block.rows)]


def test_ndjson_blocks_give_every_line_once(tmp_path):
    lines = [json.dumps({"a": i, "b": "x" * (i % 7)}) for i in range(200)]
    path = tmp_path / "rows.ndjson"
    path.write_text("\r\n".join(lines[:100]) + "\n\n  \n" + "\n".join(lines[100:]))  # no last \n
    assert read_blocks(str(path)) == [json.loads(line) for line in lines]


def test_an_ndjson_line_that_is_not_one_object_is_named_by_its_line(tmp_path):
    lines = [json.dumps({"a": i}) for i in range(100)]
    lines[70] = '{"a": 1},{"a": 2}'  # two objects on one line: not NDJSON
    path = tmp_path / "rows.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception) as info:  # noqa: PT011 - InvalidInput, named below
        read_blocks(str(path))
    assert "line 71" in str(info.value)
    assert info.value.details[0]["field"] == "rows[70]"  # type: ignore[attr-defined]
