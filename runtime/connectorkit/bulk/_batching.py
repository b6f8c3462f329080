"""Batching: cut a stream of rows into request bodies no larger than a service accepts.

A batch closes at ``max_rows`` rows or when one more row would pass ``max_bytes`` of encoded
body, whichever comes first. Each row is encoded once, with orjson, and the body is spliced
from the encoded rows and the action's body template, so nothing is encoded twice and no row
is copied.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from connectorkit.core._errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["Batch", "BodyFrame", "placeholder", "split_rows"]

_SENTINEL = "\x00connectorkit-batch\x00"
_SENTINEL_JSON = orjson.dumps(_SENTINEL)


@dataclass(frozen=True, slots=True)
class BodyFrame:
    """The bytes of a request body around its list of rows: ``prefix + rows + suffix``.

    ``body`` is the value the frame was made from (holding the placeholder): a batch's whole
    body is then encoded in one call, the rows put in the placeholder's place, which gives the
    same bytes as splicing without copying them again.
    """

    prefix: bytes
    suffix: bytes
    body: Any = None

    @classmethod
    def around(cls, body: Any) -> BodyFrame:
        """The frame of ``body``, a JSON value holding the sentinel where the rows go.

        ``body`` is built by rendering the action's body template with the batch input set to
        :func:`placeholder`; the rows then replace that one string.
        """
        encoded = orjson.dumps(body)
        before, found, after = encoded.partition(_SENTINEL_JSON)
        if not found:
            raise ValueError("the body template does not hold the batch input")
        return cls(before + b"[", b"]" + after, body)

    def encode(self, rows: list[Any]) -> bytes:
        """The whole body with ``rows`` in it (orjson's ``TypeError`` for what it cannot carry)."""
        if self.body is not None:
            done = [False]
            filled = _filled(self.body, rows, done)
            if done[0]:
                return orjson.dumps(filled)
        return _splice(self, orjson.dumps(rows))

    @property
    def overhead(self) -> int:
        """Bytes a body has besides its rows and the commas between them."""
        return len(self.prefix) + len(self.suffix)


def placeholder() -> str:
    """The value to render the batch input as, so :meth:`BodyFrame.around` finds it."""
    return _SENTINEL


@dataclass(frozen=True, slots=True)
class Batch:
    """One request's worth of rows: its number (from 1), first row's position, row count, body."""

    number: int
    first: int
    count: int
    body: bytes

    @property
    def end(self) -> int:
        """Position just past the batch's last row."""
        return self.first + self.count


def split_rows(
    rows: Iterable[Any],
    frame: BodyFrame,
    *,
    max_rows: int,
    max_bytes: int,
    start: int = 0,
    field: str = "rows",
) -> Iterator[Batch]:
    """Encode ``rows`` and yield them as batches of at most ``max_rows`` rows and ``max_bytes``.

    ``start`` is the position of the first row (when resuming part way through a file); batch
    numbers and positions count from it. A single row that cannot fit in ``max_bytes`` on its
    own is refused, naming its position, since no request could carry it.

    The usual case costs one orjson call per batch: up to ``max_rows`` rows are encoded as one
    list, and only a list whose encoding is too large is taken apart row by row.
    """
    iterator = iter(rows)
    number = 1
    position = start
    room = max_bytes - frame.overhead
    while True:
        chunk = list(itertools.islice(iterator, max_rows))
        if not chunk:
            return
        try:
            body = frame.encode(chunk)
        except TypeError:
            body = None  # row by row below, to name the row JSON cannot carry
        if body is not None and len(body) - frame.overhead <= room:
            yield Batch(number, position, len(chunk), body)
            number += 1
            position += len(chunk)
            continue
        for batch in _by_size(
            chunk, frame, room=room, number=number, position=position, field=field
        ):
            yield batch
            number += 1
            position += batch.count


def _by_size(
    chunk: list[Any], frame: BodyFrame, *, room: int, number: int, position: int, field: str
) -> Iterator[Batch]:
    """``chunk`` cut into batches whose encoded rows fit in ``room`` bytes."""
    encoded: list[bytes] = []
    size = 0
    first = position
    for offset, row in enumerate(chunk):
        where = position + offset
        try:
            data = orjson.dumps(row)
        except TypeError as exc:  # orjson refuses what JSON cannot carry
            raise InvalidInput(
                f"{field}[{where}] cannot be sent as JSON: {exc}",
                details=[{"field": f"{field}[{where}]", "message": str(exc)}],
            ) from None
        extra = len(data) + (1 if encoded else 0)
        if encoded and size + extra > room:
            yield Batch(number, first, len(encoded), _join(frame, encoded))
            number += 1
            first = where
            encoded = []
            size = 0
            extra = len(data)
        if extra > room:
            raise InvalidInput(
                f"{field}[{where}] is {len(data):,} bytes as JSON; a request may carry at most "
                f"{room + frame.overhead:,} bytes, so this row can never be sent",
                details=[{"field": f"{field}[{where}]", "message": "row too large"}],
            )
        encoded.append(data)
        size += extra
    if encoded:
        yield Batch(number, first, len(encoded), _join(frame, encoded))


def _splice(frame: BodyFrame, encoded_list: bytes) -> bytes:
    # The frame ends in "[" and starts the suffix with "]"; the list brings its own brackets.
    return b"".join((frame.prefix[:-1], encoded_list, frame.suffix[1:]))


def _filled(value: Any, rows: list[Any], done: list[bool]) -> Any:
    """``value`` with its first placeholder (in encoding order) replaced by ``rows``."""
    if done[0]:
        return value
    if type(value) is str and value == _SENTINEL:
        done[0] = True
        return rows
    if isinstance(value, dict):
        return {key: _filled(item, rows, done) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, rows, done) for item in value]
    return value


def _join(frame: BodyFrame, encoded: list[bytes]) -> bytes:
    return b"".join((frame.prefix, b",".join(encoded), frame.suffix))
