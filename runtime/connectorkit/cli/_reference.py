"""One action's reference for a person at a terminal: wrapped text, then how to run it.

``docs ACTION`` on a terminal shows this in a pager instead of Markdown: no table markup, the
comments wrapped to the width, every example as the ``connectorkit run`` command that makes
it, and a last line with the action's inputs to fill in.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from connectorkit.cli._render import Style
    from connectorkit.pack._definitions import ActionDef
    from connectorkit.types._input import InputDef

__all__ = ["action_text", "page", "run_command"]

_INDENT = "    "


def run_command(action: str, inputs: Mapping[str, Any], connection: str = "NAME") -> str:
    """The ``connectorkit run`` command that sends ``inputs`` (JSON for lists and objects)."""
    words = ["connectorkit", "run", action]
    for key, value in inputs.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        words.append(f"{key}=…" if text == "…" else shlex.quote(f"{key}={text}"))
    return " ".join([*words, "--connection", connection])


def action_text(action: ActionDef, style: Style, width: int | None = None) -> str:
    """The reference of ``action``, wrapped to ``width`` (the terminal's by default)."""
    from connectorkit.authoring._catalog import input_notes  # noqa: PLC0415

    width = max((width or style.width or 100) - 1, 40)
    wrap = textwrap.TextWrapper(width=width)
    own = [i for i in action.inputs if not i.call_input]
    calls = [i for i in action.inputs if i.call_input]
    lines = [style.bold(action.label) + f"  ({action.key})", ""]
    lines += wrap.wrap(" ".join(action.description.split()))
    lines += ["", style.bold("Inputs")]
    lines += _inputs(own, style, width, input_notes) if own else ["  none of its own"]
    if calls:
        lines += ["", style.bold("Call inputs") + " (every action takes them)"]
        lines += _inputs(calls, style, width, input_notes)
    if action.examples:
        lines += ["", style.bold("Examples")]
        for example in action.examples:
            lines.append(f"  {example.get('title') or 'a call'}:")
            lines.append(f"{_INDENT}{run_command(action.key, example.get('inputs') or {})}")
    required = {i.key: "…" for i in own if i.required}
    lines += ["", style.bold("Run it")]
    lines.append(f"  {run_command(action.key, required)}")
    lines.append(
        "  (NAME: a stored connection, or NAME.json in this folder; `connectorkit check -c NAME` "
        "tests it)"
    )
    return "\n".join(lines) + "\n"


def _inputs(items: Iterable[InputDef], style: Style, width: int, notes: Any) -> list[str]:
    wrap = textwrap.TextWrapper(width=width, initial_indent=_INDENT, subsequent_indent=_INDENT)
    lines: list[str] = []
    for item in items:
        facts: list[str] = [item.type]
        if item.required:
            facts.append("required")
        if item.default is not None:
            shown = item.default if isinstance(item.default, str) else json.dumps(item.default)
            facts.append(f"default {shown}")
        lines.append(f"  {style.bold(item.key)}  {item.label} · {', '.join(facts)}")
        text = " ".join(str(notes(item)).replace("`", "").split())
        lines += wrap.wrap(text) if text else []
    return lines


def page(text: str) -> None:
    """Show ``text`` through the pager ($PAGER, else ``less -FRX``); print it if there is none."""
    import sys  # noqa: PLC0415

    command = os.environ.get("PAGER") or ("less -FRX" if shutil.which("less") else "")
    if not command or command == "cat":
        sys.stdout.write(text)
        return
    try:
        with subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE) as pager:  # noqa: S603
            assert pager.stdin is not None  # noqa: S101 - asked for with PIPE
            try:
                pager.stdin.write(text.encode("utf-8"))
                pager.stdin.close()
            except BrokenPipeError:  # the reader quit the pager early
                pass
            pager.wait()
    except OSError:
        sys.stdout.write(text)
