"""Why a value is refused, as data, and in words for each reader.

An :class:`Issue` is what the compiled validator of :mod:`connectorkit.types._compile` finds.
The same issue is worded twice: for the caller of an action (:func:`for_caller`, the
``details`` of an ``invalid_input`` error) and for the author of a pack (:func:`for_author`, a
problem that ``connectorkit validate`` reports about a default or example).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "TYPE_WORDS",
    "Issue",
    "Where",
    "dotted",
    "for_author",
    "for_caller",
    "kind_of",
    "row_details",
    "show",
]

# A place inside a document or a value: mapping keys and list indexes, e.g. ("inputs", 2).
Where = tuple[str | int, ...]


class Issue(msgspec.Struct, frozen=True):
    """The ``rule`` a value breaks at ``at`` inside it, the rule's ``limit``, and the ``value``.

    Rules: ``type`` (limit: the type), ``enum`` (the choices), ``format`` (the format's
    name), ``minimum``, ``maximum``,
    ``min_length``, ``max_length`` (a count; value: the text or list), ``pattern``, and, inside
    objects, ``required`` and ``extra`` (limit: the property's name).
    """

    at: Where
    rule: str
    limit: Any
    value: Any

    def under(self, step: str | int) -> Issue:
        """The same issue, one level deeper inside an enclosing value."""
        return Issue((step, *self.at), self.rule, self.limit, self.value)


# How a message names each enforced format (see _types.FORMATS).
FORMAT_WORDS = {
    "uuid": "a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "an absolute URI such as https://example.com/api",
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
    "file": 'a file: {"path": ...} or {"base64": ..., "name": ...}',
    "null": "empty",
}
_CALLER_TYPE = {
    "string": "input should be a valid string",
    "integer": "input should be a valid integer",
    "number": "must be a number",
    "boolean": "input should be a valid boolean",
    "object": "input should be a valid dictionary",
    "array": "input should be a valid list",
    "key_value": 'must be an object or a list of {"key": ..., "value": ...} pairs',
    "file": 'must be a file: {"path": "..."} or {"base64": "...", "name": "..."} '
    "(optionally with name and content_type)",
}
# bool first: in Python a boolean is also an int.
_SCALAR_NOUNS = ((bool, "the boolean"), (str, "the text"), ((int, float), "the number"))


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


def dotted(at: Where) -> str:
    """``("columns", 2, "dataType")`` as ``columns[2].dataType``."""
    out = ""
    for step in at:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
    return out


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _length_words(rule: str, limit: Any, value: Any) -> str:
    unit = "characters" if isinstance(value, str) else "elements"
    return f"must have {'at least' if rule == 'min_length' else 'at most'} {limit} {unit}"


def for_caller(issue: Issue) -> str:
    """The issue for whoever called the action (the field is named beside it)."""
    rule, limit, value = issue.rule, issue.limit, issue.value
    words: dict[str, Callable[[], str]] = {
        "type": lambda: _CALLER_TYPE.get(limit, f"must be {TYPE_WORDS.get(limit, limit)}"),
        "enum": lambda: f"must be one of {', '.join(repr(c) for c in limit)}",
        "minimum": lambda: f"input should be greater than or equal to {_number(limit)}",
        "maximum": lambda: f"input should be less than or equal to {_number(limit)}",
        "min_length": lambda: _length_words(rule, limit, value),
        "max_length": lambda: _length_words(rule, limit, value),
        "pattern": lambda: f"must match the pattern {limit}",
        "format": lambda: f"{show(value)} must be {FORMAT_WORDS.get(limit, limit)}",
        "required": lambda: "is required",
        "extra": lambda: "is not a field of this object",
    }
    return words[rule]()


def for_author(issue: Issue) -> str:
    """The issue for the author of a pack, about a ``default`` or ``example`` they wrote."""
    if issue.at:
        # Inside an element of an array: said as a JSON Schema validator says it.
        return f"has an invalid element {dotted(issue.at)}: {_schema_words(issue)}"
    rule, limit, value = issue.rule, issue.limit, issue.value
    words: dict[str, Callable[[], str]] = {
        "type": lambda: f"must be {TYPE_WORDS.get(limit, limit)}, not {kind_of(value)}",
        "enum": lambda: f"{show(value)} must be one of {', '.join(show(c) for c in limit)}",
        "minimum": lambda: f"{value} must be at least {_number(limit)}",
        "maximum": lambda: f"{value} must be at most {_number(limit)}",
        "min_length": lambda: _length_words(rule, limit, value),
        "max_length": lambda: _length_words(rule, limit, value),
        "pattern": lambda: f"{show(value)} must match {limit}",
        "format": lambda: f"{show(value)} must be {FORMAT_WORDS.get(limit, limit)}",
    }
    return words[rule]()


def _schema_words(issue: Issue) -> str:
    rule, limit, value = issue.rule, issue.limit, issue.value
    words: dict[str, Callable[[], str]] = {
        "type": lambda: f"{value!r} is not of type {limit!r}",
        "enum": lambda: f"{value!r} is not one of {list(limit)!r}",
        "minimum": lambda: f"{value!r} is less than the minimum of {limit!r}",
        "maximum": lambda: f"{value!r} is greater than the maximum of {limit!r}",
        "min_length": lambda: f"{value!r} is too short",
        "max_length": lambda: f"{value!r} is too long",
        "pattern": lambda: f"{value!r} does not match {limit!r}",
        "format": lambda: f"{value!r} is not a {limit!r}",
        "required": lambda: f"{limit!r} is a required property",
        "extra": lambda: f"Additional properties are not allowed ({limit!r} was unexpected)",
    }
    return words[rule]()


def row_details(name: str, position: int, issues: list[Issue]) -> list[dict[str, Any]]:
    """The details of a row that does not fit its table: ``name[position].column`` and why.

    A column the table lacks "is not a column of the table"; a bad value says what it got.
    """
    out = []
    for issue in issues:
        where = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in issue.at)
        message = "is not a column of the table" if issue.rule == "extra" else for_caller(issue)
        if issue.rule not in ("extra", "required"):
            message = f"{message} (got {show(issue.value)})"
        out.append({"field": f"{name}[{position}]{where}", "message": message})
    return out
