"""Row sources: the rows of a push, from a file (CSV, NDJSON, a JSON array), stdin or a request.

Memory stays flat whatever the file's size: a JSON array is parsed as a stream (ijson), NDJSON
and CSV a line at a time. CSV cells are text; each is converted by the JSON type of its column
(``integer``, ``number``, ``boolean``, ``string``), and an empty cell leaves the column out of
the row. Every problem names the row by its position, as ``rows[N]`` does in a request, and
(CSV, NDJSON) by its line in the file, which is what an editor shows.

A push reads its rows in blocks (:class:`RowBlock`): NDJSON lines, and the rows a request
carries as JSON text (:class:`TextRows`), are decoded a block at a time straight into the
structure of the table's columns, which checks them as it parses.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import io
import itertools
import json
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, cast

import msgspec

from connectorkit.core._contract import not_json, reading_request_text, refuse_unrepresentable
from connectorkit.core._errors import InvalidInput
from connectorkit.core._json import unrepresentable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = [
    "FORMATS",
    "FileRows",
    "RowBlock",
    "RowFile",
    "RowsDecoder",
    "TextRows",
    "blocks_of",
    "detect_format",
    "line_numbers",
    "read_rows",
]

Format = Literal["csv", "ndjson", "json"]
FORMATS: tuple[Format, ...] = ("csv", "ndjson", "json")
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
_PEEK = 64
# About this much JSON text is decoded at once (a few thousand rows): large enough that a call
# per block costs nothing, small enough that a block's rows hold little memory.
BLOCK_BYTES = 1 << 20


class RowFile(msgspec.Struct, frozen=True):
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


def _ndjson(
    stream: IO[bytes], field: str, position: int = 0, lines_before: int = 0
) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, start=lines_before + 1):
        if not line.strip():
            continue
        try:
            item = msgspec.json.decode(line)
        except (msgspec.DecodeError, ValueError) as exc:
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
    import csv  # noqa: PLC0415 - CSV files only: a request's rows never need it

    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(csv.reader(text), column_types, field)
    finally:
        text.detach()  # the caller owns the byte stream and closes it


def _csv_rows(
    reader: Any, column_types: Mapping[str, str] | None, field: str
) -> Iterator[dict[str, Any]]:
    import csv  # noqa: PLC0415 - CSV files only

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
    import csv  # noqa: PLC0415 - CSV files only

    reader = csv.reader(text)
    with contextlib.suppress(StopIteration, csv.Error):
        next(reader)
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if cells:
                yield start


def _converter(kind: str) -> Callable[[str], Any]:
    from connectorkit.types._coerce import coerce  # noqa: PLC0415 - CSV files only

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

    def blocks(self, decoder: RowsDecoder | None, size: int) -> Iterator[RowBlock]:
        """The file's rows a block at a time, read once (NDJSON decoded as the table's rows)."""
        if self.source.format == "ndjson" or (
            self.source.format is None and Path(self.source.path).suffix.lower() in _NDJSON
        ):
            return _ndjson_blocks(self.source, decoder)
        return _chunks(iter(self), size)


# -- blocks ------------------------------------------------------------------------------------

_NDJSON = frozenset(s for s, f in _SUFFIXES.items() if f == "ndjson")


class RowsDecoder(Protocol):
    """Decodes a JSON array of rows into the table's structures, checked; None if one is bad."""

    def decode(self, text: bytes | bytearray) -> list[Any] | None:
        """The rows, each valid, or ``None``."""


class RowBlock(msgspec.Struct, frozen=True):
    """Consecutive rows of a push, decoded together.

    ``typed``: the rows are the table's structures, each checked as it was decoded. ``plain``
    gives the same rows as plain JSON values (to name a bad row, or for a check that cannot
    read the structures).
    """

    first: int
    rows: list[Any]
    typed: bool = False
    plain: Callable[[], list[Any]] | None = None


def blocks_of(rows: Iterable[Any], decoder: RowsDecoder | None, size: int) -> Iterator[RowBlock]:
    """The blocks of a push's rows: a source's own, or slices of ``size`` rows of a list."""
    own = getattr(rows, "blocks", None)
    if callable(own):
        blocks: Iterator[RowBlock] = own(decoder, size)
        return blocks
    return _chunks(iter(rows), size)


def _chunks(rows: Iterator[Any], size: int) -> Iterator[RowBlock]:
    first = 0
    while chunk := list(itertools.islice(rows, size)):
        yield RowBlock(first, chunk)
        first += len(chunk)


