"""Progress on stderr: work in many parts (a push's batches), or a long call's operation.

On a terminal, a live bar drawn by tqdm (imported only when a bar is shown, so that the cold
paths never pay for it) or a line redrawn in place; elsewhere, plain lines.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

__all__ = ["OperationProgress", "Progress"]


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


class OperationProgress:
    """How a long call goes, on stderr: an operation's status, percent and time, or pages read.

    On a terminal one line, redrawn as it changes; elsewhere a line each time the status or
    the percent changes (so a log shows the steps, not every poll).
    """

    def __init__(self, label: str, *, stream: TextIO, live: bool) -> None:
        self.label = label
        self.stream = stream
        self.live = live
        self._last = ""
        self._drawn = False

    def __call__(self, progress: Mapping[str, Any]) -> None:
        """Take one report of the call's progress (see the runtime's ``watch``)."""
        operation = progress.get("operation")
        if isinstance(operation, dict):
            text = self._operation(operation)
        elif isinstance(progress.get("pages"), dict):
            pages = progress["pages"]
            text = f"{pages.get('items', 0):,} items in {pages.get('pages', 0):,} pages"
        else:
            return
        if self.live:
            self.stream.write(f"\r\x1b[2Kconnectorkit: {self.label}: {text}")
            self._drawn = True
        else:
            key = text.rsplit(" · ", 1)[0]  # the time alone changing is no news
            if key == self._last:
                return
            self._last = key
            self.stream.write(f"connectorkit: {self.label}: {text}\n")
        self.stream.flush()

    @staticmethod
    def _operation(operation: Mapping[str, Any]) -> str:
        parts = [str(operation.get("service_status") or operation.get("status") or "started")]
        counts = operation.get("operations")
        if isinstance(counts, dict):
            parts[0] = ", ".join(f"{n} {s}" for s, n in counts.items())
        percent = operation.get("percent")
        if isinstance(percent, int | float):
            parts.append(f"{percent:.0f}%")
        elapsed = operation.get("elapsed_s")
        if isinstance(elapsed, int | float):
            minutes, seconds = divmod(int(elapsed), 60)
            parts.append(f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s")
        return " · ".join(parts)

    def close(self) -> None:
        """End the live line, so what follows starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
