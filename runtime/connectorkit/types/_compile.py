"""The one type system: an input definition compiled into the validator everything else uses.

Binding checks a call's inputs with it, the pack checker checks declared defaults and examples
with it, and ``describe``'s JSON Schema is derived from the same definition by the same rules
(:func:`json_schema`), so the three cannot disagree: ``tests/test_types.py`` proves it with
generated definitions and values against a JSON Schema validator.

The semantics are JSON Schema's (draft 2020-12) for the subset a pack may use. ``integer``
accepts a number with no fractional part (``1.0``; binding makes it ``1``) but never a boolean;
``enum`` compares as JSON does (``true`` is not ``1``, ``1.0`` is ``1``); a ``pattern`` must
match the whole value. An array's ``items`` is a small JSON Schema (``type``, ``properties``,
``required``, ``additionalProperties``, ``enum``, ``minimum``, ``maximum``, ``minLength``,
``maxLength``, ``items``) whose keywords apply, as in JSON Schema, only to values of their kind.

A validator is a plain closure: no import beyond ``re``, nothing compiled that a call does not
use, and a row of a push table costs a few dictionary lookups (``bench/row_validation.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from connectorkit.core._template import placeholders
from connectorkit.types._explain import KINDS, anchored, has_kind, is_number, json_equal
from connectorkit.types._fastpath import RowsCheck, rows_fast_path, with_fast_path
from connectorkit.types._issues import TYPE_WORDS, Issue, Where, for_author, show

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connectorkit.types._input import InputDef

__all__ = [
    "APPLIES_TO",
    "CONSTRAINTS",
    "FILE_FORMS",
    "FORMATS",
    "KEY_VALUE_FORMS",
    "Issue",
    "RowsCheck",
    "Validator",
    "Where",
    "anchored",
    "compile_element",
    "compile_rows",
    "compile_spec",
    "definition_problems",
    "has_kind",
    "json_equal",
    "json_schema",
    "spec_of",
]

# The declared formats a string must have (others, such as password or multiline, only guide a
# form): binding refuses the value, the pack checker a default, and describe shows "format".
FORMATS: dict[str, re.Pattern[str]] = {
    "uuid": re.compile(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    ),
    # RFC 3986: a scheme, then no spaces or control characters.
    "uri": re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+"),
}

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
        "format",
    }
)
_NUMERIC = ("integer", "number")
# Which input types each keyword applies to (the checker refuses it on any other).
APPLIES_TO = {
    "minimum": _NUMERIC,
    "maximum": _NUMERIC,
    "min_length": ("string", "array"),
    "max_length": ("string",),
    "pattern": ("string",),
    "items": ("array",),
}


class Validator(msgspec.Struct, frozen=True):
    """A compiled input type: ``check(value)`` gives the issues, ``None`` when valid."""

    kind: str
    check: Callable[[Any], list[Issue] | None]

    def normalize(self, value: Any) -> Any:
        """A valid value as the runtime passes it on (``1.0`` for an integer becomes ``1``)."""
        if self.kind == "integer" and type(value) is float:
            return int(value)
        return value


# -- compiling -----------------------------------------------------------------------------------


def spec_of(definition: InputDef) -> dict[str, Any]:
    """The fields of an input definition that decide its values, as a YAML mapping has them."""
    return {
        "type": definition.type,
        "enum": list(definition.enum) if definition.enum is not None else None,
        "minimum": definition.minimum,
        "maximum": definition.maximum,
        "min_length": definition.min_length,
        "max_length": definition.max_length,
        "pattern": definition.pattern,
        "items": definition.items,
        "format": definition.format,
    }


def compile_spec(spec: Mapping[str, Any], *, lazy: bool = False) -> Validator:
    """The validator of an input definition (a YAML mapping, or an InputDef's fields).

    ``spec`` is trusted to be well-formed (the schema pass vouches for a pack's definitions).
    ``lazy``: its code is generated at its first check, not now (a call checks the few inputs
    it was given, not every input its action and connection define).
    """
    if lazy:
        return Validator(str(spec.get("type")), _Deferred(spec))
    kind = str(spec.get("type"))
    rules: dict[str, Any] = {
        name: spec.get(name)
        for name in ("enum", "minimum", "maximum", "pattern")
        if spec.get(name) is not None
    }
    if spec.get("min_length") is not None:
        rules["minLength" if kind == "string" else "minItems"] = spec["min_length"]
    if spec.get("max_length") is not None and kind == "string":
        rules["maxLength"] = spec["max_length"]
    if kind == "array" and spec.get("items") is not None:
        rules["items"] = spec["items"]
    check = with_fast_path(kind, rules)
    form = FORMATS.get(str(spec.get("format"))) if kind == "string" else None
    if form is not None:
        check = _with_format(check, str(spec["format"]), form)
    return Validator(kind, check)


class _Deferred:
    """A validator's check, compiled when it first checks a value."""

    __slots__ = ("_check", "_spec")

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._spec = spec
        self._check: Callable[[Any], list[Issue] | None] | None = None

    def __call__(self, value: Any) -> list[Issue] | None:
        check = self._check
        if check is None:
            # Two threads may both compile it the first time: the same check either way.
            check = self._check = compile_spec(self._spec).check
        return check(value)


def _with_format(
    check: Callable[[Any], list[Issue] | None], name: str, form: re.Pattern[str]
) -> Callable[[Any], list[Issue] | None]:
    """``check``, then the declared format of a string that passed it."""

    def checked(value: Any) -> list[Issue] | None:
        issues = check(value)
        if issues is None and isinstance(value, str) and form.fullmatch(value) is None:
            return [Issue((), "format", name, value)]
        return issues

    return checked


def compile_element(schema: Mapping[str, Any]) -> Callable[[Any], list[Issue] | None]:
    """The check of one element of an array input (``items``, a small JSON Schema): a row."""
    kind = schema.get("type")
    return with_fast_path(str(kind) if kind is not None else None, schema)


def compile_rows(schema: Mapping[str, Any]) -> RowsCheck | None:
    """For rows of scalar columns: whether :func:`compile_element` accepts every row of a list.

    Decided in C; ``False`` may also mean "could not tell" (then check row by row). ``None``
    when the schema is not a flat object of scalar columns. ``plain=True`` says the rows are
    known to hold plain JSON values (decoded from JSON text), which saves proving it.
    """
    return rows_fast_path(schema)


# -- JSON Schema ---------------------------------------------------------------------------------

# A key_value input takes either form; the list form lets a key repeat.
KEY_VALUE_FORMS: list[dict[str, Any]] = [
    {"type": "object", "additionalProperties": {"type": "string"}},
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            "required": ["key", "value"],
            "additionalProperties": False,
        },
    },
]
# A file input: a path on the worker's disk, or the bytes as base64 (JSON callers).
_FILE_NAMING = {
    "name": {"type": "string", "description": "The file's name as the service sees it."},
    "content_type": {"type": "string", "description": "Its media type (default: by name)."},
}
FILE_FORMS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "A path on the worker's disk."},
            **_FILE_NAMING,
        },
        "required": ["path"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "base64": {"type": "string", "description": "The file's bytes, base64."},
            **_FILE_NAMING,
        },
        "required": ["base64"],
        "additionalProperties": False,
    },
]
_PLAIN_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array"})


