"""Row sources: rows read one at a time from a CSV, NDJSON or JSON-array file, or from stdin.

Memory stays flat whatever the file's size: a JSON array is parsed as a stream (ijson), NDJSON
and CSV a line at a time. CSV cells are text; each is converted by the JSON type of its column
(``integer``, ``number``, ``boolean``, ``string``), and an empty cell leaves the column out of
the row. Every problem names the row by its position, as ``rows[N]`` does in a request, and
(CSV, NDJSON) by its line in the file, which is what an editor shows.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

import orjson

from connectorkit.core._errors import InvalidInput
from connectorkit.types._coerce import coerce

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = ["FORMATS", "FileRows", "RowFile", "detect_format", "line_numbers", "read_rows"]

Format = Literal["csv", "ndjson", "json"]
FORMATS: tuple[Format, ...] = ("csv", "ndjson", "json")
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
_PEEK = 64


@dataclass(frozen=True, slots=True)
class RowFile:
    """Where rows come from: a path (``-`` for stdin) and its format, guessed when not given."""

    path: str
    format: Format | None = None


def detect_format(path: str, head: bytes) -> Format:
    """The format of a file from its name, else from its first non-blank byte."""
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    first = head.lstrip(codecs.BOM_UTF8).lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "ndjson"
    return "csv"


def read_rows(
    source: RowFile,
    *,
    column_types: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
    field: str = "rows_file",
) -> Iterator[dict[str, Any]]:
    """Yield the rows of ``source``, one dict each, converting CSV cells by ``column_types``.

    ``column_types`` maps a column's name to a JSON type; without it CSV cells stay text.
    """
    stream: IO[bytes]
    if source.path == "-":
        if stdin is None:
            raise InvalidInput(f"{field}: '-' means standard input, and there is none here")
        stream = stdin
    else:
        try:
            stream = Path(source.path).open("rb")  # noqa: SIM115 - closed by the generator below
        except OSError as exc:
            raise InvalidInput(
                f"{field}: cannot open {source.path!r}: {exc.strerror}",
                details=[{"field": field, "message": exc.strerror or str(exc)}],
            ) from None
    buffered = (
        stream
        if isinstance(stream, io.BufferedReader)
        else io.BufferedReader(cast("io.RawIOBase", stream))
    )
    return _rows(buffered, source, column_types, field, close=source.path != "-")


def _rows(
    stream: io.BufferedReader[Any],
    source: RowFile,
    column_types: Mapping[str, str] | None,
    field: str,
    *,
    close: bool,
) -> Iterator[dict[str, Any]]:
    try:
        fmt = source.format or detect_format(source.path, stream.peek(_PEEK)[:_PEEK])
        if fmt == "json":
            yield from _json_array(stream, field)
        elif fmt == "ndjson":
            yield from _ndjson(stream, field)
        else:
            yield from _csv(stream, column_types, field)
    finally:
        if close:
            stream.close()


def _not_object(position: int, value: object, field: str) -> InvalidInput:
    kind = type(value).__name__
    return InvalidInput(
        f"{field}: row {position} is a {kind}, not an object",
        details=[{"field": f"rows[{position}]", "message": f"expected an object, got {kind}"}],
    )


def _json_array(stream: IO[bytes], field: str) -> Iterator[dict[str, Any]]:
    import ijson  # type: ignore[import-untyped]  # noqa: PLC0415 - only JSON files need it

    position = 0
    try:
        for item in ijson.items(stream, "item", use_float=True):
            if not isinstance(item, dict):
                raise _not_object(position, item, field)
            yield item
            position += 1
    except ijson.JSONError as exc:
        raise InvalidInput(
            f"{field}: not a JSON array of objects (after row {position}): {exc}",
            details=[{"field": f"rows[{position}]", "message": str(exc)}],
        ) from None


def _ndjson(stream: IO[bytes], field: str) -> Iterator[dict[str, Any]]:
    position = 0
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"{field}: line {number} is not JSON: {exc}",
                details=[{"field": f"rows[{position}]", "message": f"line {number}: {exc}"}],
            ) from None
        if not isinstance(item, dict):
            raise _not_object(position, item, field)
        yield item
        position += 1


def _csv(
    stream: IO[bytes], column_types: Mapping[str, str] | None, field: str
) -> Iterator[dict[str, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(csv.reader(text), column_types, field)
    finally:
        text.detach()  # the caller owns the byte stream and closes it


def _csv_rows(
    reader: Any, column_types: Mapping[str, str] | None, field: str
) -> Iterator[dict[str, Any]]:
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{field}: the CSV file is not UTF-8 ({exc.reason})") from None
    names = [name.strip() for name in header]
    converters: list[Callable[[str], Any]] = []
    for name in names:
        kind = (column_types or {}).get(name, "string")
        if column_types is not None and name not in column_types:
            raise InvalidInput(
                f"{field}: the CSV header names a column the table does not have: {name!r}",
                details=[{"field": f"{field}.header", "message": f"unknown column {name!r}"}],
            )
        converters.append(_converter(kind))
    position = 0
    line = reader.line_num + 1  # the file's line where the next record starts
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not cells:
                continue
            if len(cells) > len(names):
                raise InvalidInput(
                    f"{field}: line {start} has {len(cells)} cells; the header has {len(names)}",
                    details=[
                        {"field": f"rows[{position}]", "message": "too many cells", "line": start}
                    ],
                )
            yield _csv_row(position, start, names, converters, cells)
            position += 1
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{field}: the CSV file is not UTF-8 near row {position} ({exc.reason})"
        ) from None
    except csv.Error as exc:
        raise InvalidInput(
            f"{field}: malformed CSV near row {position}: {exc}",
            details=[{"field": f"rows[{position}]", "message": str(exc)}],
        ) from None


def _csv_row(
    position: int,
    line: int,
    names: list[str],
    converters: list[Callable[[str], Any]],
    cells: list[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, convert, cell in zip(names, converters, cells, strict=False):
        if cell == "":
            continue
        try:
            row[name] = convert(cell)
        except ValueError as exc:
            field = f"rows[{position}].{name}"
            raise InvalidInput(
                f"line {line}, column {name}: {exc}",
                details=[{"field": field, "message": str(exc), "line": line}],
            ) from None
    return row


def line_numbers(source: RowFile, positions: set[int]) -> dict[int, int]:
    """The line of the file where each row of ``positions`` starts (CSV and NDJSON files).

    Read again only when a problem is reported, so that a push that succeeds pays nothing.
    A JSON array's rows have no line of their own: the answer is then empty.
    """
    if not positions or source.path == "-":
        return {}
    found: dict[int, int] = {}
    with Path(source.path).open("rb") as stream:
        fmt = source.format or detect_format(source.path, stream.peek(_PEEK)[:_PEEK])
        if fmt == "json":
            return {}
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="replace")
        starts = _ndjson_lines(text) if fmt == "ndjson" else _csv_lines(text)
        for position, line in enumerate(starts):
            if position in positions:
                found[position] = line
            if position >= max(positions):
                break
    return found


def _ndjson_lines(text: IO[str]) -> Iterator[int]:
    """The line number of each row of an NDJSON text (blank lines hold none)."""
    return (number for number, line in enumerate(text, start=1) if line.strip())


def _csv_lines(text: IO[str]) -> Iterator[int]:
    """The line where each record of a CSV text starts, after its header."""
    reader = csv.reader(text)
    with contextlib.suppress(StopIteration, csv.Error):
        next(reader)
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if cells:
                yield start


def _converter(kind: str) -> Callable[[str], Any]:
    return functools.partial(coerce, kind=kind)


class FileRows:
    """The rows of a file, read anew each time they are iterated (checked first, then sent).

    ``types`` maps a column to its JSON type, for CSV cells; a push sets it once it knows the
    table's columns (:meth:`typed`). ``about`` is what a push job keeps of where its rows came
    from, so that ``connectorkit jobs resume`` can read them again.
    """

    def __init__(
        self,
        source: RowFile,
        types: Mapping[str, str] | None = None,
        *,
        note: Mapping[str, str] | None = None,
    ) -> None:
        if source.path == "-":
            raise ValueError("spool standard input to a file first (it can be read only once)")
        self.source = source
        self.types = types
        self.note = dict(note or {})

    def typed(self, types: Mapping[str, str]) -> FileRows:
        """The same file, its CSV cells converted by ``types``."""
        return FileRows(self.source, types, note=self.note)

    @property
    def about(self) -> dict[str, str]:
        """Where the rows come from, for the job's description."""
        out = {**self.note, "rows_file": str(Path(self.source.path).resolve())}
        if self.source.format is not None:
            out["rows_format"] = self.source.format
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return read_rows(self.source, column_types=self.types)
