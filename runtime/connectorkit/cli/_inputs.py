"""Inputs written on the command line (``key=value``, ``key=@file``, ``--inputs FILE``).

A value is converted by the type its input declares, the way text is converted everywhere
(:func:`connectorkit.types._coerce.coerce`: ``yes``/``no``, ``on``/``off`` … for a boolean;
JSON for lists and objects; the text itself for strings), ``{"path": …}`` for a ``file`` input
given as ``key=@FILE`` (the file is streamed, not read here); ``@@`` starts a value that itself
begins with ``@``. Whatever cannot be converted is passed on as written, so that binding names
the field and says what it expected, exactly as it does for a JSON request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidInput, InvalidRequest
from connectorkit.types._coerce import JSON_TYPES, coerce

if TYPE_CHECKING:
    from collections.abc import Iterable

    from connectorkit.pack._definitions import ActionDef
    from connectorkit.types._input import InputDef

__all__ = ["parse_assignments", "read_inputs_file"]


def read_inputs_file(path: str) -> dict[str, Any]:
    """The JSON object in ``path`` (``-``: stdin), as inputs."""
    import sys  # noqa: PLC0415

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read --inputs {path}: {exc.strerror}",
            details=[{"field": "--inputs", "message": exc.strerror or "cannot be read"}],
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"--inputs {path} is not JSON: {exc}",
            details=[{"field": "--inputs", "message": f"is not JSON: {exc}"}],
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"--inputs {path} must hold a JSON object of inputs",
            details=[{"field": "--inputs", "message": "must be a JSON object"}],
        )
    return data


def parse_assignments(action: ActionDef | None, assignments: Iterable[str]) -> dict[str, Any]:
    """``key=value`` arguments as typed inputs of ``action`` (strings when it is unknown)."""
    inputs: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(
                f"'{assignment}' is not an input: write KEY=VALUE, e.g. top=5",
                details=[{"field": key or assignment, "message": "write KEY=VALUE"}],
            )
        definition = action.input(key) if action is not None else None
        if text.startswith("@@"):  # a value that really starts with '@'
            inputs[key] = _typed(text[1:], definition)
        elif text.startswith("@"):
            inputs[key] = _from_file(key, text[1:], definition)
        else:
            inputs[key] = _typed(text, definition)
    return inputs


def _from_file(key: str, name: str, definition: InputDef | None) -> Any:
    path = Path(name).expanduser()
    if definition is not None and definition.type == "file":
        # The file itself is the value: it is streamed from disk when the request is sent.
        if not path.is_file():
            raise InvalidInput(
                f"input '{key}': {name} is not a file",
                details=[{"field": key, "message": f"{name} is not a file"}],
            )
        return {"path": str(path.resolve())}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"input '{key}': cannot read {name}: {exc.strerror}",
            details=[{"field": key, "message": f"cannot read {name}: {exc.strerror}"}],
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(
            f"input '{key}': {name} is not UTF-8 text",
            details=[{"field": key, "message": f"{name} is not UTF-8 text"}],
        ) from None
    if definition is not None and definition.type in JSON_TYPES:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidInput(
                f"input '{key}': {name} is not JSON: {exc}",
                details=[{"field": key, "message": f"{name} is not JSON: {exc}"}],
            ) from None
    if definition is not None and definition.type == "string":
        return text
    # A file for a single value: its text without the newline editors add at the end, typed.
    return _typed(text.removesuffix("\n"), definition)


def _typed(text: str, definition: InputDef | None) -> Any:
    try:
        return coerce(text, definition.type if definition is not None else None)
    except ValueError:
        return text  # as written: binding says what the field expects
