"""Checks of a request against its operation: path, query and header parameters, and the body.

Each problem names the field it is about (`maxResults`, `definition.parts[0].path`). Read-only
properties are never required of a request; properties the schema does not declare are
accepted unless it says `additionalProperties: false`, as services do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import TYPE_CHECKING, Any, cast

from emulator_core._values import python_pattern

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from emulator_core._documents import DocumentSet, Located
    from emulator_core._operations import Operation, Parameter
    from emulator_core._values import Subtypes

__all__ = ["MISSING", "Problem", "RequestValidator"]

Json = dict[str, Any]
MAX_PROBLEMS = 20
_UUID = re.compile(
    r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?"
)
_SHOWN = 60  # characters of a rejected value quoted in a message


def _is_integer(value: object) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


# What each JSON Schema type accepts, and how a message names it.
_KINDS: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}
_KIND_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


class _Missing:
    """No body was sent."""


MISSING = _Missing()


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where, and what."""

    target: str
    message: str


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _is_datetime(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


class RequestValidator:
    """Checks requests against the schemas of a document set."""

    def __init__(self, documents: DocumentSet, subtypes: Subtypes) -> None:
        self._documents = documents
        self._subtypes = subtypes

    def check(
        self,
        operation: Operation,
        params: Mapping[str, str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: object = MISSING,
    ) -> list[Problem]:
        """Every problem of the request (at most twenty), in the order of the parameters."""
        problems: list[Problem] = []
        lowered_headers = {k.lower(): v for k, v in headers.items()}
        given: dict[str, Mapping[str, str]] = {
            "path": params,
            "query": query,
            "header": lowered_headers,
        }
        for parameter in operation.parameters:
            if parameter.location in given:
                name = parameter.name.lower() if parameter.location == "header" else parameter.name
                value = given[parameter.location].get(name)
                problems += self._parameter(parameter, value)
        declared = operation.body
        if declared is not None:
            if isinstance(body, _Missing):
                if declared.required:
                    problems.append(Problem(declared.name, "The request body is required."))
            else:
                schema = cast("Json", declared.spec.get("schema", {}))
                problems += self._value(body, (schema, declared.document), "")
        return problems[:MAX_PROBLEMS]

    def _parameter(self, parameter: Parameter, value: str | None) -> list[Problem]:
        name = parameter.name
        if value is None:
            if parameter.required:
                return [Problem(name, f"The {parameter.location} parameter '{name}' is required.")]
            return []
        spec = parameter.spec
        kind = spec.get("type")
        if kind == "array":
            items = cast("Json", spec.get("items", {}))
            parts = [p for p in value.split(",") if p] if value else []
            return [p for part in parts for p in self._text(part, items, name)]
        return self._text(value, spec, name)

    def _text(self, value: str, spec: Json, name: str) -> list[Problem]:
        """Checks of a parameter given as text (path, query, header)."""
        kind = spec.get("type")
        if kind == "integer":
            try:
                number = int(value)
            except ValueError:
                return [Problem(name, f"'{name}' must be an integer; got {_shown(value)}.")]
            return self._bounds(number, spec, name)
        if kind == "boolean":
            if value.lower() not in {"true", "false"}:
                return [Problem(name, f"'{name}' must be true or false; got {_shown(value)}.")]
            return []
        return self._string(value, spec, name)

    def _value(self, value: object, located: Located, path: str) -> list[Problem]:
        """Checks of a JSON value against a schema; `path` names it (`''` is the body)."""
        schema, document = self._documents.resolve(*located)
        if value is None:
            return []  # services take null for an absent optional value
        discriminator = schema.get("discriminator")
        if isinstance(discriminator, str) and isinstance(value, dict):
            subtype = self._subtypes.pick(schema, value.get(discriminator))
            if subtype is not None:
                return self._object(value, subtype, path)
        kind = str(schema.get("type", ""))
        if not kind and ("properties" in schema or "allOf" in schema):
            kind = "object"
        test = _KINDS.get(kind)
        if test is not None and not test(value):
            where = path or "body"
            return [Problem(where, f"'{where}' must be {_KIND_NAMES[kind]}; got {_shown(value)}.")]
        return self._typed(value, (schema, document), kind, path)

    def _typed(self, value: Any, located: Located, kind: str, path: str) -> list[Problem]:
        """Checks of a value of the right JSON type: its content, or its range."""
        schema, _ = located
        if kind == "object":
            return self._object(value, located, path)
        if kind == "array":
            return self._array(value, located, path)
        if kind == "string":
            return self._string(value, schema, path or "body")
        if kind in {"integer", "number"}:
            return self._bounds(value, schema, path or "body")
        return self._enum(value, schema, path or "body")

    def _array(self, value: list[Any], located: Located, path: str) -> list[Problem]:
        schema, document = located
        problems = self._items_count(value, schema, path)
        items = (cast("Json", schema.get("items", {})), document)
        for index, item in enumerate(value):
            problems += self._value(item, items, f"{path}[{index}]")
            if len(problems) >= MAX_PROBLEMS:
                break
        return problems

    def _object(self, value: Json, located: Located, path: str) -> list[Problem]:
        declared, required = self._flatten(located)
        open_ended = located[0].get("additionalProperties", True) is not False
        problems: list[Problem] = []
        prefix = f"{path}." if path else ""
        for key in sorted(required - set(value)):
            if key in declared and self._read_only(declared[key]):
                continue
            problems.append(Problem(prefix + key, f"'{prefix}{key}' is required."))
        for key, item in value.items():
            if key in declared:
                problems += self._value(item, declared[key], prefix + key)
            elif not open_ended:
                problems.append(Problem(prefix + key, f"'{prefix}{key}' is not a known property."))
        return problems

    def _flatten(self, located: Located) -> tuple[dict[str, Located], set[str]]:
        """The properties an object schema declares, its `allOf` parts included, and required."""
        schema, document = self._documents.resolve(*located)
        declared: dict[str, Located] = {}
        required = set(schema.get("required", []))
        for part in schema.get("allOf", []):
            more, needed = self._flatten((part, document))
            declared |= more
            required |= needed
        for key, sub in cast("Json", schema.get("properties", {})).items():
            declared[key] = (sub, document)
        return declared, required

    def _read_only(self, located: Located) -> bool:
        node, _ = located
        if node.get("readOnly") is True:
            return True
        resolved, _ = self._documents.resolve(*located)
        return resolved.get("readOnly") is True

    def _string(self, value: str, schema: Json, where: str) -> list[Problem]:
        fmt = schema.get("format")
        if fmt == "uuid" and not _UUID.fullmatch(value):
            return [Problem(where, f"'{where}' must be a GUID; got {_shown(value)}.")]
        if fmt in {"date-time", "date"} and not _is_datetime(value):
            return [
                Problem(where, f"'{where}' must be an ISO 8601 date and time; got {_shown(value)}.")
            ]
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not python_pattern(pattern).search(value):
            return [Problem(where, f"'{where}' does not match {pattern}; got {_shown(value)}.")]
        longest, shortest = schema.get("maxLength"), schema.get("minLength")
        if isinstance(longest, int) and len(value) > longest:
            return [Problem(where, f"'{where}' is longer than {longest} characters.")]
        if isinstance(shortest, int) and len(value) < shortest:
            return [Problem(where, f"'{where}' is shorter than {shortest} characters.")]
        return self._enum(value, schema, where)

    @staticmethod
    def _enum(value: object, schema: Json, where: str) -> list[Problem]:
        allowed = schema.get("enum")
        if isinstance(allowed, list) and value not in allowed:
            choices = ", ".join(str(a) for a in allowed)
            return [Problem(where, f"'{where}' must be one of {choices}; got {_shown(value)}.")]
        return []

    @staticmethod
    def _bounds(value: float, schema: Json, where: str) -> list[Problem]:
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float) and value < low:
            return [Problem(where, f"'{where}' must be at least {low}; got {value}.")]
        if isinstance(high, int | float) and value > high:
            return [Problem(where, f"'{where}' must be at most {high}; got {value}.")]
        return RequestValidator._enum(value, schema, where)

    @staticmethod
    def _items_count(value: list[Any], schema: Json, path: str) -> list[Problem]:
        where = path or "body"
        low, high = schema.get("minItems"), schema.get("maxItems")
        if isinstance(low, int) and len(value) < low:
            return [Problem(where, f"'{where}' must have at least {low} item(s).")]
        if isinstance(high, int) and len(value) > high:
            return [Problem(where, f"'{where}' must have at most {high} item(s).")]
        return []
