"""Row sources: CSV, NDJSON and JSON arrays read as streams, cells typed, bad rows named."""

from __future__ import annotations

import io

import pytest

from connectorkit.bulk._rowsource import RowFile, detect_format, line_numbers, read_rows
from connectorkit.core._errors import InvalidInput

TYPES = {"Id": "integer", "Price": "number", "Ok": "boolean", "Name": "string", "At": "string"}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def test_csv_cells_converted_by_column_type_and_empty_cells_left_out(tmp_path):
    path = write(
        tmp_path,
        "sales.csv",
        '\ufeffId,Price,Ok,Name,At\n1,2.5,true,"A, inc",2024-01-02T03:04:05Z\n2,,no,,\n',
    )
    assert list(read_rows(RowFile(path), column_types=TYPES)) == [
        {"Id": 1, "Price": 2.5, "Ok": True, "Name": "A, inc", "At": "2024-01-02T03:04:05Z"},
        {"Id": 2, "Ok": False},
    ]


def test_csv_bad_cell_named_by_its_line_row_and_column(tmp_path):
    path = write(tmp_path, "s.csv", 'Id,Price\n1,2\n\n2,"a\nb"\n3,abc\n')
    with pytest.raises(InvalidInput) as info:
        list(read_rows(RowFile(path), column_types=TYPES))
    # A blank line holds no row; row 1 starts on line 4 (its quoted cell spans two lines).
    assert info.value.message == "line 4, column Price: 'a\\nb' is not a number"
    assert info.value.details == [
        {"field": "rows[1].Price", "message": "'a\\nb' is not a number", "line": 4}
    ]


def test_line_numbers_find_rows_in_csv_and_ndjson(tmp_path):
    csv_path = write(tmp_path, "s.csv", 'Id,Price\n1,2\n\n2,"a\nb"\n3,abc\n')
    assert line_numbers(RowFile(csv_path), {0, 1, 2}) == {0: 2, 1: 4, 2: 6}
    ndjson = write(tmp_path, "r.ndjson", '{"a": 1}\n\n{"a": 2}\n{"a": 3}\n')
    assert line_numbers(RowFile(ndjson), {1, 2}) == {1: 3, 2: 4}
    array = write(tmp_path, "r.json", '[{"a": 1}]')
    assert line_numbers(RowFile(array), {0}) == {}


def test_csv_rejects_nan_and_unknown_columns(tmp_path):
    with pytest.raises(InvalidInput, match=r"line 2, column Price"):
        list(read_rows(RowFile(write(tmp_path, "a.csv", "Price\nnan\n")), column_types=TYPES))
    with pytest.raises(InvalidInput, match="Qty"):
        list(read_rows(RowFile(write(tmp_path, "b.csv", "Id,Qty\n1,2\n")), column_types=TYPES))


def test_csv_without_types_keeps_text(tmp_path):
    path = write(tmp_path, "t.csv", "a,b\n1,x\n")
    assert list(read_rows(RowFile(path))) == [{"a": "1", "b": "x"}]


def test_ndjson_skips_blank_lines_and_names_bad_line(tmp_path):
    path = write(tmp_path, "r.ndjson", '{"a": 1}\n\n{"a": 2}\n')
    assert list(read_rows(RowFile(path))) == [{"a": 1}, {"a": 2}]
    bad = write(tmp_path, "bad.jsonl", '{"a": 1}\n[1]\n')
    with pytest.raises(InvalidInput) as info:
        list(read_rows(RowFile(bad)))
    assert info.value.details[0]["field"] == "rows[1]"


def test_json_array_streamed(tmp_path):
    path = write(tmp_path, "r.json", '[{"a": 1.5}, {"b": "x"}]')
    assert list(read_rows(RowFile(path))) == [{"a": 1.5}, {"b": "x"}]
    bad = write(tmp_path, "bad.json", '[{"a": 1}, {"b": ')
    with pytest.raises(InvalidInput, match="after row 1"):
        list(read_rows(RowFile(bad)))


def test_stdin_format_detected_from_content():
    stdin = io.BytesIO(b'  [{"a": 1}]')
    assert list(read_rows(RowFile("-"), stdin=stdin)) == [{"a": 1}]
    assert detect_format("-", b'{"a":1}\n') == "ndjson"
    assert detect_format("-", b"a,b\n") == "csv"
    assert detect_format("x.CSV", b"[") == "csv"


def test_missing_file_is_invalid_input_naming_it(tmp_path):
    with pytest.raises(InvalidInput, match="cannot open"):
        read_rows(RowFile(str(tmp_path / "nope.csv")))
