"""A push's rows are decided a slice at a time in C; the verdicts must be the row check's.

The fast path may only say "every row is valid" when the generated check (which explains)
accepts every row; anything else sends the slice row by row, so the errors are the same as
before. Pinned here: that soundness for any flat schema and any rows (Python callers included,
with subclasses the C check alone would take), the messages of bad rows found in a later slice,
and the bodies sent (one encoding call per batch, byte for byte the spliced body).
"""

from __future__ import annotations

import decimal
import enum
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import copy_pack, user_connection
from connectorkit.bulk._batching import BodyFrame, placeholder, split_rows
from connectorkit.call._entry import call
from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond
from connectorkit.types._compile import compile_element, compile_rows, compile_spec
from faultserver import FaultServer

DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"


class Level(enum.IntEnum):
    LOW = 1


class Colour(str, enum.Enum):  # noqa: UP042 - the kind of str subclass a caller may have
    RED = "red"


class Text(str):  # noqa: SLOT000 - a plain subclass, as a caller's own type would be
    pass


class Count(int):
    pass


class Row(dict):  # type: ignore[type-arg]  # a dict subclass, as a Python caller may pass
    pass


# -- soundness, for any flat schema and any rows -----------------------------------------------

NAMES = st.sampled_from(["a", "b", "Qty", "é", ""])
ODD_VALUES = st.sampled_from(
    [
        Level.LOW, Colour.RED, Text("x"), Count(2), decimal.Decimal("1.5"), 1.0, 2.5, -0.0,
        float("nan"), float("inf"), True, False, None, 2**63, -(2**63) - 1, 2**70, 10**400,
        "", "x" * 5, "2026-01-02", "2026-01-02\n", "2026-1-2", [], {}, [1], {"a": 1},
    ]
)  # fmt: skip
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=6), st.booleans(), ODD_VALUES)


@st.composite
def column_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["string", "integer", "number", "boolean"]))
    schema: dict[str, Any] = {"type": kind}
    if kind in ("integer", "number") and draw(st.booleans()):
        schema["minimum"] = draw(st.one_of(st.integers(-3, 3), st.just(-(2**63)), st.just(0.5)))
    if kind in ("integer", "number") and draw(st.booleans()):
        schema["maximum"] = draw(st.one_of(st.integers(-3, 3), st.just(2**63 - 1)))
    if kind == "string" and draw(st.booleans()):
        schema["minLength"] = draw(st.integers(0, 2))
    if kind == "string" and draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(0, 6))
    if kind == "string" and draw(st.booleans()):
        schema["pattern"] = draw(st.sampled_from(["[0-9]{4}-[0-9]{2}-[0-9]{2}", "^x+$", "(", "a|"]))
    return schema


@st.composite
def row_schemas(draw: st.DrawFn) -> dict[str, Any]:
    properties = draw(st.dictionaries(NAMES, column_schemas(), max_size=4))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    if properties and draw(st.booleans()):
        schema["required"] = draw(st.lists(st.sampled_from(sorted(properties)), max_size=2))
    return schema


