"""Row validation: the compiled validator of ``_types`` against ``jsonschema`` on the same rows.

A push table's rows are checked by the same machinery that binds every input, so it must be
cheap: this prints the time per 8-column row of each, valid rows and rows with one bad cell.

    .venv/bin/python bench/row_validation.py [--rows N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _benchlib import banner, print_table
from jsonschema import Draft202012Validator

from connectorkit.types._compile import compile_element

ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["Product", "Qty"],
    "properties": {
        "Product": {"type": "string", "maxLength": 4000},
        "Qty": {"type": "integer"},
        "Price": {"type": "number"},
        "Paid": {"type": "boolean"},
        "SoldAt": {"type": "string"},
        "Region": {"type": "string", "enum": ["North", "South", "East", "West"]},
        "Discount": {"type": "number", "minimum": 0, "maximum": 1},
        "Note": {"type": "string"},
    },
}


def rows(count: int, *, bad_every: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        row: dict[str, Any] = {
            "Product": f"Product {i % 97}",
            "Qty": i % 13,
            "Price": 9.99 + i % 7,
            "Paid": i % 2 == 0,
            "SoldAt": "2026-11-28T12:00:00Z",
            "Region": ("North", "South", "East", "West")[i % 4],
            "Discount": (i % 10) / 10,
            "Note": "",
        }
        if bad_every and i % bad_every == 0:
            row["Qty"] = "many"
        out.append(row)
    return out


def per_row_us(check: Any, data: list[dict[str, Any]], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for row in data:
            check(row)
        best = min(best, time.perf_counter() - started)
    return best / len(data) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    banner("row validation: 8 columns", [f"{args.rows:,} rows, best of 5 passes"])
    ours = compile_element(ROW_SCHEMA)
    theirs = Draft202012Validator(ROW_SCHEMA)
    table = []
    for label, data in (
        ("valid rows", rows(args.rows)),
        ("1 row in 10 has a bad cell", rows(args.rows, bad_every=10)),
    ):
        assert all((ours(r) is None) == theirs.is_valid(r) for r in data)  # noqa: S101
        mine = per_row_us(ours, data)
        jsonschema_is_valid = per_row_us(theirs.is_valid, data)
        table.append([label, mine, jsonschema_is_valid, jsonschema_is_valid / mine])
    print_table(["rows", "_types µs/row", "jsonschema µs/row", "ratio"], table)


if __name__ == "__main__":
    main()
