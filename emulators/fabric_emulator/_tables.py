"""Load Table: CSV files of a lakehouse become rows of a Delta table, and its Delta log.

A new table (or one overwritten) takes its columns from the files' header and its types from
the values (long, double, boolean, timestamp, date, string, the narrowest that fits every
value). Appending to a table needs the same columns (any order, any case) and values that fit
their types; otherwise the operation fails naming the file, row and column, and the table is
left as it was. Each load writes one commit of the table's Delta log in OneLake
(`Tables/{name}/_delta_log/`), whose metaData carries the columns and whose add action
carries the row count, so a client reading the log learns both.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import re
import uuid
from typing import TYPE_CHECKING

from emulator_core import OperationFailedError
from fabric_emulator._store import Column, DataFile, Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from fabric_emulator._onelake_files import ItemFiles

__all__ = ["Load", "LoadRequest", "commit", "read_rows", "scan", "sources"]

_LONG = re.compile(r"[+-]?\d{1,19}")
_DOUBLE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(Infinity|NaN)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?"
)
_BOOLEAN = frozenset({"true", "false"})
BLOCK_ROWS = 10_000  # rows checked together, a column at a time
INT64 = 2**63
SHOWN = 40


def _is_long(text: str) -> bool:
    return bool(_LONG.fullmatch(text)) and -INT64 <= int(text) < INT64


def _is_double(text: str) -> bool:
    return bool(_DOUBLE.fullmatch(text))


def _is_boolean(text: str) -> bool:
    return text.lower() in _BOOLEAN


def _is_date(text: str) -> bool:
    return bool(_DATE.fullmatch(text)) and _parses(text[:10])


def _is_timestamp(text: str) -> bool:
    return bool(_TIMESTAMP.fullmatch(text)) and _parses(text[:10])


def _parses(date: str) -> bool:
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        return False
    return True


# The narrowest type first: a column's first value takes the first type it fits.
CHECKS: dict[str, Callable[[str], bool]] = {
    "long": _is_long,
    "double": _is_double,
    "boolean": _is_boolean,
    "date": _is_date,
    "timestamp": _is_timestamp,
    "string": lambda _text: True,
}
# Quick checks of whole columns (in C); a value they refuse gets the full check above.
_ALWAYS = re.compile(r".*", re.DOTALL)
FAST: dict[str, Callable[[str], object]] = {
    "long": re.compile(r"[+-]?\d{1,18}").fullmatch,
    "double": _DOUBLE.fullmatch,
    "boolean": re.compile(r"(?i:true|false)").fullmatch,
    "date": re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])").fullmatch,
    "timestamp": re.compile(
        r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
        r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?"
    ).fullmatch,
    "string": _ALWAYS.fullmatch,
}
# Where a column goes when a value does not fit its type: a wider type of the same family.
WIDER = {
    "long": ("double", "string"),
    "double": ("string",),
    "boolean": ("string",),
    "date": ("timestamp", "string"),
    "timestamp": ("string",),
    "string": (),
}


class LoadRequest:
    """What a Load Table request asks for, checked."""

    def __init__(self, body: dict[str, object]) -> None:
        self.relative_path = str(body["relativePath"])
        self.folder = body.get("pathType") == "Folder"
        self.mode = str(body.get("mode", "Overwrite"))
        self.recursive = body.get("recursive") is True
        extension = body.get("fileExtension")
        self.extension = str(extension).lower() if extension else None
        options = body.get("formatOptions")
        options = options if isinstance(options, dict) else {}
        self.format = str(options.get("format", "Csv"))
        self.header = options.get("header", True) is not False
        self.delimiter = str(options.get("delimiter", ",") or ",")


def sources(files: ItemFiles, request: LoadRequest) -> list[tuple[str, bytes]]:
    """(path, content) of the files to load; raises OperationFailedError when there are none."""
    path = request.relative_path.strip("/")
    if not request.folder:
        node = files.get(path)
        if node is None or not hasattr(node, "chunks"):
            raise OperationFailedError("PathNotFound", f"There is no file at {path}.")
        return [(path, files.file(path).content())]
    found = [
        (p, files.file(p).content())
        for p, node in files.listing(path, recursive=request.recursive)
        if hasattr(node, "chunks")
        and (request.extension is None or p.lower().endswith(f".{request.extension}"))
    ]
    if not found:
        raise OperationFailedError("PathNotFound", f"There are no data files in the folder {path}.")
    return found


def _records(content: bytes, delimiter: str) -> Iterator[list[str]]:
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    yield from csv.reader(text, delimiter=delimiter)


def _fail(where: str, message: str) -> OperationFailedError:
    return OperationFailedError("InvalidInput", f"{where}: {message}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN else text[: SHOWN - 3] + "...")


def _header(
    path: str, first: list[str], request: LoadRequest, expected: Sequence[Column] | None
) -> tuple[list[str], list[int]]:
    """The table's column names, and for each the position of its values in a record."""
    names = first if request.header else [f"_c{i}" for i in range(len(first))]
    if len({n.casefold() for n in names}) != len(names) or not all(names):
        raise _fail(path, "the header must name every column once")
    if expected is None:
        return names, list(range(len(names)))
    wanted = [c.name.casefold() for c in expected]
    given = [n.casefold() for n in names] if request.header else wanted[: len(names)]
    if sorted(given) != sorted(wanted):
        listed = ", ".join(c.name for c in expected)
        raise _fail(path, f"the columns ({', '.join(names)}) are not the table's ({listed})")
    return [c.name for c in expected], [given.index(name) for name in wanted]


