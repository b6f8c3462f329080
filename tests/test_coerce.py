"""Text to typed values: the command line, the sign-in and CSV cells read text the same way."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from connectorkit.auth._login import _typed as login_typed
from connectorkit.bulk._rowsource import RowFile, read_rows
from connectorkit.cli._inputs import parse_assignments
from connectorkit.core._errors import InvalidInput
from connectorkit.types._coerce import FALSE_WORDS, TRUE_WORDS, coerce

SPELLINGS = [
    *[(word, True) for word in TRUE_WORDS],
    *[(word, False) for word in FALSE_WORDS],
    *[(word.upper(), True) for word in TRUE_WORDS],
    (" Yes ", True),
    ("Off", False),
]
NOT_BOOLEAN = ["maybe", "2", "tru"]


def _cli(kind: str, text: str):
    action = SimpleNamespace(input=lambda key: SimpleNamespace(type=kind))
    return parse_assignments(action, [f"value={text}"])["value"]


def _login(kind: str, text: str):
    connection = SimpleNamespace(values=[SimpleNamespace(key="value", type=kind)])
    pack = SimpleNamespace(connections={"c": connection})
    return login_typed(pack, "c", {"value": text}, {"value"})["value"]


def _csv(kind: str, text: str, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(f'value\n"{text}"\n', encoding="utf-8")
    return next(iter(read_rows(RowFile(str(path)), column_types={"value": kind})))["value"]


@pytest.mark.parametrize(("text", "value"), SPELLINGS)
def test_the_command_line_the_sign_in_and_csv_read_a_boolean_the_same_way(text, value, tmp_path):
    assert _cli("boolean", text) is value
    assert _login("boolean", text) is value
    assert _csv("boolean", text, tmp_path) is value


@pytest.mark.parametrize("text", NOT_BOOLEAN)
def test_text_that_is_no_boolean_is_refused_alike(text, tmp_path):
    # The command line and the sign-in pass it on for binding to name; a CSV cell is refused.
    assert _cli("boolean", text) == text
    assert _login("boolean", text) == text
    with pytest.raises(InvalidInput, match="is not true or false"):
        _csv("boolean", text, tmp_path)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("integer", "42", 42),
        ("integer", " -7 ", -7),
        ("integer", "+3", 3),
        ("number", "3", 3),
        ("number", "-0.5", -0.5),
        ("number", "1e3", 1000.0),
    ],
)
def test_numbers_are_read_the_same_way_everywhere(kind, text, value, tmp_path):
    for got in (_cli(kind, text), _login(kind, text), _csv(kind, text, tmp_path)):
        assert got == value
        assert type(got) is type(value)


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("integer", "4.5", "'4.5' is not a whole number"),
        ("integer", "1_000", "'1_000' is not a whole number"),
        ("number", "nan", "'nan' is not a number"),
        ("number", ".5", "'.5' is not a number"),
        ("number", "1e999", "'1e999' is out of range"),
        ("boolean", "maybe", "'maybe' is not true or false"),
    ],
)
def test_what_is_refused_says_what_was_expected(kind, text, message):
    with pytest.raises(ValueError, match=message):
        coerce(text, kind)


def test_strings_stay_as_written_and_json_types_are_json():
    assert coerce(" two words ", "string") == " two words "
    assert coerce("yes", None) == "yes"
    assert coerce('{"a": [1]}', "object") == {"a": [1]}
    assert coerce("[1, 2]", "array") == [1, 2]


def test_the_documented_spellings_are_the_accepted_ones():
    from conftest import ROOT  # noqa: PLC0415

    text = (ROOT / "docs" / "pack-format.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `boolean` |"))
    true_part, false_part = row.split("for true;")
    assert [w.strip("`") for w in true_part.split("|")[2].split()] == list(TRUE_WORDS)
    assert [w.strip("`") for w in false_part.split("for false")[0].split()] == list(FALSE_WORDS)
