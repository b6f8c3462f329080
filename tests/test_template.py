"""Templates: escaped path segments, optional parts, typed JSON values."""

from __future__ import annotations

import pytest

from connectorkit.core._errors import InvalidInput
from connectorkit.core._template import ABSENT, placeholders, render_path, render_value

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