class _Typing:
    """The types of a file's columns (by position), checked or found a block of rows at a time."""

    def __init__(
        self, path: str, names: list[str], types: list[str | None], *, widen: bool
    ) -> None:
        self.path, self.names, self.types, self.widen = path, names, types, widen

    def block(self, rows: list[list[str]], first_number: int) -> None:
        """Check (or widen) the types against a block of records of the right length."""
        for position, values in enumerate(zip(*rows, strict=True)):
            kind = self.types[position]
            present = [v for v in values if v]  # an empty value is null in any column
            if kind is not None and all(map(FAST[kind], present)):
                continue
            for offset, value in enumerate(values):
                if value and (kind is None or not CHECKS[kind](value)):
                    kind = self._wider(kind, value, position, first_number + offset)
            self.types[position] = kind

    def _wider(self, kind: str | None, value: str, position: int, number: int) -> str:
        if kind is not None and not self.widen:
            name = self.names[position]
            raise _fail(self.path, f"row {number}, column {name}: {_shown(value)} is not a {kind}")
        choices = list(CHECKS) if kind is None else WIDER[kind]
        return next(k for k in choices if CHECKS[k](value))


def _scan(
    path: str,
    content: bytes,
    request: LoadRequest,
    expected: Sequence[Column] | None,
    *,
    widen: bool,
) -> tuple[list[Column], DataFile]:
    """The columns of one file and its rows.

    With `expected`, the file must have those columns; a value that does not fit its column's
    type fails the load, or (`widen`) makes the type wider.
    """
    records = _records(content, request.delimiter)
    try:
        first = next(records, None)
        if first is None:
            raise _fail(path, "the file is empty")
        names, order = _header(path, first, request, expected)
        by_position: list[str | None] = [None] * len(names)
        named = [""] * len(names)
        for column, position in enumerate(order):
            by_position[position] = expected[column].type if expected is not None else None
            named[position] = names[column]
        typing = _Typing(path, named, by_position, widen=widen)
        rows = 0
        block = [] if request.header else [first]
        number = 2 if request.header else 1  # the row number of the block's first record
        for record in records:
            if len(record) != len(names):
                row = number + len(block)
                raise _fail(path, f"row {row} has {len(record)} values, not {len(names)}")
            block.append(record)
            if len(block) == BLOCK_ROWS:
                typing.block(block, number)
                number, rows, block = number + len(block), rows + len(block), []
        if block:
            typing.block(block, number)
            rows += len(block)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise _fail(path, f"the file is not CSV text ({exc})") from None
    # A column with no value at all is text.
    columns = [Column(name, by_position[order[c]] or "string") for c, name in enumerate(names)]
    return columns, DataFile(content, rows, request.header, request.delimiter, tuple(order))


