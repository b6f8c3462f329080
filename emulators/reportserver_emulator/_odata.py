"""OData query options over a list of entities: $filter, $orderby, $skip, $top, $count, $select.

The $filter grammar is the part report server clients use: comparisons (eq, ne, gt, ge, lt,
le) of a property with a literal, contains/startswith/endswith, tolower/toupper, and/or/not
and parentheses. Anything else is a 400, as the real server answers an expression it cannot
parse.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["ODataError", "apply_query"]


class ODataError(ValueError):
    """A query option the emulator cannot apply (the server answers 400)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_./]*))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
_TEXT_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda a, b: b in a,
    "startswith": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.endswith(b),
}
_CASE: dict[str, Callable[[str], str]] = {"tolower": str.lower, "toupper": str.upper}


def _either(
    a: Callable[[Mapping[str, Any]], Any], b: Callable[[Mapping[str, Any]], Any]
) -> Callable[[Mapping[str, Any]], Any]:
    return lambda e: bool(a(e)) or bool(b(e))


def _both(
    a: Callable[[Mapping[str, Any]], Any], b: Callable[[Mapping[str, Any]], Any]
) -> Callable[[Mapping[str, Any]], Any]:
    return lambda e: bool(a(e)) and bool(b(e))


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ODataError(f"$filter: cannot read '{text[pos : pos + 20]}'")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, fields: set[str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.fields = fields

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1].lower() != expected):
            want = f"'{expected}'" if expected else "more"
            raise ODataError(f"$filter: expected {want}")
        self.pos += 1
        return token

    def parse(self) -> Callable[[Mapping[str, Any]], Any]:
        expr = self.or_expr()
        if self.peek() is not None:
            raise ODataError(f"$filter: unexpected '{self.peek()[1]}'")  # type: ignore[index]
        return expr

    def or_expr(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self.and_expr()
        while (tok := self.peek()) is not None and tok[1].lower() == "or":
            self.take()
            right = self.and_expr()
            left = _either(left, right)
        return left

    def and_expr(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self.unary()
        while (tok := self.peek()) is not None and tok[1].lower() == "and":
            self.take()
            right = self.unary()
            left = _both(left, right)
        return left

    def unary(self) -> Callable[[Mapping[str, Any]], Any]:
        tok = self.peek()
        if tok is not None and tok[1].lower() == "not":
            self.take()
            inner = self.unary()
            return lambda e: not inner(e)
        return self.comparison()

    def comparison(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() in _COMPARE:
            op = _COMPARE[self.take()[1].lower()]
            right = self.operand()
            return lambda e: op(left(e), right(e))
        return left

    def operand(self) -> Callable[[Mapping[str, Any]], Any]:  # noqa: PLR0911 - one per kind
        kind, text = self.take()
        if kind == "punct" and text == "(":
            inner = self.or_expr()
            self.take(")")
            return inner
        if kind == "str":
            value: Any = text[1:-1].replace("''", "'")
            return lambda _e: value
        if kind == "num":
            number = float(text) if "." in text else int(text)
            return lambda _e: number
        if kind != "word":
            raise ODataError(f"$filter: unexpected '{text}'")
        lowered = text.lower()
        if lowered in {"true", "false"}:
            flag = lowered == "true"
            return lambda _e: flag
        if lowered == "null":
            return lambda _e: None
        nxt = self.peek()
        if nxt is not None and nxt[1] == "(":
            return self.call(lowered)
        if text not in self.fields:
            raise ODataError(f"$filter: the type has no property '{text}'")
        return lambda e: e.get(text)

    def call(self, name: str) -> Callable[[Mapping[str, Any]], Any]:
        self.take("(")
        if name in _CASE:
            arg = self.or_expr()
            self.take(")")
            change = _CASE[name]
            return lambda e: change(v) if isinstance(v := arg(e), str) else v
        if name in _TEXT_TESTS:
            first = self.or_expr()
            self.take(",")
            second = self.or_expr()
            self.take(")")
            test = _TEXT_TESTS[name]
            return lambda e: (
                isinstance(a := first(e), str) and isinstance(b := second(e), str) and test(a, b)
            )
        raise ODataError(f"$filter: unknown function '{name}'")


def _integer(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ODataError(f"{name} must be a whole number of 0 or more")
    return int(raw)


def _order(rows: list[dict[str, Any]], spec: str, fields: set[str]) -> list[dict[str, Any]]:
    for part in reversed([p.strip() for p in spec.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        if name not in fields:
            raise ODataError(f"$orderby: the type has no property '{name}'")
        descending = direction.strip().lower() == "desc"
        rows = sorted(
            rows,
            key=lambda r, n=name: (r.get(n) is None, str(r.get(n)).lower()),  # type: ignore[misc]
            reverse=descending,
        )
    return rows


def apply_query(
    rows: list[dict[str, Any]], params: Mapping[str, str], context: str
) -> dict[str, Any]:
    """The OData collection body for ``rows`` after the query options in ``params``."""
    fields = set().union(*(r.keys() for r in rows)) if rows else set()
    chosen = rows
    spec = params.get("$filter")
    if spec:
        predicate = _Parser(spec, fields).parse()
        chosen = [r for r in chosen if predicate(r)]
    orderby = params.get("$orderby") or params.get("$orderBy")
    if orderby:
        chosen = _order(chosen, orderby, fields)
    total = len(chosen)
    skip = _integer(params, "$skip") or 0
    top = _integer(params, "$top")
    chosen = chosen[skip : None if top is None else skip + top]
    select = params.get("$select")
    if select:
        names = [n.strip() for n in select.split(",") if n.strip()]
        unknown = [n for n in names if n not in fields]
        if unknown:
            raise ODataError(f"$select: the type has no property '{unknown[0]}'")
        chosen = [{n: r.get(n) for n in ["Id", *names] if n in r} for r in chosen]
    body: dict[str, Any] = {"@odata.context": context}
    count = (params.get("$count") or "").lower()
    if count not in {"", "true", "false"}:
        raise ODataError("$count must be true or false")
    if count == "true":
        body["@odata.count"] = total
    body["value"] = chosen
    return body
