"""The explaining check of an input type: every issue of a value, each where it is.

Compiled from a definition's rules into closures; :mod:`connectorkit.types._fastpath` puts a fast
path in front of it, and :mod:`connectorkit.types._compile` is the face of both.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from connectorkit.types._issues import Issue

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "KINDS",
    "anchored",
    "compile_rules",
    "explaining",
    "has_kind",
    "is_number",
    "json_equal",
]

_PAIR_KEYS = frozenset({"key", "value"})


def _is_integer(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_key_value(value: Any) -> bool:
    if type(value) is dict:
        return all(type(v) is str for v in value.values())
    return type(value) is list and all(
        type(pair) is dict
        and pair.keys() == _PAIR_KEYS
        and type(pair["key"]) is str
        and type(pair["value"]) is str
        for pair in value
    )


_FILE_TEXT_KEYS = frozenset({"name", "content_type"})


def _is_file(value: Any) -> bool:
    """A file: ``{"path": …}`` or ``{"base64": …}``, optionally ``name`` and ``content_type``."""
    if type(value) is not dict or not all(type(v) is str for v in value.values()):
        return False
    sources = ("path" in value) + ("base64" in value)
    return sources == 1 and value.keys() - {"path", "base64"} <= _FILE_TEXT_KEYS


KINDS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "integer": _is_integer,
    "number": is_number,
    "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "key_value": _is_key_value,
    "json": lambda _: True,
    "file": _is_file,
}


def has_kind(kind: str, value: Any) -> bool:
    """Whether ``value`` is of the input type ``kind`` (an unknown kind accepts anything)."""
    check = KINDS.get(kind)
    return check is None or check(value)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON means it: ``true`` is not ``1``, ``1.0`` is ``1``, containers deep."""
    if type(a) is bool or type(b) is bool:
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, list | tuple | dict) or isinstance(b, list | tuple | dict):
        return False
    return bool(a == b)


def anchored(pattern: str) -> str:
    """``pattern`` made to match the whole value (JSON Schema's ``pattern`` matches anywhere)."""
    if pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern
    return f"^(?:{pattern})$"


def compile_rules(
    kind: str | None, rules: Mapping[str, Any]
) -> Callable[[Any], list[Issue] | None]:
    """One check function for a type and its keywords; each keyword guards its own kind."""
    is_kind = KINDS.get(kind or "json", KINDS["json"])
    steps = list(_steps(rules))
    if not steps:
        if kind in (None, "json"):
            return lambda _: None
        # The fast path of most scalar inputs and row cells: one type test.
        return lambda value: None if is_kind(value) else [Issue((), "type", kind, value)]

    def check(value: Any) -> list[Issue] | None:
        if not is_kind(value):
            return [Issue((), "type", kind, value)]
        found: list[Issue] | None = None
        for step in steps:
            more = step(value)
            if more:
                found = more if found is None else found + more
        return found

    return check


def _steps(  # noqa: C901 - one branch per keyword reads best
    rules: Mapping[str, Any],
) -> Iterator[Callable[[Any], list[Issue] | None]]:
    if "enum" in rules:
        choices = tuple(rules["enum"])

        def enum(value: Any) -> list[Issue] | None:
            if any(json_equal(value, choice) for choice in choices):
                return None
            return [Issue((), "enum", choices, value)]

        yield enum
    for name, rule, holds in (
        ("minimum", "minimum", lambda v, low: v >= low),
        ("maximum", "maximum", lambda v, high: v <= high),
    ):
        if name in rules:
            yield _numeric(rule, rules[name], holds)
    for name, rule, kind, holds in (
        ("minLength", "min_length", str, lambda n, low: n >= low),
        ("maxLength", "max_length", str, lambda n, high: n <= high),
        ("minItems", "min_length", list, lambda n, low: n >= low),
    ):
        if name in rules:
            yield _length(rule, rules[name], kind, holds)
    if "pattern" in rules:
        yield _pattern(rules["pattern"])
    if "items" in rules:
        yield _items(rules["items"])
    if "properties" in rules or "required" in rules or rules.get("additionalProperties") is False:
        yield _properties(rules)


def _numeric(
    rule: str, limit: float, holds: Callable[[Any, float], bool]
) -> Callable[[Any], list[Issue] | None]:
    def check(value: Any) -> list[Issue] | None:
        if type(value) in (int, float) and not holds(value, limit):
            return [Issue((), rule, limit, value)]
        return None

    return check


def _length(
    rule: str, limit: int, kind: type, holds: Callable[[int, int], bool]
) -> Callable[[Any], list[Issue] | None]:
    def check(value: Any) -> list[Issue] | None:
        if type(value) is kind and not holds(len(value), limit):  # type: ignore[arg-type]  # a str or list here
            return [Issue((), rule, limit, value)]
        return None

    return check


def _pattern(pattern: str) -> Callable[[Any], list[Issue] | None]:
    whole = anchored(pattern)
    try:
        compiled = re.compile(whole)
    except re.error:
        return lambda _: None  # the checker reports the pattern itself

    def check(value: Any) -> list[Issue] | None:
        # search with the anchored form: what a JSON Schema validator given describe does.
        if type(value) is str and compiled.search(value) is None:
            return [Issue((), "pattern", pattern, value)]
        return None

    return check


def _items(schema: Mapping[str, Any]) -> Callable[[Any], list[Issue] | None]:
    element = explaining(schema)

    def check(value: Any) -> list[Issue] | None:
        if type(value) is not list:
            return None
        found: list[Issue] | None = None
        for index, item in enumerate(value):
            issues = element(item)
            if issues:
                found = (found or []) + [issue.under(index) for issue in issues]
        return found

    return check


def _properties(rules: Mapping[str, Any]) -> Callable[[Any], list[Issue] | None]:
    properties = {
        str(name): explaining(sub) for name, sub in (rules.get("properties") or {}).items()
    }
    fields = tuple(properties.items())
    known = frozenset(properties)
    required = tuple(str(name) for name in rules.get("required") or ())
    closed = rules.get("additionalProperties") is False
    missing = object()

    def check(value: Any) -> list[Issue] | None:
        if type(value) is not dict:
            return None
        found: list[Issue] | None = None
        for name in required:
            if name not in value:
                found = (found or []) + [Issue((name,), "required", name, None)]
        for name, sub in fields:
            item = value.get(name, missing)
            if item is not missing:
                issues = sub(item)
                if issues:
                    found = (found or []) + [issue.under(name) for issue in issues]
        if closed and not value.keys() <= known:
            extra = [k for k in value if k not in known]
            found = (found or []) + [Issue((k,), "extra", k, value[k]) for k in extra]
        return found

    return check


def explaining(schema: Mapping[str, Any]) -> Callable[[Any], list[Issue] | None]:
    """The explaining check of an element schema (``items``, a small JSON Schema)."""
    kind = schema.get("type")
    return compile_rules(str(kind) if kind is not None else None, schema)
