"""Rows (or a file) written first as a file: created, appended to in chunks, flushed.

What the pack's ``stage`` block declares, carried out before the action's own request: when
the block names where the table's columns are (a Delta table's log) and the table exists, every
row is checked against them first, and a bad row stops the call before anything is written,
named by its position and column. Then the file is created, the rows go as CSV in appends of
at most ``chunk_bytes`` (one chunk in memory at a time; a file input is read from disk a chunk
at a time), and the file is flushed at its length. The action's request then goes with the
inputs of ``then`` in place of the rows (``{$stage.name}``: the file's name, new per call).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import HttpError, InvalidInput
from connectorkit.core._template import ABSENT, render_value
from connectorkit.operations._files import FileSource, file_source
from connectorkit.operations._scope import Scope
from connectorkit.types._coerce import coerce
from connectorkit.types._compile import compile_element
from connectorkit.types._issues import row_details

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    import httpx

    from connectorkit.operations._steps import Rendered, StepRenderer
    from connectorkit.pack._multistep import StageColumnsDef, StageDef
    from connectorkit.types._issues import Issue

__all__ = ["Staged", "chunk_size", "csv_lines", "stage_first", "table_columns"]

log = logging.getLogger("connectorkit")

MAX_ROW_REPORTS = 20  # bad rows named one by one; the rest are counted
_TEXT_BLOCK = 64 * 1024  # CSV text is encoded this much at a time
_NOT_FOUND = 404
# A table's log is read from its first commit on; past this many, the check gives up.
MAX_LOG_COMMITS = 10_000


class Staged:
    """What was written: the file's name, its size, its rows and how many appends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.size = 0
        self.rows = 0
        self.appends = 0
        self.total: int | None = None  # the bytes to write, when known first (a file)

    def to_dict(self) -> dict[str, Any]:
        """The summary a response's ``meta`` carries."""
        out = {"file": self.name, "bytes": self.size, "rows": self.rows, "appends": self.appends}
        if self.total is not None:
            out["total_bytes"] = self.total
        return out


def stage_first(
    renderer: StepRenderer,
    send: Callable[[Rendered], httpx.Response],
    action: str,
    stage: StageDef,
    inputs: Mapping[str, Any],
    *,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], Staged]:
    """The inputs of the action's request once the rows are written; what was written.

    ``watch`` hears how the writing goes after each append (``{"staged": …}``).
    """
    named = render_value(stage.name, inputs) if stage.name is not None else ABSENT
    staged = Staged(str(named) if named is not ABSENT and named else f"{uuid.uuid4()}.csv")
    chunks = _source(renderer, send, stage, inputs, staged)
    names = {**inputs, "$stage.name": staged.name}
    _send_step(renderer, send, stage.create, names)
    for chunk in chunks:
        scope = {**names, "$chunk.offset": staged.size}
        rendered = renderer.render(stage.append, Scope(scope))
        if rendered is None:  # pragma: no cover - an append step has a path
            break
        if isinstance(chunk, bytes):
            rendered.spec.content = chunk
        else:
            rendered.spec.upload = chunk  # read from disk when sent (and again on a retry)
        send(rendered)
        staged.size += chunk_size(chunk)
        staged.appends += 1
        if watch is not None:
            watch({"staged": staged.to_dict()})
    names |= {"$stage.size": staged.size, "$stage.rows": staged.rows}
    _send_step(renderer, send, stage.flush, names)
    log.info(
        "%s: %d rows, %d bytes written to %s in %d appends",
        action,
        staged.rows,
        staged.size,
        staged.name,
        staged.appends,
    )
    then = {
        key: rendered
        for key, template in stage.then.items()
        if (rendered := render_value(template, Scope(names))) is not ABSENT
    }
    kept = {k: v for k, v in inputs.items() if k not in {stage.rows, stage.file}}
    return {**kept, **then}, staged


