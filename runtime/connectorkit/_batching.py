"""Batching: cut a stream of rows into request bodies no larger than a service accepts.

A batch closes at ``max_rows`` rows or when one more row would pass ``max_bytes`` of encoded
body, whichever comes first. Each row is encoded once, with orjson, and the body is spliced
from the encoded rows and the action's body template, so nothing is encoded twice and no row
is copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from connectorkit._errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["Batch", "BodyFrame", "placeholder", "split_rows"]

_SENTINEL = "\x00connectorkit-batch\x00"
_SENTINEL_JSON = orjson.dumps(_SENTINEL)


@dataclass(frozen=True, slots=True)
class BodyFrame:
    """The bytes of a request body around its list of rows: ``prefix + rows + suffix``."""

    prefix: bytes
    suffix: bytes

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
        return cls(before + b"[", b"]" + after)

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
    """
    encoded: list[bytes] = []
    size = frame.overhead
    first = start
    number = 1
    position = start
    dumps = orjson.dumps
    for row in rows:
        try:
            data = dumps(row)
        except TypeError as exc:  # orjson refuses what JSON cannot carry
            raise InvalidInput(
                f"{field}[{position}] cannot be sent as JSON: {exc}",
                details=[{"field": f"{field}[{position}]", "message": str(exc)}],
            ) from None
        extra = len(data) + (1 if encoded else 0)
        if encoded and (len(encoded) >= max_rows or size + extra > max_bytes):
            yield Batch(number, first, len(encoded), _join(frame, encoded))
            number += 1
            first = position
            encoded = []
            size = frame.overhead
            extra = len(data)
        if size + extra > max_bytes:
            raise InvalidInput(
                f"{field}[{position}] is {len(data):,} bytes as JSON; a request may carry at most "
                f"{max_bytes:,} bytes, so this row can never be sent",
                details=[{"field": f"{field}[{position}]", "message": "row too large"}],
            )
        encoded.append(data)
        size += extra
        position += 1
    if encoded:
        yield Batch(number, first, len(encoded), _join(frame, encoded))


def _join(frame: BodyFrame, encoded: list[bytes]) -> bytes:
    return b"".join((frame.prefix, b",".join(encoded), frame.suffix))
