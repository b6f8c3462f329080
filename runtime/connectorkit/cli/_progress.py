"""Progress of work in many parts (the batches of a bulk push), on stderr.

On a terminal, a live bar drawn by tqdm, imported only when a bar is shown so that the cold
paths never pay for it; elsewhere, one plain line per part done.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts ``total`` parts of ``unit`` on ``stream``: a live bar, or plain lines."""

    def __init__(self, total: int, *, label: str, unit: str, stream: TextIO, live: bool) -> None:
        self.total = total
        self.done = 0
        self.label = label
        self.unit = unit
        self.stream = stream
        self._bar: Any = None
        if live and importlib.util.find_spec("tqdm") is None:
            live = False  # the `progress` extra is not installed: plain lines instead
        if live:
            from tqdm import tqdm  # noqa: PLC0415 - only when a bar is shown

            self._bar = tqdm(total=total, desc=label, unit=f" {unit}", file=stream, leave=True)

    def advance(self, parts: int = 1) -> None:
        """``parts`` more are done."""
        self.done += parts
        if self._bar is not None:
            self._bar.update(parts)
        else:
            self.stream.write(f"connectorkit: {self.label}: {self.done}/{self.total} {self.unit}\n")
            self.stream.flush()

    def clear(self) -> None:
        """Take the bar off its line so that a log line can be written (it is drawn again)."""
        if self._bar is not None:
            self._bar.clear()

    def close(self) -> None:
        """Leave the bar in its final state."""
        if self._bar is not None:
            self._bar.close()
