"""Batching: cut a stream of rows into request bodies no larger than a service accepts.

A batch closes at ``max_rows`` rows or when one more row would pass ``max_bytes`` of encoded
body, whichever comes first. Each row is encoded once, with msgspec (plain JSON values and the
Row structures a push decodes its rows into alike), and the body is spliced from the encoded
rows and the action's body template, so nothing is encoded twice and no row is copied.

A push checks every row before it sends one, so its bodies wait in a :class:`BodySpool`: in
memory up to a bound, then in a temporary file, so that a push of any size holds little.
"""

from __future__ import annotations

import itertools
import tempfile
from typing import IO, TYPE_CHECKING, Any

import msgspec

from connectorkit.core._errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["Batch", "BodyFrame", "BodySpool", "encode_json", "placeholder", "split_rows"]

# msgspec's TypeError for what JSON cannot carry (another type), as orjson raised before.
encode_json = msgspec.json.Encoder().encode
_SENTINEL = "\x00connectorkit-batch\x00"
_SENTINEL_JSON = encode_json(_SENTINEL)


class BodyFrame(msgspec.Struct, frozen=True):
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
        encoded = encode_json(body)
        before, found, after = encoded.partition(_SENTINEL_JSON)
        if not found:
            raise ValueError("the body template does not hold the batch input")
        return cls(before + b"[", b"]" + after, body)

    def encode(self, rows: list[Any]) -> bytes:
        """The whole body with ``rows`` in it (``TypeError`` for what JSON cannot carry)."""
        if self.body is not None:
            done = [False]
            filled = _filled(self.body, rows, done)
            if done[0]:
                return encode_json(filled)
        return _splice(self, encode_json(rows))

    @property
    def overhead(self) -> int:
        """Bytes a body has besides its rows and the commas between them."""
        return len(self.prefix) + len(self.suffix)


def placeholder() -> str:
    """The value to render the batch input as, so :meth:`BodyFrame.around` finds it."""
    return _SENTINEL


class Batch(msgspec.Struct, frozen=True):
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

    The usual case costs one encoder call per batch: up to ``max_rows`` rows are encoded as one
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
            data = encode_json(row)
        except TypeError as exc:  # the encoder refuses what JSON cannot carry
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


class BodySpool:
    """Batches kept between a push's check and its sending.

    Bodies stay in memory up to ``in_memory`` bytes in all; the rest wait in a temporary file,
    read back one body at a time as they are sent.
    """

    def __init__(self, in_memory: int = 64 << 20) -> None:
        self._bound = in_memory
        self._room = in_memory
        self._batches: list[Batch] = []  # a batch whose body is b"" has it in the file
        self._spans: dict[int, tuple[int, int]] = {}
        self._file: IO[bytes] | None = None

    def add(self, batch: Batch) -> None:
        """Keep ``batch`` until it is sent."""
        size = len(batch.body)
        if size <= self._room:
            self._room -= size
            self._batches.append(batch)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="connectorkit-push-")  # noqa: SIM115 - closed by close()
        start = self._file.seek(0, 2)
        self._file.write(batch.body)
        self._spans[batch.number] = (start, size)
        self._batches.append(Batch(batch.number, batch.first, batch.count, b""))

    def __len__(self) -> int:
        return len(self._batches)

    @property
    def in_memory(self) -> int:
        """Bytes of bodies held in memory (never more than the bound it was made with)."""
        return self._bound - self._room

    def __iter__(self) -> Iterator[Batch]:
        """The batches in order, each body read back when it was set aside."""
        for batch in self._batches:
            span = self._spans.get(batch.number)
            if span is None or self._file is None:
                yield batch
                continue
            self._file.seek(span[0])
            yield Batch(batch.number, batch.first, batch.count, self._file.read(span[1]))

    def close(self) -> None:
        """Drop the bodies (and the file)."""
        self._batches.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
