"""A response for a person: a table for a list, the key facts of an object, errors in words.

Off a terminal there is no colour, and nothing is cut to fit unless ``$COLUMNS`` says how wide
to be, so the text can be searched and diffed; ``--json`` is for programs.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import TextIO

__all__ = ["Style", "error_text", "local_time", "meta_text", "result_text", "table"]

_CELL_MAX = 40  # on a terminal, a longer cell is cut so a row stays on one line
_HIDDEN_PREFIX = "@odata."
_LEADING = ("id", "name", "displayName")  # the columns a person looks for first
_RAW_KEYS = frozenset({"status", "headers", "data", "encoding"})  # raw_request's result


@dataclass(frozen=True, slots=True)
class Style:
    """How to draw: colour and the width to fit (``None``: no limit)."""

    color: bool = False
    width: int | None = None

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        """Colour and the terminal's width on a terminal; plain text otherwise.

        ``$COLUMNS`` sets the width to fit also off a terminal (a pager, a transcript).
        """
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty:
            columns = os.environ.get("COLUMNS", "")
            return cls(width=int(columns) if columns.isdigit() and int(columns) > 0 else None)
        color = "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        return cls(color=color, width=shutil.get_terminal_size((100, 24)).columns)

    def bold(self, text: str) -> str:
        """``text`` in bold, when colour is on."""
        return f"\x1b[1m{text}\x1b[0m" if self.color else text

    def dim(self, text: str) -> str:
        """``text`` faint, when colour is on."""
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def red(self, text: str) -> str:
        """``text`` in red, when colour is on."""
        return f"\x1b[31;1m{text}\x1b[0m" if self.color else text

    def green(self, text: str) -> str:
        """``text`` in green, when colour is on."""
        return f"\x1b[32m{text}\x1b[0m" if self.color else text


def local_time(stamp: float, *, date: bool = False) -> str:
    """Seconds since the epoch as a person's local time: ``14:05``, or ``2026-12-04 14:05``."""
    import time  # noqa: PLC0415

    moment = time.localtime(stamp)
    if date or abs(stamp - time.time()) > 86_400 / 2:
        return time.strftime("%Y-%m-%d %H:%M", moment)
    return time.strftime("%H:%M", moment)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _cut(text: str, limit: int | None) -> str:
    text = text.replace("\n", " ")
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 1)] + "…"


