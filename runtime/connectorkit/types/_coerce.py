"""Text to a value of a declared type: the one conversion wherever text stands for a value.

Inputs written on the command line (``run ACTION key=value``), sign-in values (``auth login
--set key=value``) and the cells of a CSV file a push reads all go through :func:`coerce`, so
the same text means the same value everywhere. Blanks around the text are ignored (but kept in
a string) and words are read in any case:

- ``boolean``: ``true``/``false``, ``yes``/``no``, ``y``/``n``, ``on``/``off``, ``1``/``0``;
- ``integer``: a whole number, optionally signed (``42``, ``-7``, ``+3``);
- ``number``: a JSON number, optionally signed (``3``, ``-0.5``, ``1e6``); whole ones stay
  integers, and infinities and NaN are refused;
- ``object``, ``array``, ``key_value``, ``json``: JSON text;
- ``string`` (and any other type): the text as written.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FALSE_WORDS", "JSON_TYPES", "TRUE_WORDS", "coerce"]

TRUE_WORDS = ("true", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "no", "n", "off", "0")
JSON_TYPES = frozenset({"object", "array", "key_value", "json"})

_BOOLEANS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
# Compiled at their first use (re keeps them): only text from a command line is coerced.
_INTEGER = r"[+-]?\d+"
_NUMBER = r"[+-]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?"


def _shown(text: str) -> str:
    return repr(text[:40])


def _boolean(text: str) -> bool:
    found = _BOOLEANS.get(text.strip().lower())
    if found is None:
        raise ValueError(f"{_shown(text)} is not true or false")
    return found


def _integer(text: str) -> int:
    raw = text.strip()
    if not re.fullmatch(_INTEGER, raw):
        raise ValueError(f"{_shown(text)} is not a whole number")
    return int(raw)


def _number(text: str) -> int | float:
    raw = text.strip()
    if not re.fullmatch(_NUMBER, raw):
        raise ValueError(f"{_shown(text)} is not a number")
    if re.fullmatch(_INTEGER, raw):
        return int(raw)
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"{_shown(text)} is out of range")
    return value


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"is not JSON: {exc}") from None


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "boolean": _boolean,
    "integer": _integer,
    "number": _number,
    **dict.fromkeys(JSON_TYPES, _json),
}


def coerce(text: str, kind: str | None) -> Any:
    """``text`` as a value of the JSON type ``kind``; ValueError says what was expected."""
    convert = _CONVERTERS.get(kind or "string")
    return convert(text) if convert is not None else text
