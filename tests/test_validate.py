"""Validate: a broken pack gets every problem named, each with its file, line and path."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple

import pytest

from conftest import PACK, copy_pack
from connectorkit.core._errors import Problem
from connectorkit.pack import _check
from connectorkit.pack._check import check_documents, validate_pack
from connectorkit.pack._files import schema_dir
from connectorkit.pack._read import read_documents

if TYPE_CHECKING:
    from pathlib import Path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


@pytest.fixture
def pack_dir(tmp_path):
    return copy_pack(tmp_path)


def test_shipped_pack_is_valid():
    assert validate_pack(PACK) == []


def test_schemas_are_valid_json_schema():
    from jsonschema import Draft202012Validator  # noqa: PLC0415

    names = sorted(p.name for p in schema_dir().glob("*.schema.json"))
    assert names == [
        "action.schema.json",
        "connection.schema.json",
        "connector.schema.json",
        "input.schema.json",
        "request.schema.json",
        "response.schema.json",
        "trigger.schema.json",
    ]
    for name in names:
        Draft202012Validator.check_schema(json.loads((schema_dir() / name).read_text()))


def test_every_problem_is_reported_with_file_line_and_path(pack_dir):
    actions = pack_dir / "actions"
    edit(actions / "list_tables.yaml", "  - use: top\n", "  - use: top\n    lable: Top\n")
    edit(actions / "list_tables.yaml", "use: page_offset", "use: page_ofset")
    edit(actions / "create_rows.yaml", "size: 10000", 'size: "10000"')
    edit(actions / "update_table.yaml", 'name: "{table_name}"', 'name: "{tabel_name}"')
    edit(actions / "raw_request.yaml", "default: json", "default: xml")
    edit(actions / "list_groups.yaml", "key: list_groups", "key: list_group")
    edit(pack_dir / "connections" / "oauth2.yaml", "default: 60", 'default: "60"')
    edit(pack_dir / "connector.yaml", "    label: Top\n", "    lable: Top\n")
    (actions / "broken.yaml").write_text("key: broken\n  label: Broken\n", encoding="utf-8")

    problems = validate_pack(pack_dir)

    expected = {
        ("actions/broken.yaml", 2, ""),
        ("connector.yaml", line_of(pack_dir / "connector.yaml", "lable: Top"), "inputs.top.lable"),
        (
            "connections/oauth2.yaml",
            line_of(pack_dir / "connections/oauth2.yaml", '"60"'),
            "values[7].default",
        ),
        (
            "actions/create_rows.yaml",
            line_of(actions / "create_rows.yaml", "size:"),
            "request.batch.size",
        ),
        (
            "actions/list_groups.yaml",
            line_of(actions / "list_groups.yaml", "key: list_group"),
            "key",
        ),
        (
            "actions/list_tables.yaml",
            line_of(actions / "list_tables.yaml", "lable"),
            "inputs[1].lable",
        ),
        (
            "actions/list_tables.yaml",
            line_of(actions / "list_tables.yaml", "page_ofset"),
            "inputs[2].use",
        ),
        (
            "actions/raw_request.yaml",
            line_of(actions / "raw_request.yaml", "default: xml"),
            "inputs[8].default",
        ),
        (
            "actions/update_table.yaml",
            line_of(actions / "update_table.yaml", "tabel_name"),
            "request.body.name",
        ),
    }
    assert {(p.file, p.line, p.path) for p in problems} == expected
    assert len(problems) == len(expected)  # one problem per mistake: no echoes
    messages = {p.path: p.message for p in problems}
    assert "not valid YAML" in messages[""]
    assert messages["inputs.top.lable"] == "unknown key 'lable'; did you mean 'label'?"
    assert messages["values[7].default"] == 'the default must be an integer, not the text "60"'
    assert messages["request.batch.size"] == 'must be an integer, not the text "10000"'
    assert "rename the file to list_group.yaml or the key to list_groups" in messages["key"]
    assert "did you mean 'page_offset'?" in messages["inputs[2].use"]
    assert "did you mean '{table_name}'?" in messages["request.body.name"]
    assert messages["inputs[8].default"] == (
        'the default "xml" must be one of "json", "text", "binary"'
    )


class Mistake(NamedTuple):
    name: str
    file: str
    old: str  # text to replace
    new: str
    path: str  # where the one problem is
    words: str  # part of its message


CONNECTOR, OAUTH2 = "connector.yaml", "connections/oauth2.yaml"
SP = "connections/client_credentials.yaml"
CREATE_DATASET, CREATE_ROWS = "actions/create_dataset.yaml", "actions/create_rows.yaml"
DELETE_ROWS, LIST_GROUPS = "actions/delete_rows.yaml", "actions/list_groups.yaml"
LIST_REPORTS, LIST_TABLES = "actions/list_reports.yaml", "actions/list_tables.yaml"
RAW = "actions/raw_request.yaml"
RETYPED_TIMEOUT = "  - {key: timeout, label: T, type: string, comments: c.}\n  - key: url\n"
JSON_INPUT = "{label: A, type: json, comments: c.}"
TWO_ENTRIES = f"  - a: {JSON_INPUT}\n    b: {JSON_INPUT}\n"

SINGLE_MISTAKES = [
    Mistake(
        "batch-not-array",
        CREATE_ROWS,
        "input: rows",
        "input: table_name",
        "request.batch.input",
        "'table_name' must be an array input",
    ),
    Mistake(
        "slice-not-integer",
        LIST_REPORTS,
        "limit: top",
        "limit: group_id",
        "result.slice.limit",
        "'group_id' must be an integer input",
    ),
    Mistake(
        "unknown-hook",
        RAW,
        "hook: raw_request",
        "hook: raw_requests",
        "request.hook",
        "unknown hook 'raw_requests' (known: raw_request)",
    ),
    Mistake(
        "hook-ignores-path",
        RAW,
        "  hook: raw_request",
        "  hook: raw_request\n  path: /x",
        "request.path",
        "the hook 'raw_request' builds the request itself: 'path' would",
    ),
    Mistake(
        "hook-ignores-result",
        RAW,
        "request:\n  hook:",
        "result:\n  template: 1\nrequest:\n  hook:",
        "result",
        "shapes the result itself",
    ),
    Mistake(
        "hook-unread-input",
        RAW,
        "  - key: url\n",
        "  - {key: extra, label: E, type: string, comments: c.}\n  - key: url\n",
        "inputs[0]",
        "the hook 'raw_request' does not read 'extra'",
    ),
    Mistake(
        "hook-input-retyped",
        RAW,
        "    type: key_value\n    comments: >-\n      Text",
        "    type: json\n    comments: >-\n      Text",
        "inputs[3].type",
        "the hook 'raw_request' reads 'form_data' as key_value, not json",
    ),
    Mistake(
        "batch-ignores-result",
        CREATE_ROWS,
        "request:\n",
        "result:\n  template: 1\nrequest:\n",
        "result",
        "a batched request's result is the count of what was sent",
    ),
    Mistake(
        "slice-and-template",
        LIST_TABLES,
        "result:\n",
        "result:\n  template: {n: 1}\n",
        "result",
        "use either slice or template, not both",
    ),
    Mistake(
        "optional-in-path",
        LIST_REPORTS,
        "[/groups/{group_id}]",
        "/groups/{group_id}",
        "request.path",
        "'{group_id}' is optional without a default",
    ),
    Mistake(
        "query-name",
        LIST_GROUPS,
        '"{page_offset}"',
        '"{offset}"',
        "request.query.$skip",
        "'{offset}' names no input of this action",
    ),
    Mistake(
        "duplicate-input",
        DELETE_ROWS,
        "  - use: group_id\n",
        "  - use: group_id\n" * 2,
        "inputs[3]",
        "'group_id' is declared twice (first at inputs[2])",
    ),
    Mistake(
        "call-input-retyped",
        RAW,
        "  - key: url\n",
        RETYPED_TIMEOUT,
        "inputs[0].type",
        "'timeout' is a call input of type integer",
    ),
    Mistake(
        "min-above-max",
        LIST_TABLES,
        "  - use: top\n",
        "  - use: top\n    maximum: 0\n",
        "inputs[1].maximum",
        "maximum 0 is below minimum 1",
    ),
    Mistake(
        "bad-regex",
        CREATE_DATASET,
        "min_length: 1\n    comments: What",
        "pattern: '[a-'\n    comments: What",
        "inputs[0].pattern",
        "is not a valid regular expression",
    ),
    Mistake(
        "keyword-for-other-type",
        RAW,
        "default: /imports",
        "default: /imports\n    maximum: 3",
        "inputs[0].maximum",
        "'maximum' applies only to integer and number inputs",
    ),
    Mistake(
        "length-for-other-type",
        LIST_TABLES,
        "  - use: top\n",
        "  - use: top\n    min_length: 1\n",
        "inputs[1].min_length",
        "'min_length' applies only to string and array inputs, not integer",
    ),
    Mistake(
        "enum-member-type",
        RAW,
        "enum: [json, text, binary]",
        "enum: [json, text, 3]",
        "inputs[8].enum[2]",
        "3 is not a string",
    ),
    Mistake(
        "enum-member-not-text",
        RAW,
        "default: json\n    enum: [json, text, binary]",
        "enum: [[json]]",
        "inputs[8].enum[0]",
        "is not a string",
    ),
    Mistake(
        "override-default",
        LIST_TABLES,
        "  - use: top\n",
        "  - use: top\n    default: 5000\n",
        "inputs[1].default",
        "the default 5000 must be at most 1000",
    ),
    Mistake(
        "example-against-items",
        CONNECTOR,
        "{ name: Qty, dataType: Int64 }",
        "{ name: Qty, dataType: Integer }",
        "inputs.columns.example",
        "invalid element [1].dataType: 'Integer' is not one of",
    ),
    Mistake(
        "default-connection",
        CONNECTOR,
        "connection: oauth2",
        "connection: oauth",
        "default_connection",
        "'oauth' is not a connection of this pack",
    ),
    Mistake(
        "call-input-shape",
        CONNECTOR,
        "call_inputs:\n",
        "call_inputs:\n" + TWO_ENTRIES,
        "call_inputs[0]",
        "each call input is a one-entry mapping",
    ),
    Mistake(
        "map-key-case",
        CONNECTOR,
        "inputs:\n",
        f"inputs:\n  Bad: {JSON_INPUT}\n",
        "inputs.Bad",
        "'Bad' is not a valid key: use snake_case",
    ),
    Mistake(
        "key-case",
        RAW,
        "key: url",
        "key: URL",
        "inputs[0].key",
        "'URL' is not a valid key: use snake_case",
    ),
    Mistake(
        "key-with-use",
        DELETE_ROWS,
        "  - use: group_id\n",
        "  - use: group_id\n    key: gid\n",
        "inputs[2].key",
        "'key' is not allowed here",
    ),
    Mistake(
        "method-enum",
        LIST_GROUPS,
        "method: GET",
        "method: FETCH",
        "request.method",
        '"FETCH" is not allowed (did you mean "PATCH"?): use one of "GET"',
    ),
    Mistake(
        "path-start",
        LIST_GROUPS,
        "path: /groups",
        "path: groups",
        "request.path",
        "'groups' must start with '/'",
    ),
    Mistake(
        "method-missing",
        LIST_GROUPS,
        "  method: GET\n",
        "",
        "request",
        "missing required key 'method'",
    ),
    Mistake(
        "connection-default-name",
        SP,
        "oauth2/v2.0/token",
        "oauth2/v2.0/{tenant}/token",
        "values[1].default",
        "'{tenant}' names no other value of this connection",
    ),
    Mistake(
        "base-url",
        OAUTH2,
        "  - key: base_url\n",
        "  - key: root_url\n",
        "values",
        "every connection needs a 'base_url' value",
    ),
    Mistake(
        "grant-enum",
        OAUTH2,
        "grant: authorization_code",
        "grant: implicit",
        "grant",
        '"implicit" is not allowed: use one of',
    ),
]


@pytest.mark.parametrize("mistake", SINGLE_MISTAKES, ids=lambda m: m.name)
def test_each_mistake_is_one_problem(pack_dir, mistake):
    edit(pack_dir / mistake.file, mistake.old, mistake.new)
    problems = validate_pack(pack_dir)
    assert [(p.file, p.path) for p in problems] == [(mistake.file, mistake.path)], problems
    assert mistake.words in problems[0].message
    assert problems[0].line is not None


def test_problems_in_one_file_come_in_line_order(pack_dir):
    target = pack_dir / "actions" / "raw_request.yaml"
    edit(target, "default: json", "default: xml")
    edit(target, "label: URL", "label: 7")
    edit(target, "hook: raw_request", "hook: nope")
    lines = [p.line for p in validate_pack(pack_dir)]
    assert lines == sorted(lines)
    assert len(lines) == 3


def test_missing_connector_is_reported_once(pack_dir):
    (pack_dir / "connector.yaml").unlink()
    problems = validate_pack(pack_dir)
    assert [(p.file, p.line, p.path) for p in problems] == [("connector.yaml", None, "")]


def test_check_documents_without_connector(tmp_path):
    assert check_documents(tmp_path, []) == [
        Problem("connector.yaml", None, "", "is missing: a pack needs one")
    ]


def test_a_file_that_is_not_a_mapping(tmp_path):
    pack_dir = copy_pack(tmp_path)
    (pack_dir / "actions" / "listy.yaml").write_text("- a\n- b\n", encoding="utf-8")
    problems = validate_pack(pack_dir)
    assert [(p.file, p.line, p.message) for p in problems] == [
        ("actions/listy.yaml", 1, "must be a mapping, not a list"),
    ]


def test_a_clean_pack_never_composes_yaml_for_lines(monkeypatch):
    documents, problems = read_documents(PACK)
    assert problems == []

    def fail(text):
        raise AssertionError("lines are looked up only when there is a problem")

    monkeypatch.setattr(_check, "_compose", fail)
    assert check_documents(PACK, documents) == []