def rows_for(schema: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    names = st.sampled_from([*schema["properties"], "other"])
    row = st.dictionaries(names, VALUES, max_size=4)
    odd = st.one_of(row.map(Row), st.sampled_from([None, [], "row", 3]))
    return st.lists(st.one_of(row, row, row, odd), max_size=6)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_fast_path_never_passes_a_row_the_row_check_refuses(data: st.DataObject) -> None:
    schema = data.draw(row_schemas())
    fast = compile_rows(schema)
    if fast is None:  # a bound it does not decide (a number's, a float one): row by row
        assert any("minimum" in c or "maximum" in c for c in schema["properties"].values()), schema
        return
    rows = data.draw(rows_for(schema))
    row_check = compile_element(schema)
    every_row_valid = all(row_check(row) is None for row in rows)
    if fast(rows, plain=False):
        assert every_row_valid, (schema, rows)
    plain = json.loads(json.dumps(rows, default=str, allow_nan=True))
    if fast(plain, plain=True):
        assert all(row_check(row) is None for row in plain), (schema, plain)


def _past_64_bits(value: Any) -> bool:
    return type(value) is int and not -(2**63) <= value < 2**64


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_valid_plain_rows_are_decided_without_the_row_check(data: st.DataObject) -> None:
    """The point of the fast path: a list of valid JSON rows is passed in C, not row by row."""
    schema = data.draw(row_schemas())
    schema = {
        **schema,
        "properties": {
            name: {k: v for k, v in column.items() if k not in ("minimum", "maximum")}
            for name, column in schema["properties"].items()
        },
    }
    fast = compile_rows(schema)
    assert fast is not None
    row_check = compile_element(schema)
    rows = [
        r
        for r in json.loads(json.dumps(data.draw(rows_for(schema)), default=str))
        if type(r) is dict
        and row_check(r) is None
        # Floats, and integers past 64 bits, are the row check's to decide (not plain C).
        and all(type(v) is not float and not _past_64_bits(v) for v in r.values())
    ]
    assert fast(rows, plain=True)
    assert fast(rows, plain=False)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}},
        {"type": "object", "properties": {"a": {"type": "array"}}},
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0.5}}},
        {"type": "object", "properties": {"a": {"type": "number", "maximum": 3}}},
        {"type": "object", "properties": {"a": {"type": "string", "format": "uuid"}}},
        {"type": "object", "properties": {"a": {"type": "integer", "pattern": "[0-9]+"}}},
        {"type": "object", "properties": {"a": {}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "array"},
    ],
)
def test_a_schema_the_fast_path_cannot_decide_has_none(schema: dict[str, Any]) -> None:
    assert compile_rows(schema) is None


# -- through a push -----------------------------------------------------------------------------

COLUMNS = [
    {"name": "Id", "dataType": "Int64"},
    {"name": "Name", "dataType": "String"},
    {"name": "Price", "dataType": "Double"},
    {"name": "At", "dataType": "DateTime"},
    {"name": "Paid", "dataType": "Boolean"},
]


def good_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"Id": i, "Name": f"n{i}", "Price": i / 4, "At": "2026-11-28T10:00:00Z", "Paid": i % 2 == 0}
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return load_pack(copy_pack(tmp_path_factory.mktemp("fastpath")))


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def request(server: FaultServer, rows: list[Any]) -> dict[str, Any]:
    connection = user_connection()
    connection["values"]["base_url"] = server.base_url
    inputs = {"dataset_id": DATASET, "table_name": "Sales", "rows": rows, "columns": COLUMNS}
    return {"action": "create_rows", "inputs": inputs, "connection": connection}


def push_json(pack, server: FaultServer, rows: list[Any]) -> dict[str, Any]:
    runner = Runner(sleep=lambda _s: None)
    try:
        return respond(pack, runner, json.dumps(request(server, rows)))[0]
    finally:
        runner.close()


def push_python(pack, server: FaultServer, rows: list[Any]) -> dict[str, Any]:
    runner = Runner(sleep=lambda _s: None)
    try:
        return call(request(server, rows), pack, runner)
    finally:
        runner.close()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ({"Id": "7"}, 'input should be a valid integer (got "7")'),
        ({"Id": 1.5}, "input should be a valid integer (got 1.5)"),
        ({"Id": 2**63}, "less than or equal to 9223372036854775807 (got 9223372036854775808)"),
        ({"Price": True}, "must be a number (got true)"),
        ({"Paid": 1}, "input should be a valid boolean (got 1)"),
        ({"Name": None}, "input should be a valid string (got null)"),
        ({"Name": "x" * 4001}, 'must have at most 4000 characters (got "xxxx'),
        ({"At": "2026-1-2"}, "must match the pattern [0-9]{4}-[0-9]{2}-[0-9]{2}(?:"),
    ],
)
def test_a_bad_row_in_a_later_slice_is_named_and_nothing_is_sent(pack, server, cell, message):
    rows = good_rows(25_000)
    rows[23_456].update(cell)
    response = push_json(pack, server, rows)
    assert response["error"]["type"] == "invalid_input", response
    [detail] = response["error"]["details"]
    column = next(iter(cell))
    assert detail["field"] == f"rows[23456].{column}"
    assert message in detail["message"]
    assert server.rows == []


def test_an_unknown_column_in_a_later_slice_is_named(pack, server):
    rows = good_rows(12_000)
    rows[11_999]["Colour"] = "red"
    response = push_json(pack, server, rows)
    assert response["error"]["details"] == [
        {"field": "rows[11999].Colour", "message": "is not a column of the table"}
    ]
    assert server.rows == []