@dataclasses.dataclass(frozen=True)
class Load:
    """A load, checked: the table it makes and the data files it adds."""

    table: Table
    added: list[DataFile]
    overwrite: bool


def scan(
    files: list[tuple[str, bytes]], table: Table | None, name: str, request: LoadRequest
) -> Load:
    """The table the files make (`table` is not changed); raises OperationFailedError."""
    if request.format != "Csv":
        raise OperationFailedError(
            "UnsupportedFileFormat", f"The emulator loads Csv files, not {request.format}."
        )
    appending = request.mode == "Append" and table is not None and bool(table.columns)
    expected = table.columns if appending and table is not None else None
    columns: list[Column] | None = list(expected) if expected is not None else None
    added: list[DataFile] = []
    for path, content in files:
        # The first file of a new table names its columns; the others may widen their types.
        columns, data = _scan(path, content, request, columns, widen=expected is None)
        added.append(data)
    if columns is None:  # pragma: no cover - sources() never returns an empty list
        raise OperationFailedError("PathNotFound", "There are no data files to load.")
    kept = table.files if appending and table is not None else []
    version = table.version if table is not None else -1
    made = Table(table.name if table is not None else name, columns, [*kept, *added], version)
    return Load(made, added, overwrite=not appending)


def commit(files: ItemFiles, load: Load, now: float) -> Table:
    """Write the load's commit of the table's Delta log; the table, at its new version."""
    table, added, overwrite = load.table, load.added, load.overwrite
    table.version += 1
    millis = int(now * 1000)
    actions: list[dict[str, object]] = []
    if table.version == 0:
        actions.append({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}})
    if table.version == 0 or overwrite:
        fields = [
            {"name": c.name, "type": c.type, "nullable": True, "metadata": {}}
            for c in table.columns
        ]
        schema = json.dumps({"type": "struct", "fields": fields}, separators=(",", ":"))
        actions.append(
            {
                "metaData": {
                    "id": str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"fabric-emulator/table/{table.name}")
                    ),
                    "format": {"provider": "parquet", "options": {}},
                    "schemaString": schema,
                    "partitionColumns": [],
                    "configuration": {},
                    "createdTime": millis,
                }
            }
        )
    for data in added:
        stats = json.dumps({"numRecords": data.rows}, separators=(",", ":"))
        actions.append(
            {
                "add": {
                    "path": f"part-{table.version:05d}-{uuid.uuid4()}-c000.snappy.parquet",
                    "partitionValues": {},
                    "size": len(data.content),
                    "modificationTime": millis,
                    "dataChange": True,
                    "stats": stats,
                }
            }
        )
    mode = "Overwrite" if overwrite else "Append"
    actions.append(
        {
            "commitInfo": {
                "timestamp": millis,
                "operation": "WRITE",
                "operationParameters": {"mode": mode},
            }
        }
    )
    text = "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions).encode()
    path = f"Tables/{table.name}/_delta_log/{table.version:020d}.json"
    files.create_file(path)
    files.append(path, 0, text)
    files.flush(path, len(text))
    return table


def read_rows(table: Table, *, skip: int = 0, top: int = 100) -> list[dict[str, object]]:
    """Rows of the table as JSON objects (text values; empty ones null), oldest first."""
    out: list[dict[str, object]] = []
    for data in table.files:
        if skip >= data.rows:
            skip -= data.rows
            continue
        records = _records(data.content, data.delimiter)
        if data.header:
            next(records, None)
        for index, record in enumerate(records):
            if index < skip:
                continue
            row: dict[str, object] = {
                c.name: (record[p] or None) for c, p in zip(table.columns, data.order, strict=True)
            }
            out.append(row)
            if len(out) >= top:
                return out
        skip = 0
    return out
