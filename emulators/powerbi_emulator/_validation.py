"""Checks of push dataset definitions and rows, with Power BI's documented limits."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from typing import TYPE_CHECKING, cast

from powerbi_emulator._http import ApiError
from powerbi_emulator._store import Column, Table

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from powerbi_emulator._config import PushLimits

__all__ = ["DATA_TYPES", "DatasetDefinition", "RowValidator", "parse_dataset", "parse_table"]

# Canonical data types by their case-insensitive spelling ("bool" and "string" appear in
# Microsoft's own examples).
DATA_TYPES = {
    "int64": "Int64",
    "double": "Double",
    "boolean": "Boolean",
    "bool": "Boolean",
    "datetime": "DateTime",
    "string": "String",
    "decimal": "Decimal",
}
PUSH_MODES = {"push": "Push", "pushstreaming": "PushStreaming", "streaming": "Streaming"}
# The swagger's Table.name and Column.name patterns.
TABLE_NAME = re.compile("[\t\n\r #\\-0-9@-Z^_a-z~-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]{1,100}")
COLUMN_NAME = re.compile("[\t\n\r -\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]+")
TABLE_OPTIONS: dict[str, type] = {"measures": list, "isHidden": bool, "description": str}
COLUMN_OPTIONS: dict[str, type] = {
    "formatString": str,
    "sortByColumn": str,
    "dataCategory": str,
    "isHidden": bool,
    "summarizeBy": str,
}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DECIMAL_MAX = 922_337_203_685_477.5807  # Power BI's fixed decimal (currency) range
US_DATE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?"
)
MAX_DETAILS = 20
SHOWN_CHARS = 60  # how much of a rejected value an error message quotes
HALF_DAY = 12


def _invalid(message: str, target: str) -> ApiError:
    return ApiError(
        400, "InvalidRequest", message, details=[{"target": target, "message": message}]
    )


class DatasetDefinition:
    """A checked CreateDatasetRequest."""

    def __init__(
        self, name: str, mode: str, tables: list[Table], relationships: list[object]
    ) -> None:
        self.name, self.mode, self.tables, self.relationships = name, mode, tables, relationships


def parse_dataset(body: object, limits: PushLimits) -> DatasetDefinition:
    """Check a CreateDatasetRequest body; raises ApiError 400 naming the offending field."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object (CreateDatasetRequest).", "dataset")
    data = cast("dict[str, object]", body)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _invalid("The dataset 'name' is required and must be a non-empty string.", "name")
    raw_mode = data.get("defaultMode", "Push")
    mode = PUSH_MODES.get(raw_mode.lower()) if isinstance(raw_mode, str) else None
    if mode is None:
        raise _invalid(
            f"defaultMode {raw_mode!r} is not supported; use Push, PushStreaming or Streaming.",
            "defaultMode",
        )
    tables = data.get("tables")
    if not isinstance(tables, list) or not tables:
        raise _invalid("'tables' is required and must be a non-empty array.", "tables")
    if len(tables) > limits.max_tables:
        raise _invalid(
            f"A push dataset can have at most {limits.max_tables} tables; got {len(tables)}.",
            "tables",
        )
    parsed: list[Table] = []
    for index, table in enumerate(tables):
        parsed.append(parse_table(table, limits, where=f"tables[{index}]"))
    seen: set[str] = set()
    for index, table_def in enumerate(parsed):
        if table_def.name.casefold() in seen:
            raise _invalid(f"Duplicate table name '{table_def.name}'.", f"tables[{index}].name")
        seen.add(table_def.name.casefold())
    relationships = data.get("relationships", [])
    if not isinstance(relationships, list):
        raise _invalid("'relationships' must be an array.", "relationships")
    return DatasetDefinition(name, mode, parsed, cast("list[object]", relationships))


def parse_table(body: object, limits: PushLimits, *, where: str = "table") -> Table:
    """Check a Table body (name, columns, optional measures); raises ApiError 400."""
    if not isinstance(body, dict):
        raise _invalid(f"{where} must be a JSON object.", where)
    data = cast("dict[str, object]", body)
    name = data.get("name")
    if not isinstance(name, str) or not TABLE_NAME.fullmatch(name):
        raise _invalid(
            f"{where}.name must be 1 to 100 characters without . , / \\ : ; ' \" ( ) [ ] "
            f"{{ }} | < > = + * & % $ ! ? or `; got {name!r}.",
            f"{where}.name",
        )
    columns = _parse_columns(data.get("columns"), name, limits, where)
    return Table(name, columns, extra=_optional_fields(data, TABLE_OPTIONS, where))


def _parse_columns(columns: object, table: str, limits: PushLimits, where: str) -> list[Column]:
    if not isinstance(columns, list) or not columns:
        raise _invalid(f"{where}.columns is required and must be a non-empty array.", where)
    if len(columns) > limits.max_columns:
        raise _invalid(
            f"A push dataset table can have at most {limits.max_columns} columns; "
            f"table '{table}' has {len(columns)}.",
            f"{where}.columns",
        )
    parsed = [_parse_column(c, f"{where}.columns[{i}]") for i, c in enumerate(columns)]
    names = {c.name.casefold() for c in parsed}
    if len(names) != len(parsed):
        raise _invalid(f"Table '{table}' has duplicate column names.", f"{where}.columns")
    for index, column in enumerate(parsed):
        sort_by = column.extra.get("sortByColumn")
        if isinstance(sort_by, str) and sort_by.casefold() not in names:
            raise _invalid(
                f"sortByColumn '{sort_by}' is not a column of table '{table}'.",
                f"{where}.columns[{index}].sortByColumn",
            )
    return parsed