def _source(
    renderer: StepRenderer,
    send: Callable[[Rendered], httpx.Response],
    stage: StageDef,
    inputs: Mapping[str, Any],
    staged: Staged,
) -> Iterable[bytes | FileSource]:
    """The file's chunks, once the rows (or the file's records) are checked (counted in staged)."""
    rows = inputs.get(stage.rows)
    given_file = inputs.get(stage.file) if stage.file else None
    if rows is None and not isinstance(given_file, dict):
        fields = stage.rows + (f" or {stage.file}" if stage.file else "")
        raise InvalidInput(
            f"give the rows to write: {fields}",
            details=[{"field": stage.rows, "message": "is missing"}],
        )
    if rows is not None and isinstance(given_file, dict):
        raise InvalidInput(
            f"give either {stage.rows} or {stage.file}, not both",
            details=[{"field": str(stage.file), "message": f"given with {stage.rows}"}],
        )
    columns = None
    if stage.columns is not None and _checked_now(stage.columns, inputs):
        columns = table_columns(renderer, send, stage.columns, inputs)
    if rows is not None:
        if not isinstance(rows, list) or not rows:
            raise InvalidInput(
                f"{stage.rows} holds no row: nothing to write",
                details=[{"field": stage.rows, "message": "is empty"}],
            )
        header = _checked_rows(rows, columns, stage)
        staged.rows = len(rows)
        return csv_lines(rows, header, stage.chunk_bytes)
    assert isinstance(given_file, dict)  # noqa: S101 - checked above
    name = str(stage.file)
    if columns is not None:
        staged.rows = _checked_file(name, given_file, columns, stage)
    staged.total = file_source(name, dict(given_file)).size
    return _file_chunks(name, given_file, stage.chunk_bytes)


def _send_step(
    renderer: StepRenderer,
    send: Callable[[Rendered], httpx.Response],
    step: Any,
    names: Mapping[str, Any],
) -> None:
    rendered = renderer.render(step, Scope(names))
    if rendered is not None:
        send(rendered)


def _checked_now(columns: StageColumnsDef, inputs: Mapping[str, Any]) -> bool:
    """Whether this call's inputs ask for the check (``when``; absent: always)."""
    return all(inputs.get(key) in values for key, values in columns.when.items())


# -- the table's columns ------------------------------------------------------------------------


def table_columns(
    renderer: StepRenderer,
    send: Callable[[Rendered], httpx.Response],
    columns: StageColumnsDef,
    inputs: Mapping[str, Any],
) -> list[dict[str, str]] | None:
    """The columns (``[{name, type}]``) the table's Delta log names; None for a new table."""
    found: list[dict[str, str]] | None = None
    for version in range(MAX_LOG_COMMITS):
        rendered = renderer.render(
            columns.delta_log, Scope({**inputs, "$delta.version": f"{version:020d}"})
        )
        if rendered is None:  # pragma: no cover - the step has a path
            return None
        try:
            response = send(rendered)
        except HttpError as error:
            if error.status == _NOT_FOUND:
                return found  # the log ends here (or, at its first commit, there is no table)
            raise
        found = _schema_of(response.content) or found
    return found


def _schema_of(commit: bytes) -> list[dict[str, str]] | None:
    """The columns of a commit's ``metaData`` action, if it has one."""
    for line in commit.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        meta = entry.get("metaData") if isinstance(entry, dict) else None
        if not isinstance(meta, dict):
            continue
        try:
            schema = json.loads(str(meta.get("schemaString")))
        except ValueError:
            return None
        fields = schema.get("fields") if isinstance(schema, dict) else None
        return [
            {"name": str(f.get("name")), "type": _type_name(f.get("type"))}
            for f in fields or []
            if isinstance(f, dict)
        ]
    return None


def _type_name(kind: Any) -> str:
    """A Delta column type as a name (a nested struct, array or map is its ``type``)."""
    if isinstance(kind, dict):
        return str(kind.get("type"))
    return str(kind)


# -- the rows' check ------------------------------------------------------------------------------


def _row_check(
    columns: list[dict[str, str]], types: Mapping[str, Mapping[str, Any]]
) -> Callable[[Any], list[Issue] | None]:
    properties = {c["name"]: dict(types.get(c["type"], {})) for c in columns}
    return compile_element(
        {"type": "object", "properties": properties, "additionalProperties": False}
    )


def _checked_rows(
    rows: list[Any], columns: list[dict[str, str]] | None, stage: StageDef
) -> list[str]:
    """The file's header; every row checked against the table's columns when they are known.

    A null value is an empty cell, which every column takes. Raises :class:`InvalidInput`
    naming each bad row (the first twenty) by its position and column: nothing is written.
    """
    name = stage.rows
    bad: list[dict[str, Any]] = []
    count = 0
    check = (
        _row_check(columns, stage.columns.types)
        if columns is not None and stage.columns is not None
        else None
    )
    seen: dict[str, None] = {}
    for position, row in enumerate(rows):
        if not isinstance(row, dict):
            count += 1
            if len(bad) < MAX_ROW_REPORTS:
                bad.append({"field": f"{name}[{position}]", "message": "must be an object"})
            continue
        present = {k: v for k, v in row.items() if v is not None}
        issues = check(present) if check is not None else None
        if issues:
            count += 1
            if len(bad) < MAX_ROW_REPORTS:
                bad += row_details(name, position, issues)
            continue
        if columns is None:
            seen.update(dict.fromkeys(row))
    if count:
        more = f" (the first {MAX_ROW_REPORTS} are listed)" if count > MAX_ROW_REPORTS else ""
        verb = "does" if count == 1 else "do"
        raise InvalidInput(
            f"{count:,} of the {name} {verb} not fit the table's columns{more}; nothing was "
            "written",
            details=bad,
        )
    return [c["name"] for c in columns] if columns is not None else list(seen)


