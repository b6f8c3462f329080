"""Pydantic models built from input definitions, and their errors as contract ``details``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import create_model as _create_model

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import ValidationError

    from connectorkit._definitions import InputDef

__all__ = ["KeyValue", "build_model", "describe_errors"]


class KeyValue(BaseModel):
    """One pair of a key/value list input; the list form allows repeated keys."""

    model_config = ConfigDict(extra="forbid", strict=True)
    key: StrictStr
    value: Any = None


_KeyValueInput = Union[dict[str, Any], list[KeyValue]]  # noqa: UP007 - pydantic needs a runtime union


def _scalar(kind: str) -> Any:
    return {
        "string": StrictStr,
        "integer": StrictInt,
        "number": Union[StrictInt, StrictFloat],  # noqa: UP007
        "boolean": StrictBool,
    }[kind]


def _constrained(base: Any, spec: Mapping[str, Any]) -> Any:
    """``base`` with the numeric/string/enum constraints of a JSON-Schema-like ``spec``."""
    enum = spec.get("enum")
    if enum is not None:
        return Literal[tuple(enum)]
    field: dict[str, Any] = {}
    for ours, theirs in (
        ("minimum", "ge"),
        ("maximum", "le"),
        ("min_length", "min_length"),
        ("minLength", "min_length"),
        ("max_length", "max_length"),
        ("maxLength", "max_length"),
        ("minItems", "min_length"),
        ("maxItems", "max_length"),
    ):
        if spec.get(ours) is not None:
            field[theirs] = spec[ours]
    if spec.get("pattern") is not None:
        field["pattern"] = f"^(?:{spec['pattern']})$"  # the whole value must match, as documented
    return Annotated[base, Field(**field)] if field else base


def _schema_type(spec: Mapping[str, Any], name: str) -> Any:
    """The Python type for the JSON Schema subset used by ``items``."""
    kind = spec.get("type")
    if kind in {"string", "integer", "number", "boolean"}:
        return _constrained(_scalar(kind), spec)
    if kind == "array":
        inner = _schema_type(spec.get("items") or {}, f"{name}_item")
        return _constrained(list[inner], spec)  # type: ignore[valid-type]
    if kind == "object" and "properties" in spec:
        required = set(spec.get("required") or ())
        fields: dict[str, Any] = {}
        for prop, prop_spec in spec["properties"].items():
            typ = _schema_type(prop_spec, f"{name}_{prop}")
            fields[prop] = (typ, ...) if prop in required else (typ | None, None)
        extra: Literal["allow", "forbid"] = (
            "allow" if spec.get("additionalProperties", True) is not False else "forbid"
        )
        return _create_model(
            _class_name(name),
            __config__=ConfigDict(extra=extra, strict=True),
            **fields,
        )
    if kind == "object":
        return dict[str, Any]
    return Any


def _input_type(definition: InputDef) -> Any:
    kind = definition.type
    spec: dict[str, Any] = {
        "enum": definition.enum,
        "minimum": definition.minimum,
        "maximum": definition.maximum,
        "min_length": definition.min_length,
        "max_length": definition.max_length,
        "pattern": definition.pattern,
    }
    if kind in {"string", "integer", "number", "boolean"}:
        return _constrained(_scalar(kind), spec)
    if kind == "array":
        items = dict(definition.items or {})
        inner = _schema_type(items, definition.key)
        return _constrained(list[inner], {"min_length": definition.min_length})  # type: ignore[valid-type]
    if kind == "object":
        return dict[str, Any]
    if kind == "key_value":
        return _KeyValueInput
    return Any


def _class_name(name: str) -> str:
    return (
        "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Inputs"
    )


def build_model(name: str, definitions: tuple[InputDef, ...]) -> type[BaseModel]:
    """A model whose fields are the inputs: required ones without default, others optional."""
    fields: dict[str, Any] = {}
    for definition in definitions:
        typ = _input_type(definition)
        if definition.required and definition.default is None:
            fields[definition.key] = (typ, ...)
        else:
            fields[definition.key] = (typ | None, definition.default)
    return _create_model(
        _class_name(name),
        __config__=ConfigDict(extra="ignore", strict=True, validate_default=False),
        **fields,
    )


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = part
        else:
            out += f".{part}"
    return out


_UNION_TAGS = {"dict[str,any]", "list[KeyValue]", "int", "float", "function-after[...]"}


def describe_errors(
    error: ValidationError, definitions: tuple[InputDef, ...]
) -> list[dict[str, Any]]:
    """One ``{"field", "message"}`` per problem, the field as ``columns[2].dataType``."""
    by_key = {d.key: d for d in definitions}
    details: list[dict[str, Any]] = []
    seen: set[str] = set()
    for problem in error.errors(include_url=False, include_input=False):
        loc = tuple(p for p in problem["loc"] if not (isinstance(p, str) and _is_union_tag(p)))
        field = _path(loc)
        top = loc[0] if loc else ""
        definition = by_key.get(str(top))
        kind = problem["type"]
        if field in seen:
            continue  # a union reports each branch; the first says enough
        if kind == "missing":
            message = "is required"
        elif definition is not None and definition.type == "number" and len(loc) == 1:
            message = "must be a number"
        elif kind in {"literal_error", "enum"} and definition is not None and len(loc) == 1:
            allowed = ", ".join(repr(v) for v in definition.enum or ())
            message = f"must be one of {allowed}"
        elif definition is not None and definition.type == "key_value" and len(loc) <= 2:  # noqa: PLR2004
            message = 'must be an object or a list of {"key": ..., "value": ...} pairs'
        else:
            message = problem["msg"][0].lower() + problem["msg"][1:]
        seen.add(field)
        details.append({"field": field, "message": message})
    return details


def _is_union_tag(part: str) -> bool:
    return part in _UNION_TAGS or "[" in part or part in {"int", "float", "str", "bool"}
