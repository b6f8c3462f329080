"""The OData query options of list routes: `$filter` (a useful subset), `$top` and `$skip`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from powerbi_emulator._http import ApiError

__all__ = ["apply_query", "parse_filter"]

Item = Mapping[str, object]
Predicate = Callable[[Item], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_./]*))"
)
_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: _ordered(a, b) and a > b,  # type: ignore[operator]
    "ge": lambda a, b: _ordered(a, b) and a >= b,  # type: ignore[operator]
    "lt": lambda a, b: _ordered(a, b) and a < b,  # type: ignore[operator]
    "le": lambda a, b: _ordered(a, b) and a <= b,  # type: ignore[operator]
}
_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda a, b: b in a,
    "startswith": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.endswith(b),
}
_LITERALS: dict[str, object] = {"true": True, "false": False, "null": None}


def _ordered(a: object, b: object) -> bool:
    numbers = (int, float)
    both_numbers = isinstance(a, numbers) and isinstance(b, numbers)
    return both_numbers or (isinstance(a, str) and isinstance(b, str))


class _FilterSyntaxError(ValueError):
    pass


class _Parser:
    """A recursive descent parser of the `$filter` subset.

    or-expr := and-expr ('or' and-expr)*; and-expr := unary ('and' unary)*;
    unary := 'not' unary | '(' or-expr ')' | func(field, 'text') | field op value.
    """

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip():
                    raise _FilterSyntaxError(f"unexpected text at position {position}")
                break
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise _FilterSyntaxError(f"expected {expected or 'more input'}")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        token = self.peek()
        if token is not None:
            raise _FilterSyntaxError(f"unexpected {token[1]!r}")
        return predicate

    def or_expr(self) -> Predicate:
        terms = [self.and_expr()]
        while self.peek() == ("word", "or"):
            self.take()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else (lambda item: any(t(item) for t in terms))

    def and_expr(self) -> Predicate:
        terms = [self.unary()]
        while self.peek() == ("word", "and"):
            self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda item: all(t(item) for t in terms))

    def unary(self) -> Predicate:
        kind, value = self.take()
        if (kind, value) == ("word", "not"):
            inner = self.unary()
            return lambda item: not inner(item)
        if (kind, value) == ("punct", "("):
            inner = self.or_expr()
            self.take(")")
            return inner
        if kind != "word":
            raise _FilterSyntaxError(f"expected a property name, got {value!r}")
        if value.lower() in _FUNCTIONS:
            return self.function(value.lower())
        following = self.peek()
        if following is None or following[1].lower() in {"and", "or", ")"}:
            return lambda item: item.get(value) is True  # a boolean property on its own
        operator = self.take()[1].lower()
        if operator not in _COMPARE:
            raise _FilterSyntaxError(f"unknown operator {operator!r}")
        literal, compare = self.literal(), _COMPARE[operator]

        def matches(item: Item) -> bool:
            actual, expected = item.get(value), literal
            if isinstance(actual, str) and isinstance(expected, str):
                # Power BI compares names without regard to case.
                actual, expected = actual.casefold(), expected.casefold()
            return compare(actual, expected)

        return matches

    def function(self, name: str) -> Predicate:
        self.take("(")
        kind, field = self.take()
        if kind != "word":
            raise _FilterSyntaxError(f"{name}() needs a property name first")
        self.take(",")
        text = self.literal()
        self.take(")")
        if not isinstance(text, str):
            raise _FilterSyntaxError(f"{name}() needs a string second")
        function = _FUNCTIONS[name]

        def matches(item: Item) -> bool:
            value = item.get(field)
            return isinstance(value, str) and function(value.casefold(), text.casefold())

        return matches

    def literal(self) -> object:
        kind, value = self.take()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "word" and value in _LITERALS:
            return _LITERALS[value]
        raise _FilterSyntaxError(f"expected a value, got {value!r}")


def parse_filter(text: str) -> Predicate:
    """Compile an OData `$filter`; raises ApiError 400 when it cannot be parsed."""
    try:
        return _Parser(text).parse()
    except _FilterSyntaxError as exc:
        raise ApiError(400, "InvalidRequest", f"Invalid $filter {text!r}: {exc}.") from None


def _non_negative(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"\d{1,9}", raw.strip()):
        raise ApiError(
            400, "InvalidRequest", f"{name} must be a non-negative integer; got {raw!r}."
        )
    return int(raw)


def apply_query(
    items: Sequence[dict[str, object]], query: Mapping[str, str]
) -> tuple[list[dict[str, object]], int]:
    """Filter, then skip, then take; returns the page and the filtered count."""
    top, skip = _non_negative(query, "$top"), _non_negative(query, "$skip")
    selected = list(items)
    if query.get("$filter"):
        predicate = parse_filter(query["$filter"])
        selected = [item for item in selected if predicate(item)]
    count = len(selected)
    selected = selected[skip or 0 :]
    if top is not None:
        selected = selected[:top]
    return selected, count
