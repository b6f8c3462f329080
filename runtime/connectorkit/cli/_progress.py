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

__all__ = ["LiveLine", "OperationProgress", "Progress"]


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


class LiveLine:
    """One line of progress on ``stream``: redrawn in place on a terminal, a new line elsewhere.

    ``show`` draws a frame (with a 20-wide bar when it gives a share done), ``note`` writes a
    line between frames, ``end`` leaves the last frame on its own line.
    """

    WIDTH = 20

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self.stream = stream
        self.live = live
        self.drawn = False

    def show(self, text: str, share: float | None = None) -> None:
        """Draw ``text`` (``share``, from 0 to 1, as a bar before it on a terminal)."""
        if not self.live:
            self.stream.write(f"connectorkit: {text}\n")
            self.stream.flush()
            return
        bar = ""
        if share is not None:
            filled = round(self.WIDTH * share)
            bar = "[" + "#" * filled + "." * (self.WIDTH - filled) + "] "
        self.stream.write("\r\x1b[2K" + bar + text)
        self.stream.flush()
        self.drawn = True

    def note(self, text: str) -> None:
        """A line of its own between frames (the frame is taken off its line first)."""
        self.clear()
        self.stream.write(f"connectorkit: {text}\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the frame drawn, if any."""
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False

    def end(self) -> None:
        """Leave the frame drawn, if any, on its own line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


class OperationProgress:
    """How a long call goes, on stderr: an operation's status, percent and time, or pages read.

    On a terminal one line, redrawn as it changes (and erased at the end); elsewhere a line each
    time a running operation's status or percent changes (so a log shows the steps, not every
    poll; how it ended is the result's to say), and nothing for pages (the summary counts them).
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
            if not self.live and operation.get("status") not in (None, "running"):
                return  # a log: how it ended is the result's to say
            text = self._operation(operation)
        elif isinstance(progress.get("pages"), dict):
            if not self.live:
                return  # a log gets the count in the summary, not a line per page
            pages = progress["pages"]
            items, read = int(pages.get("items", 0)), int(pages.get("pages", 0))
            text = f"{_count(items, 'item')} in {_count(read, 'page')}"
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
        """Erase the live line: what the call printed next says how it ended."""
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False


def _count(number: int, noun: str) -> str:
    """``1 page``, ``3 pages``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