def table(rows: Sequence[Any], style: Style, *, right: Sequence[str] = ()) -> str:
    """Rows (objects, or plain values) as aligned columns under a header.

    Columns named in ``right`` (counts, sizes) are aligned to the right, header included.
    """
    if not rows:
        return "(none)"
    if not all(isinstance(row, dict) for row in rows):
        return "\n".join(_scalar(row) for row in rows)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and not k.startswith(_HIDDEN_PREFIX)]
    columns.sort(key=lambda c: _LEADING.index(c) if c in _LEADING else len(_LEADING))
    limit = _CELL_MAX if style.width is not None else None
    cells = [[_cut(_scalar(row.get(c)), limit) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    if style.width is not None:  # keep the columns that fit the terminal, in order
        used, keep = 0, 0
        for w in widths:
            if keep and used + w > style.width:
                break
            used += w + 2
            keep += 1
        columns, widths = columns[:keep], widths[:keep]
        cells = [r[:keep] for r in cells]

    def fit(text: str, column: str, width: int) -> str:
        return text.rjust(width) if column in right else text.ljust(width)

    header = "  ".join(style.bold(fit(c, c, w)) for c, w in zip(columns, widths, strict=True))
    lines = [header.rstrip()]
    lines += [
        "  ".join(fit(c, n, w) for c, n, w in zip(r, columns, widths, strict=True)).rstrip()
        for r in cells
    ]
    return "\n".join(lines)


def _facts(data: Mapping[str, Any], style: Style) -> str:
    shown = {
        k: v
        for k, v in data.items()
        if not k.startswith(_HIDDEN_PREFIX) and v not in (None, [], {}, "")
    }
    if not shown:
        return "(empty)"
    width = max(len(k) for k in shown)
    limit = None if style.width is None else max(style.width - width - 2, 20)
    return "\n".join(
        f"{style.bold(k.ljust(width))}  {_cut(_scalar(v), limit)}" for k, v in shown.items()
    )


def result_text(result: Any, style: Style) -> str:
    """The result of an action, for reading."""
    if isinstance(result, list):
        return table(result, style) + f"\n{style.dim(_count(len(result)))}"
    if isinstance(result, dict):
        if {"status", "data"} <= set(result) <= _RAW_KEYS:
            # raw_request: the status, then what the service sent
            body = result["data"]
            if result.get("encoding") == "base64":
                body = f"({len(str(body))} characters of base64)"
            return f"{style.bold('HTTP')} {result['status']}\n" + result_text(body, style)
        items = result.get("value")
        if isinstance(items, list):
            count = result.get("@odata.count")
            note = _count(len(items))
            if isinstance(count, int) and count != len(items):
                note += f" of {count}"
            return table(items, style) + f"\n{style.dim(note)}"
        return _facts(result, style)
    if result is None:
        return "(no content)"
    return _scalar(result)


def _count(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def meta_text(meta: Mapping[str, Any]) -> str:
    """``2 requests, 0 retries, 54 ms``."""
    requests = meta.get("requests", 0)
    retries = meta.get("retries", 0)
    parts = [
        f"{requests} request" + ("" if requests == 1 else "s"),
        f"{retries} retr" + ("y" if retries == 1 else "ies"),
        f"{meta.get('duration_ms', 0):.0f} ms",
    ]
    return ", ".join(parts)


# What to change, by error type, when the error itself does not say.
_ADVICE = {
    "invalid_input": "fix the inputs named above (see: connectorkit docs {action})",
    "unknown_action": "list the actions with: connectorkit actions",
    "invalid_connection": "fix the connection values named above (see: connectorkit docs)",
    "rate_limited": "the service is throttling: wait, or add max_retry_count=3",
    "timeout": "raise timeout=MS, or check that the service is reachable",
    "network_error": "check base_url and your network; the service could not be reached",
    "internal_error": "this is a defect in connectorkit; run again with -v and report it",
}


def error_text(
    error: Mapping[str, Any], style: Style, *, hint: str | None = None, action: str | None = None
) -> str:
    """An error envelope's ``error`` in plain words: what failed, each field, what to change.

    ``action``, when known, fills the advice (``connectorkit docs create_rows``).
    """
    kind = str(error.get("type", "error"))
    lines = [f"{style.red('error')} ({kind}): {error.get('message', '')}"]
    status = error.get("status")
    if status is not None:
        code = error.get("code")
        lines.append(f"  the service answered {status}" + (f" ({code})" if code else ""))
    message = str(error.get("message", ""))
    for detail in error.get("details") or []:
        if kind == "unknown_action" and str(detail.get("message")) in message:
            continue  # the message makes the suggestion already
        if isinstance(detail, dict) and "field" in detail:
            lines.append(f"  {style.bold(str(detail['field']))}: {detail.get('message', '')}")
        elif isinstance(detail, dict) and "batch" in detail:
            lines.append(
                f"  batch {detail['batch']}: {detail.get('status', '')}, "
                f"{detail.get('count', '?')} from #{detail.get('first', '?')}"
            )
    retry_after = error.get("retry_after")
    if retry_after is not None:
        lines.append(f"  retry after {retry_after} s")
    resume = error.get("resume_from")
    if resume is not None:
        lines.append(f"  to resume, send the rows again from index {resume}")
    advice = hint or _ADVICE.get(kind, "").replace("{action}", action or "ACTION")
    if advice:
        lines.append(style.dim(f"  → {advice}"))
    return "\n".join(lines)