def _optional_fields(
    data: dict[str, object], spec: dict[str, type], where: str
) -> dict[str, object]:
    extra: dict[str, object] = {}
    for key, expected in spec.items():
        if key in data:
            if not isinstance(data[key], expected):
                raise _invalid(
                    f"{where}.{key} must be of type {expected.__name__}.", f"{where}.{key}"
                )
            extra[key] = data[key]
    return extra


def _parse_column(body: object, where: str) -> Column:
    if not isinstance(body, dict):
        raise _invalid(f"{where} must be a JSON object with name and dataType.", where)
    data = cast("dict[str, object]", body)
    name, data_type = data.get("name"), data.get("dataType")
    if not isinstance(name, str) or not COLUMN_NAME.fullmatch(name):
        raise _invalid(f"{where}.name must be a non-empty string; got {name!r}.", f"{where}.name")
    canonical = DATA_TYPES.get(data_type.lower()) if isinstance(data_type, str) else None
    if canonical is None:
        raise _invalid(
            f"Column '{name}' has dataType {data_type!r}; use one of Int64, Double, Boolean, "
            "DateTime, String, Decimal.",
            f"{where}.dataType",
        )
    return Column(name, canonical, _optional_fields(data, COLUMN_OPTIONS, where))


def _is_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return True
    match = US_DATE.fullmatch(value.strip())  # Microsoft's examples send "07/30/2014"
    if match is None:
        return False
    month, day, year, hour, minute, second, ampm = match.groups()
    hours = int(hour or 0)
    if ampm:
        if not 1 <= hours <= HALF_DAY:
            return False
        hours = hours % HALF_DAY + (HALF_DAY if ampm.lower() == "pm" else 0)
    try:
        dt.datetime(
            int(year),
            int(month),
            int(day),
            hours,
            int(minute or 0),
            int(second or 0),
            tzinfo=dt.UTC,
        )
    except ValueError:
        return False
    return True


def _check_int64(value: object) -> str | None:
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        return "expects an Int64 (a whole number)"
    return None if INT64_MIN <= value <= INT64_MAX else "is outside the Int64 range"


def _check_double(value: object) -> str | None:
    if type(value) not in (int, float):
        return "expects a Double (a number)"
    finite = abs(cast("float", value)) <= sys.float_info.max  # a huge int would overflow float()
    return None if finite else "is outside the Double range"


def _check_decimal(value: object) -> str | None:
    if type(value) not in (int, float):
        return "expects a Decimal (a number)"
    return None if abs(cast("float", value)) <= DECIMAL_MAX else "is outside the Decimal range"


def _check_boolean(value: object) -> str | None:
    return None if type(value) is bool else "expects a Boolean (true or false)"


def _check_datetime(value: object) -> str | None:
    if type(value) is str and _is_datetime(value):
        return None
    return "expects a DateTime (an ISO 8601 string such as 2024-05-01T13:45:00Z)"


def _string_checker(max_length: int) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if type(value) is not str:
            return "expects a String"
        if len(value) > max_length:
            return f"is {len(value)} characters long; at most {max_length} are allowed"
        return None

    return check


def _checker(data_type: str, max_string: int) -> Callable[[object], str | None]:
    """A function returning why a non-null value does not fit the type (None when it does)."""
    checkers: Mapping[str, Callable[[object], str | None]] = {
        "Int64": _check_int64,
        "Double": _check_double,
        "Decimal": _check_decimal,
        "Boolean": _check_boolean,
        "DateTime": _check_datetime,
        "String": _string_checker(max_string),
    }
    return checkers[data_type]


class RowValidator:
    """Checks rows against a table's columns before they are stored."""

    def __init__(self, table: Table, limits: PushLimits) -> None:
        self._table = table
        self._columns = {c.name: c for c in table.columns}
        self._folded = {c.name.casefold(): c for c in table.columns}
        self._checks = {
            c.name: _checker(c.data_type, limits.max_string_length) for c in table.columns
        }

    def validate(self, rows: list[object]) -> list[dict[str, object]]:
        """The rows with canonical column names; raises ApiError 400 naming row and column."""
        problems: list[dict[str, str]] = []
        clean: list[dict[str, object]] = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                problems.append(
                    {"target": f"rows[{index}]", "message": f"Row {index} is not a JSON object."}
                )
                continue
            stored: dict[str, object] = {}
            for key, value in cast("dict[str, object]", row).items():
                column = self._columns.get(key) or self._folded.get(key.casefold())
                if column is None:
                    message = (
                        f"Row {index}: column '{key}' does not exist in table '{self._table.name}'."
                    )
                    problems.append({"target": f"rows[{index}].{key}", "message": message})
                    continue
                if value is not None:
                    reason = self._checks[column.name](value)
                    if reason is not None:
                        shown = json.dumps(value, ensure_ascii=False)
                        if len(shown) > SHOWN_CHARS:
                            shown = shown[: SHOWN_CHARS - 3] + "..."
                        message = f"Row {index}: column '{column.name}' {reason}; got {shown}."
                        problems.append(
                            {"target": f"rows[{index}].{column.name}", "message": message}
                        )
                        continue
                stored[column.name] = value
            clean.append(stored)
            if len(problems) >= MAX_DETAILS:
                break
        if problems:
            more = f" ({len(problems) - 1} more in details)" if len(problems) > 1 else ""
            raise ApiError(400, "InvalidRequest", problems[0]["message"] + more, details=problems)
        return clean
