"""Input definitions and values: the keywords that fit each type, and whether a default is valid.

The binder checks the values a call sends; this module checks the ones a pack declares
(``default``, ``example``, ``enum``) when the pack is loaded, and names what is wrong in words.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "CONSTRAINTS",
    "TYPE_WORDS",
    "Where",
    "definition_problems",
    "kind_of",
    "show",
    "value_problems",
]

# A place inside a document: mapping keys and list indexes, e.g. ("inputs", 2, "default").
Where = tuple[str | int, ...]

# The fields of a definition that decide which values are valid.
CONSTRAINTS = frozenset(
    {
        "type",
        "default",
        "example",
        "enum",
        "minimum",
        "maximum",
        "min_length",
        "max_length",
        "pattern",
        "items",
    }
)
_NUMERIC = ("integer", "number")
# The binder applies min_length to arrays as a least number of elements, max_length only to text.
_APPLIES_TO = {
    "minimum": _NUMERIC,
    "maximum": _NUMERIC,
    "min_length": ("string", "array"),
    "max_length": ("string",),
    "pattern": ("string",),
    "items": ("array",),
}
# How a message names each input type (and, for the schema pass, JSON's null).
TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "key_value": "a mapping or a list of {key, value} pairs",
    "json": "any JSON value",
    "null": "empty",
}
# bool first: in Python a boolean is also an int.
_SCALAR_NOUNS = ((bool, "the boolean"), (str, "the text"), ((int, float), "the number"))
_PAIR_KEYS = {"key", "value"}


def show(value: Any) -> str:
    """A value as short JSON for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)  # e.g. a date PyYAML read from an unquoted 2024-01-01
    return text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004 - keeps messages short


def kind_of(value: Any) -> str:
    """What a YAML value is, for a message: ``the text "60"``, ``a list``, ``empty``."""
    if value is None:
        return "empty"
    for kind, noun in _SCALAR_NOUNS:
        if isinstance(value, kind):
            return f"{noun} {show(value)}"
    if isinstance(value, dict):
        return "a mapping"
    # The last case covers e.g. a date PyYAML read from an unquoted 2024-01-01.
    return "a list" if isinstance(value, list) else type(value).__name__


def definition_problems(
    spec: Mapping[str, Any], *, check_elements: bool = True
) -> Iterator[tuple[Where, str]]:
    """``(where inside the definition, message)`` for an input definition's inner mistakes.

    ``check_elements``: check a default's or example's elements against ``items``, which needs
    ``items`` to be a well-formed schema (the schema pass vouches for that).
    """
    kind = spec.get("type")
    if kind not in _TYPE_CHECKS:
        return  # a missing or unknown type is the schema's to report
    yield from _keyword_problems(spec, kind)
    for field in ("default", "example"):
        if spec.get(field) is not None:
            for message in value_problems(spec, spec[field], check_elements=check_elements):
                yield (field,), f"the {field} {message}"


def _keyword_problems(spec: Mapping[str, Any], kind: str) -> Iterator[tuple[Where, str]]:
    for field, kinds in _APPLIES_TO.items():
        if field in spec and kind not in kinds:
            yield (field,), f"'{field}' applies only to {' and '.join(kinds)} inputs, not {kind}"
    for low, high in (("minimum", "maximum"), ("min_length", "max_length")):
        lo, hi = spec.get(low), spec.get(high)
        if _is_number(lo) and _is_number(hi) and lo > hi:  # type: ignore[operator]
            yield (high,), f"{high} {hi} is below {low} {lo}"
    pattern = spec.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            yield ("pattern",), f"is not a valid regular expression: {exc}"
    enum = spec.get("enum")
    if isinstance(enum, list):
        for index, choice in enumerate(enum):
            if not _has_type(kind, choice):
                yield ("enum", index), f"{show(choice)} is not {TYPE_WORDS[kind]}"


def value_problems(
    spec: Mapping[str, Any], value: Any, *, check_elements: bool = True
) -> list[str]:
    """Why ``value`` is not a valid value of the input ``spec`` (empty: it is)."""
    kind = str(spec.get("type"))
    if not _has_type(kind, value):
        return [f"must be {TYPE_WORDS.get(kind, kind)}, not {kind_of(value)}"]
    problems: list[str] = []
    enum = spec.get("enum")
    if isinstance(enum, list) and not any(_same(value, choice) for choice in enum):
        problems.append(f"{show(value)} must be one of {', '.join(show(c) for c in enum)}")
    low, high = spec.get("minimum"), spec.get("maximum")
    if kind in _NUMERIC and _is_number(low) and value < low:
        problems.append(f"{value} must be at least {low}")
    if kind in _NUMERIC and _is_number(high) and value > high:
        problems.append(f"{value} must be at most {high}")
    shortest, longest = spec.get("min_length"), spec.get("max_length")
    if kind in ("string", "array") and isinstance(shortest, int) and len(value) < shortest:
        unit = "characters" if kind == "string" else "elements"
        problems.append(f"must have at least {shortest} {unit}")
    if kind == "string" and isinstance(longest, int) and len(value) > longest:
        problems.append(f"must have at most {longest} characters")
    pattern = spec.get("pattern")
    if kind == "string" and isinstance(pattern, str) and _regex_refuses(pattern, value):
        problems.append(f"{show(value)} must match {pattern}")
    items = spec.get("items")
    if kind == "array" and isinstance(items, dict) and check_elements:
        problems += _element_problems(items, value)
    return problems


def _regex_refuses(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is None
    except re.error:
        return False  # reported as a bad pattern


def _element_problems(items: dict[str, Any], elements: list[Any]) -> list[str]:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - only when a pack is checked

    validator = Draft202012Validator(items)
    problems: list[str] = []
    for index, element in enumerate(elements):
        for error in validator.iter_errors(element):
            steps = error.absolute_path
            where = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)
            problems.append(f"has an invalid element [{index}]{where}: {error.message}")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    # In Python True == 1; a boolean default must not pass for an integer choice, nor the reverse.
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _has_type(kind: str, value: Any) -> bool:
    check = _TYPE_CHECKS.get(kind)
    return check is None or check(value)


def _is_key_value(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value)
    return isinstance(value, list) and all(
        isinstance(pair, dict) and isinstance(pair.get("key"), str) and pair.keys() <= _PAIR_KEYS
        for pair in value
    )


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "key_value": _is_key_value,
    "json": lambda _: True,
}
