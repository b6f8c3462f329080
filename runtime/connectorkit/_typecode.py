"""Generated code in front of the explaining check: a valid value decided in one call.

The rules of a definition are written out as straight-line Python (type tests, comparisons,
dictionary lookups), compiled once. It only decides "valid"; anything else goes to the
explaining check (:mod:`connectorkit._typecheck`), which finds every issue. Both come from the
same rules, and the property tests in ``tests/test_types.py`` hold each to JSON Schema.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from connectorkit._typecheck import KINDS, anchored, compile_rules, json_equal

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit._issues import Issue

__all__ = ["with_fast_path"]


def with_fast_path(
    kind: str | None, rules: Mapping[str, Any]
) -> Callable[[Any], list[Issue] | None]:
    """The check, with generated code deciding a valid value in one function call.

    The generated function only says "valid" or hands the value to the explaining check, which
    finds every issue; a valid value (the usual case: thousands of rows) costs a few inline
    tests. Both come from the same rules, and the property tests hold each to JSON Schema.
    """
    writer = _Writer(compile_rules(kind, rules))
    writer.value(kind, rules, "x0", 1)
    source = "def _check(x0):\n" + "".join(writer.lines) + "    return None\n"
    scope: dict[str, Any] = {}
    code = compile(source, "<connectorkit._typecode>", "exec")
    exec(code, writer.names, scope)  # noqa: S102 - code we wrote from a checked definition
    fast: Callable[[Any], list[Issue] | None] = scope["_check"]
    return fast


_MISSING = object()
_PY_TYPES = {"integer": "int", "number": "float", "string": "str", "array": "list"}
_TYPE_TESTS = {
    "string": "type({x}) is not str",
    "integer": "not (type({x}) is int or (type({x}) is float and {x}.is_integer()))",
    "number": "type({x}) is not int and type({x}) is not float",
    "boolean": "type({x}) is not bool",
    "object": "type({x}) is not dict",
    "array": "type({x}) is not list",
}
_LENGTHS = (("minLength", "<", "string"), ("maxLength", ">", "string"), ("minItems", "<", "array"))


def _in_enum(value: Any, choices: tuple[Any, ...]) -> bool:
    return any(json_equal(value, choice) for choice in choices)


class _Writer:
    """Writes the statements that hand an invalid value (``x0``) to ``_explain``."""

    def __init__(self, explain: Callable[[Any], list[Issue] | None]) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"_explain": explain, "_in": _in_enum, "_M": _MISSING}

    def constant(self, value: Any) -> str:
        """A name the generated code reads ``value`` by."""
        key = f"_c{len(self.names)}"
        self.names[key] = value
        return key

    def fail_if(self, condition: str, depth: int) -> None:
        pad = "    " * depth
        self.lines.append(f"{pad}if {condition}:\n{pad}    return _explain(x0)\n")

    def value(self, kind: str | None, rules: Mapping[str, Any], x: str, depth: int) -> None:
        """The tests of ``x``, a value of type ``kind`` (None: any) with ``rules``."""
        if kind in _TYPE_TESTS:
            self.fail_if(_TYPE_TESTS[kind].format(x=x), depth)
        elif kind not in (None, "json"):
            self.fail_if(f"not {self.constant(KINDS[kind])}({x})", depth)  # key_value
        self.scalars(kind, rules, x, depth)
        if (
            rules.get("properties")
            or rules.get("required")
            or rules.get("additionalProperties") is False
        ):
            self.properties(kind, rules, x, depth)
        if "items" in rules:
            self.items(kind, rules["items"], x, depth)

    def scalars(  # noqa: C901 - one branch per keyword reads best
        self, kind: str | None, rules: Mapping[str, Any], x: str, depth: int
    ) -> None:
        def guarded(kinds: tuple[str, ...], condition: str) -> None:
            # A keyword applies only to values of its kind, unless the type already says so.
            if kind not in kinds:
                pytypes = ", ".join(_PY_TYPES[k] for k in kinds)
                condition = f"type({x}) in ({pytypes},) and {condition}"
            self.fail_if(condition, depth)

        if "enum" in rules:
            choices = tuple(rules["enum"])
            if kind == "string" and all(type(c) is str for c in choices):
                self.fail_if(f"{x} not in {self.constant(frozenset(choices))}", depth)
            else:
                self.fail_if(f"not _in({x}, {self.constant(choices)})", depth)
        if "minimum" in rules:
            guarded(("integer", "number"), f"{x} < {self.constant(rules['minimum'])}")
        if "maximum" in rules:
            guarded(("integer", "number"), f"{x} > {self.constant(rules['maximum'])}")
        for keyword, op, of in _LENGTHS:
            if keyword in rules:
                guarded((of,), f"len({x}) {op} {int(rules[keyword])}")
        if "pattern" in rules:
            try:
                pattern = re.compile(anchored(rules["pattern"]))
            except re.error:
                return  # the checker reports the pattern itself
            guarded(("string",), f"{self.constant(pattern)}.search({x}) is None")

    def properties(self, kind: str | None, rules: Mapping[str, Any], x: str, depth: int) -> None:
        if kind != "object":
            pad = "    " * depth
            self.lines.append(f"{pad}if type({x}) is dict:\n")
            depth += 1
        props: Mapping[str, Any] = rules.get("properties") or {}
        for name in rules.get("required") or ():
            self.fail_if(f"{str(name)!r} not in {x}", depth)
        if rules.get("additionalProperties") is False:
            self.fail_if(f"not {x}.keys() <= {self.constant(frozenset(props))}", depth)
        y, pad = f"x{depth}", "    " * depth
        for name, sub in props.items():
            self.lines.append(f"{pad}{y} = {x}.get({str(name)!r}, _M)\n{pad}if {y} is not _M:\n")
            before = len(self.lines)
            self.value(sub.get("type"), sub, y, depth + 1)
            if len(self.lines) == before:
                self.lines.append(f"{pad}    pass\n")

    def items(self, kind: str | None, schema: Mapping[str, Any], x: str, depth: int) -> None:
        y, pad = f"x{depth}", "    " * depth
        source = x if kind == "array" else f"({x} if type({x}) is list else ())"
        before = len(self.lines)
        self.lines.append(f"{pad}for {y} in {source}:\n")
        self.value(schema.get("type"), schema, y, depth + 1)
        if len(self.lines) == before + 1:
            del self.lines[before:]  # any element is valid: no loop