def json_schema(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of the values an input accepts (what :func:`compile_spec` checks)."""
    kind = str(spec.get("type"))
    schema: dict[str, Any] = {}
    if kind in _PLAIN_TYPES:
        schema["type"] = kind
    elif kind == "key_value":
        schema["oneOf"] = _plain(KEY_VALUE_FORMS)
    elif kind == "file":
        schema["oneOf"] = _plain(FILE_FORMS)
    is_array = kind == "array"
    rules: dict[str, Any] = {
        "enum": list(spec["enum"]) if spec.get("enum") is not None else None,
        "minimum": _number(spec.get("minimum")),
        "maximum": _number(spec.get("maximum")),
        "minItems" if is_array else "minLength": spec.get("min_length"),
        "maxLength": spec.get("max_length") if kind == "string" else None,
        "pattern": anchored(spec["pattern"]) if spec.get("pattern") is not None else None,
        "items": spec.get("items") if is_array else None,
    }
    schema.update({k: _plain(v) for k, v in rules.items() if v is not None})
    return schema


def _number(value: float | None) -> float | None:
    """Whole numbers without a trailing ``.0``, as the pack author wrote them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """A copy made of dicts and lists only (definitions hold read-only mappings and tuples)."""
    if isinstance(value, dict) or hasattr(value, "keys"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- definitions ---------------------------------------------------------------------------------


def definition_problems(
    spec: Mapping[str, Any], *, check_elements: bool = True
) -> Iterator[tuple[Where, str]]:
    """``(where inside the definition, message)`` for an input definition's inner mistakes.

    Its keywords must fit its type, and its ``default`` and ``example`` must be values the
    compiled validator accepts. ``check_elements``: check those values' elements against
    ``items``, which needs ``items`` to be well-formed (the schema pass vouches for that).
    """
    kind = spec.get("type")
    if kind not in KINDS:
        return  # a missing or unknown type is the schema's to report
    yield from _keyword_problems(spec, str(kind))
    validator = compile_spec(
        spec if check_elements else {k: v for k, v in spec.items() if k != "items"}
    )
    for field in ("default", "example"):
        value = spec.get(field)
        # A connection default built from other values ("{api_url}/v1.0") is checked once built.
        if value is not None and not (field == "default" and _is_template(value)):
            for issue in validator.check(value) or ():
                yield (field,), f"the {field} {for_author(issue)}"


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and bool(placeholders(value))


def _keyword_problems(spec: Mapping[str, Any], kind: str) -> Iterator[tuple[Where, str]]:
    for field, kinds in APPLIES_TO.items():
        if field in spec and kind not in kinds:
            yield (field,), f"'{field}' applies only to {' and '.join(kinds)} inputs, not {kind}"
    for low, high in (("minimum", "maximum"), ("min_length", "max_length")):
        lo, hi = spec.get(low), spec.get(high)
        if is_number(lo) and is_number(hi) and lo > hi:  # type: ignore[operator]  # numbers here
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
            if not has_kind(kind, choice):
                yield ("enum", index), f"{show(choice)} is not {TYPE_WORDS[kind]}"
