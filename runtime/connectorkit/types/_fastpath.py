"""Generated code in front of the explaining check: a valid value decided in one call.

The rules of a definition are written out as straight-line Python (type tests, comparisons,
dictionary lookups), compiled once. It only decides "valid"; anything else goes to the
explaining check (:mod:`connectorkit.types._explain`), which finds every issue. Both come from the
same rules, and the property tests in ``tests/test_types.py`` hold each to JSON Schema.

For the rows of a push, whose schema is an object of scalar columns, :func:`rows_fast_path`
decides a whole list of rows in C (msgspec), a few hundred nanoseconds a row; a list it does
not pass goes row by row through the generated check, which names every bad row. From JSON
text, :meth:`RowsCheck.decode` parses rows straight into a structure of the columns, which
checks each value as it is read; the structures encode back to the same JSON values.
"""

from __future__ import annotations

import contextlib
import operator
import re
from collections.abc import Mapping
from itertools import chain, repeat
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from connectorkit.types._explain import KINDS, anchored, compile_rules, json_equal

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit.types._issues import Issue

__all__ = ["RowsCheck", "rows_fast_path", "with_fast_path"]


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
    code = compile(source, "<connectorkit.types._fastpath>", "exec")
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
# The kinds whose type test is "the value's type is one of these" (integer also takes 1.0).
_EXACT_TYPES: dict[Any, frozenset[type]] = {
    "string": frozenset({str}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}


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
        exact = _EXACT_TYPES.get(schema.get("type")) if schema.keys() == {"type"} else None
        if exact is not None:
            # Elements that need only their type: the set of their types, gathered in C.
            self.fail_if(f"not set(map(type, {source})) <= {self.constant(exact)}", depth)
            return
        before = len(self.lines)
        self.lines.append(f"{pad}for {y} in {source}:\n")
        self.value(schema.get("type"), schema, y, depth + 1)
        if len(self.lines) == before + 1:
            del self.lines[before:]  # any element is valid: no loop


# -- a whole list of flat rows at once ---------------------------------------------------------

# The value types a row may hold for msgspec to judge it as the generated check would: msgspec
# also takes subclasses (an IntEnum for an integer, a Decimal for a number), the check does not.
_EXACT = frozenset({str, int, float, bool, type(None), dict, list})
# A number is kept as it came (an integer stays an exact integer, also past 2**53).
_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": int | float, "boolean": bool}
_COLUMN_KEYWORDS = frozenset({"type", "minimum", "maximum", "minLength", "maxLength", "pattern"})
_ROW_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"})


class RowsCheck(msgspec.Struct, frozen=True):
    """Whether every row of a list is valid, decided in C (see :func:`rows_fast_path`)."""

    many: Any  # list[Row], Row a msgspec Struct of the columns
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    # The same patterns by the Row's attribute names, and the decoder of a JSON array of rows.
    attributes: tuple[tuple[str, re.Pattern[str]], ...]
    decoder: msgspec.json.Decoder[Any]

    def __call__(self, rows: list[Any], *, plain: bool) -> bool:
        """``True``: every row is valid; ``False``: some row may not be (check row by row)."""
        return _all_valid(rows, self.many, self.patterns, plain=plain)

    def decode(self, text: bytes | bytearray) -> list[Any] | None:
        """The rows of a JSON array as Row structures, each valid; ``None`` if one is not.

        ``None``: some row does not fit (decode the text as plain values then, to name what is
        wrong). The structures encode to the same values (in the columns' order); optional columns a
        row leaves out stay out.
        """
        try:
            rows: list[Any] = self.decoder.decode(text)
        except (msgspec.MsgspecError, ValueError, RecursionError):
            return None
        for attribute, pattern in self.attributes:
            # Each distinct value once (dates repeat); an optional column left out is UNSET.
            values = set(map(operator.attrgetter(attribute), rows))
            values.discard(msgspec.UNSET)
            if not all(map(pattern.search, values)):
                return None
        return rows


def rows_fast_path(schema: Mapping[str, Any]) -> RowsCheck | None:
    """For a row schema of scalar columns: whether every row of a list is valid, decided in C.

    ``check(rows, plain=...)``: ``True`` means the generated check accepts every row; ``False``
    only that some row may be bad (the caller then checks row by row, which also explains).
    ``plain``: the rows are known to hold plain JSON values only (decoded from JSON text);
    otherwise that is proved first. ``None`` when the schema is not a flat object of scalar
    columns, or uses a keyword this path does not decide.
    """
    if schema.get("type") != "object" or not schema.keys() <= _ROW_KEYWORDS:
        return None
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        return None
    required = set(schema.get("required") or ())
    columns: Mapping[str, Any] = schema.get("properties") or {}
    if not required <= columns.keys():
        return None
    fields: list[tuple[str, Any, Any]] = []
    patterns: list[tuple[str, re.Pattern[str]]] = []
    attributes: list[tuple[str, re.Pattern[str]]] = []
    for index, (name, column) in enumerate(columns.items()):
        field = _field_type(column)
        if field is None:
            return None
        if "pattern" in column:
            # A pattern that does not compile is skipped by the generated check too (the pack
            # checker reports it).
            with contextlib.suppress(re.error):
                compiled = re.compile(anchored(column["pattern"]))
                patterns.append((name, compiled))
                attributes.append((f"c{index}", compiled))
        if name in required:
            fields.append((f"c{index}", field, msgspec.NODEFAULT))
        else:
            fields.append((f"c{index}", field | msgspec.UnsetType, msgspec.UNSET))
    try:
        row = msgspec.defstruct(
            "Row",
            fields,
            rename={f"c{i}": name for i, name in enumerate(columns)},
            forbid_unknown_fields=extra is False,
            kw_only=True,
            gc=False,
        )
    except (TypeError, ValueError):  # a schema msgspec cannot express: row by row
        return None
    many = list[row]  # type: ignore[valid-type]  # a type made at run time
    return RowsCheck(many, tuple(patterns), tuple(attributes), msgspec.json.Decoder(many))


def _field_type(column: Any) -> Any:
    """The msgspec type of one column's values, or None when this path cannot decide it."""
    if not isinstance(column, Mapping) or not column.keys() <= _COLUMN_KEYWORDS:
        return None
    kind = column.get("type")
    if kind not in _SCALARS:
        return None
    meta: dict[str, Any] = {}
    for keyword, option, of in (
        ("minimum", "ge", "integer"),
        ("maximum", "le", "integer"),
        ("minLength", "min_length", "string"),
        ("maxLength", "max_length", "string"),
    ):
        if keyword in column:
            limit = column[keyword]
            # A bound of another kind (a float bound of an integer, a number's bounds): msgspec
            # would compare after a conversion, the check compares exactly.
            if kind != of or type(limit) is not int:
                return None
            meta[option] = limit
    if "pattern" in column and kind != "string":
        return None
    base = _SCALARS[kind]
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


def _all_valid(
    rows: list[Any], many: Any, patterns: tuple[tuple[str, re.Pattern[str]], ...], *, plain: bool
) -> bool:
    if not rows:
        return True
    if set(map(type, rows)) != {dict}:
        return False
    if not plain and not set(map(type, chain.from_iterable(map(dict.values, rows)))) <= _EXACT:
        return False
    try:
        msgspec.convert(rows, many)
    except (msgspec.MsgspecError, ValueError, TypeError, RecursionError):
        return False
    missing = object()
    for name, pattern in patterns:
        # Each distinct value once (dates repeat); msgspec has already made sure they are text.
        values = set(map(dict.get, rows, repeat(name), repeat(missing)))
        values.discard(missing)
        if not all(map(pattern.search, values)):
            return False
    return True