def _ndjson_blocks(source: RowFile, decoder: RowsDecoder | None) -> Iterator[RowBlock]:
    """NDJSON read a block of lines at a time, each block decoded as one JSON array.

    The lines' newlines become the array's commas; a block where that does not give one row
    per line (a blank line, a line that is not one JSON object) is read line by line instead,
    which names the line.
    """
    try:
        stream = Path(source.path).open("rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInput(
            f"rows_file: cannot open {source.path!r}: {exc.strerror}",
            details=[{"field": "rows_file", "message": exc.strerror or str(exc)}],
        ) from None
    with stream:
        first, lines_before = 0, 0
        # Whole lines, read into the array's text; their newlines become its commas.
        while chunk := stream.read(BLOCK_BYTES):
            data = bytearray(b"[")
            data += chunk
            if not chunk.endswith(b"\n"):
                data += stream.readline()
            lines = data.count(b"\n") + (not data.endswith(b"\n"))
            text = data.translate(_COMMAS)
            if text.endswith(b","):
                text[-1] = _CLOSE
            else:
                text.append(_CLOSE)
            rows = decoder.decode(text) if decoder is not None else _plain_rows(text)
            if rows is not None and len(rows) == lines:
                block = RowBlock(first, rows, typed=decoder is not None, plain=_plain_of(text))
            else:
                # A blank line, or a line that is not one JSON object: read line by line,
                # which names the line.
                lines_of = io.BytesIO(memoryview(data)[1:])
                block = RowBlock(first, list(_ndjson(lines_of, "rows_file", first, lines_before)))
            yield block
            first += len(block.rows)
            lines_before += lines


# NDJSON's newlines become an array's commas (a carriage return before one is whitespace).
_COMMAS = bytes.maketrans(b"\n", b",")
_CLOSE = ord("]")


def _plain_rows(text: bytes | bytearray) -> list[Any] | None:
    """The JSON objects of an array, or None when it is not one (or holds something else)."""
    try:
        rows = msgspec.json.decode(text)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    if not isinstance(rows, list) or not all(type(row) is dict for row in rows):
        return None
    return rows


def _plain_of(text: bytes | bytearray) -> Callable[[], list[Any]]:
    def plain() -> list[Any]:
        rows: list[Any] = msgspec.json.decode(text)
        return rows

    return plain


_CUT = re.compile(rb"\}\s*,\s*\{")


class TextRows:
    """The rows a request carries as JSON text, decoded a block at a time as they are checked.

    ``invoke`` leaves a push's batch input undecoded: its blocks are cut where one object ends
    and the next begins (a cut that falls inside a string leaves a block that is not a JSON
    array, and the next place is taken instead) and decoded straight into the table's rows.
    ``refused`` is called with the whole input decoded when it is not an array of objects
    (binding names the problem); what JSON cannot carry (a lone surrogate, a number out of
    range) is refused by the row that holds it, as a request's text is.
    """

    def __init__(self, raw: msgspec.Raw, field: str, refused: Callable[[Any], None]) -> None:
        self._raw = raw
        self._field = field
        self._refused = refused

    def __iter__(self) -> Iterator[Any]:
        for block in self.blocks(None, 0):
            yield from block.rows

    def blocks(self, decoder: RowsDecoder | None, size: int) -> Iterator[RowBlock]:  # noqa: ARG002 - blocks go by bytes
        """The rows, a block of about :data:`BLOCK_BYTES` of text at a time."""
        view = memoryview(self._raw)
        end = len(view) - 1  # the closing bracket
        start, first = 1, 0
        while start < end:
            found = _CUT.search(view, start + BLOCK_BYTES) if start + BLOCK_BYTES < end else None
            stop = found.start() + 1 if found is not None else end
            while True:
                text = b"".join((b"[", view[start:stop], b"]"))
                rows = decoder.decode(text) if decoder is not None else None
                if rows is not None:
                    block = RowBlock(first, rows, typed=True, plain=_plain_of(text))
                    break
                try:
                    plain: list[Any] = msgspec.json.decode(text)
                except (msgspec.DecodeError, ValueError, RecursionError):
                    if found is None or _is_array(text):
                        self._refuse_text()  # raises
                    # The cut was inside a string: the next place where an object ends.
                    found = _CUT.search(view, stop)
                    stop = found.start() + 1 if found is not None else end
                    continue
                if not all(type(row) is dict for row in plain):
                    self._refused(msgspec.json.decode(view))
                block = RowBlock(first, plain)
                break
            yield block
            first += len(block.rows)
            start = found.end() - 1 if found is not None else end

    def _refuse_text(self) -> None:
        """Refuse what JSON cannot carry, by the row that holds it (as a request's text is)."""
        with reading_request_text():
            value = json.loads(bytes(self._raw), parse_constant=not_json)
        refuse_unrepresentable(unrepresentable(value, f"inputs.{self._field}"))
        self._refused(value)  # nothing unrepresentable: binding says what else is wrong
        raise InvalidInput(f"{self._field}: not an array of JSON objects")  # pragma: no cover


def _is_array(text: bytes) -> bool:
    """Whether ``text`` is a JSON array whose elements msgspec can skip (a sound cut)."""
    try:
        msgspec.json.decode(text, type=list[msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, RecursionError):
        return False
    return True