def test_values_only_the_row_check_takes_are_sent_as_they_were(pack, server):
    # 1.0 is an integer to the row check (C would refuse it: the slice goes row by row); a
    # trailing newline passes the anchored DateTime pattern, as it always has.
    rows = good_rows(15_000)
    rows[14_000]["Id"] = 14_000.0
    rows[14_001]["At"] = "2026-11-28\n"
    response = push_json(pack, server, rows)
    assert response["ok"] is True, response
    stored = sorted(server.rows, key=lambda row: row["Id"])  # five batches in flight: any order
    assert stored == rows
    assert type(stored[14_000]["Id"]) is float


@pytest.mark.parametrize(
    "cell",
    [
        {"Id": Level.LOW},
        {"Id": Count(3)},
        {"Price": decimal.Decimal("1.5")},
        {"Name": Text("x")},
        {"Name": Colour.RED},
    ],
)
def test_python_values_that_are_not_plain_json_are_still_refused(pack, server, cell):
    rows = good_rows(12_000)
    rows[10_500].update(cell)
    response = handle_and_check(pack, server, rows)
    [detail] = response["error"]["details"]
    assert detail["field"] == f"rows[10500].{next(iter(cell))}"
    assert detail["message"].startswith(("input should be a valid", "must be a number"))
    assert server.rows == []


def handle_and_check(pack, server: FaultServer, rows: list[Any]) -> dict[str, Any]:
    response = push_python(pack, server, rows)
    assert response["error"]["type"] == "invalid_input", response
    return response


def test_a_dict_subclass_row_is_refused_as_before(pack, server):
    rows: list[Any] = good_rows(3)
    rows[2] = Row(rows[2])
    response = handle_and_check(pack, server, rows)
    assert response["error"]["details"][0]["field"] == "rows[2]"


# -- bodies ------------------------------------------------------------------------------------


INT64 = st.integers(-(2**63), 2**63 - 1)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=3), INT64 | st.text(max_size=3), max_size=3),
    st.sampled_from(["top", "nested", "list", "tuple"]),
    st.lists(st.dictionaries(st.text(max_size=3), INT64 | st.text(max_size=4)), max_size=9),
)
def test_a_batch_body_is_byte_for_byte_the_spliced_body(extra, where, rows):
    slot: Any = placeholder()
    if where == "nested":
        slot = {"table": {"rows": slot}}
    elif where == "list":
        slot = [1, slot, "x"]
    elif where == "tuple":
        slot = (slot,)  # not a place the one-call encoding looks: spliced instead
    body = {**extra, "rows": slot}
    frame = BodyFrame.around(body)
    spliced = frame.prefix + b",".join(orjson.dumps(r) for r in rows) + frame.suffix
    batches = list(split_rows(rows, frame, max_rows=4, max_bytes=10**6))
    if rows:
        assert len(batches) == (len(rows) + 3) // 4
        assert batches[0].body == frame.prefix + b",".join(orjson.dumps(r) for r in rows[:4]) + (
            frame.suffix
        )
    whole = list(split_rows(rows, frame, max_rows=100, max_bytes=10**6))
    assert [b.body for b in whole] == ([spliced] if rows else [])


def test_the_binding_check_of_an_array_of_objects_names_the_bad_element() -> None:
    check = compile_spec({"type": "array", "items": {"type": "object"}}).check
    assert check([{}, {"a": 1}]) is None
    issues = check([{}, {}, 3, {}])
    assert issues is not None
    assert [issue.at for issue in issues] == [(2,)]
    assert check([{}, Row()]) is not None  # a dict subclass is not a JSON object, as before


def test_a_text_shorter_than_its_types_minimum_length_is_refused(tmp_path, server):
    # A pack whose String type also has a minimum length: the check in C must keep it too.
    root = copy_pack(tmp_path / "pack")
    action = root / "actions" / "create_rows.yaml"
    text = action.read_text(encoding="utf-8")
    old = "String: { type: string, maxLength: 4000 }"
    assert old in text
    action.write_text(text.replace(old, "String: { type: string, minLength: 2 }"), encoding="utf-8")
    rows = good_rows(12_000)
    rows[11_000]["Name"] = "x"
    response = push_json(load_pack(root), server, rows)
    assert response["error"]["details"] == [
        {"field": "rows[11000].Name", "message": 'must have at least 2 characters (got "x")'}
    ]
    assert server.rows == []