def _checked_file(
    name: str, given: Mapping[str, Any], columns: list[dict[str, str]], stage: StageDef
) -> int:
    """Every record of a CSV file checked against the table's columns; how many there are."""
    assert stage.columns is not None  # noqa: S101 - columns come from stage.columns
    types = stage.columns.types
    kinds = {c["name"]: str(types.get(c["type"], {}).get("type", "string")) for c in columns}
    check = _row_check(columns, types)
    bad: list[dict[str, Any]] = []
    count = records = 0
    with file_source(name, dict(given)).open() as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        named = _file_header(name, next(reader, None), columns)
        for position, record in enumerate(reader):
            records += 1
            where = (position, reader.line_num)
            problems = _record_problems(name, where, named, record, kinds, check)
            if problems:
                count += 1
                if len(bad) < MAX_ROW_REPORTS:
                    bad += problems
    if count:
        verb = "does" if count == 1 else "do"
        raise InvalidInput(
            f"{count:,} of the rows of {name} {verb} not fit the table's columns; nothing was "
            "written",
            details=bad,
        )
    return records


def _file_header(name: str, header: list[str] | None, columns: list[dict[str, str]]) -> list[str]:
    """The table's column of each of the file's header cells (any case); refuses another."""
    if not header:
        raise InvalidInput(
            f"{name} is empty: a CSV file starts with a header naming its columns",
            details=[{"field": name, "message": "has no header"}],
        )
    by_name = {c["name"].casefold(): c["name"] for c in columns}
    named: list[str] = []
    for cell in header:
        column = by_name.get(cell.casefold())
        if column is None:
            listed = ", ".join(c["name"] for c in columns)
            raise InvalidInput(
                f"{name}: '{cell}' is not a column of the table ({listed}); nothing was written",
                details=[{"field": f"{name}.header", "message": f"'{cell}' is no column"}],
            )
        named.append(column)
    return named


def _record_problems(  # noqa: PLR0917 - one record and what it is checked by
    name: str,
    where: tuple[int, int],
    named: list[str],
    record: list[str],
    kinds: Mapping[str, str],
    check: Callable[[Any], list[Issue] | None],
) -> list[dict[str, Any]]:
    """What is wrong with one record of a CSV file (nothing: an empty list).

    ``where``: the record's position among the rows, and the file's line it ends on.
    """
    position, line = where
    if len(record) != len(named):
        message = f"has {len(record)} values, not {len(named)} (line {line})"
        return [{"field": f"{name}[{position}]", "message": message}]
    row: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for column, cell in zip(named, record, strict=True):
        if cell == "":
            continue  # an empty cell is null, which every column takes
        try:
            row[column] = coerce(cell, kinds[column])
        except ValueError as exc:
            field = f"{name}[{position}].{column}"
            problems.append({"field": field, "message": f"{exc} (line {line})"})
    if problems:
        return problems
    issues = check(row)
    return row_details(name, position, issues) if issues else []


# -- the file's bytes ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def csv_lines(rows: Iterable[Any], header: list[str], chunk_bytes: int) -> Iterator[bytes]:
    """The rows as CSV text (a header first), in pieces of ``chunk_bytes`` (the last shorter)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    pending = bytearray()
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
        if buffer.tell() >= _TEXT_BLOCK:
            pending += buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            while len(pending) >= chunk_bytes:
                yield bytes(pending[:chunk_bytes])
                del pending[:chunk_bytes]
    pending += buffer.getvalue().encode()
    for start in range(0, len(pending), chunk_bytes):
        yield bytes(pending[start : start + chunk_bytes])


def chunk_size(chunk: bytes | FileSource) -> int:
    """The length of a chunk in bytes."""
    return len(chunk) if isinstance(chunk, bytes) else chunk.size


def _file_chunks(name: str, given: Mapping[str, Any], size: int) -> Iterator[FileSource]:
    """A file input's blocks of ``size`` bytes, each read from disk when it is sent."""
    source = file_source(name, dict(given))
    for offset in range(0, source.size, size):
        yield source.block(offset, min(size, source.size - offset))
