"""Every operation of the swagger, matched by URL, and bodies generated from its definitions.

Operations the emulator keeps state for have their own handlers; every other one answers with
a body built from the documented schema of its success response: every declared property,
enum values from their lists, ids taken from the path where the names agree, and nothing the
schema does not declare.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import uuid
from typing import Any, cast

from powerbi_emulator._swagger import load_swagger

__all__ = ["Operation", "OperationTable", "SchemaExample", "operation_table"]

_PARAM = re.compile(r"\{(\w+)\}")
_MAX_DEPTH = 4  # arrays this deep are empty (the schemas nest, some of them in cycles)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclasses.dataclass(frozen=True)
class Operation:
    """One documented operation: where it is, what it takes, what it answers."""

    id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_chars: int
    status: int
    schema: dict[str, Any] | None
    query: frozenset[str]
    body_schema: dict[str, Any] | None

    @property
    def in_group(self) -> bool:
        """Whether the operation addresses a workspace (`/groups/{groupId}/...`)."""
        return "{groupId}" in self.template and not self.template.startswith("/v1.0/myorg/admin")


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    parts: list[str] = []
    literal = 0
    position = 0
    for found in _PARAM.finditer(template):
        text = template[position : found.start()]
        parts.append(re.escape(text))
        literal += len(text)
        parts.append(f"(?P<{found.group(1)}>[^/]+?)")
        position = found.end()
    parts.append(re.escape(template[position:]))
    literal += len(template) - position
    return re.compile("".join(parts) + "$", re.IGNORECASE), literal


class OperationTable:
    """The swagger's operations, found by method and (normalised) path."""

    def __init__(self, swagger: dict[str, Any]) -> None:
        self.swagger = swagger
        self.operations: list[Operation] = []
        for template, item in swagger["paths"].items():
            shared = item.get("parameters", [])
            for method, spec in item.items():
                if method == "parameters" or not isinstance(spec, dict):
                    continue
                self.operations.append(self._operation(template, method, spec, shared))
        self.by_id = {op.id: op for op in self.operations}
        # Templates with more literal text win (`/datasets/upstreamDatasets` over `{id}`).
        self.operations.sort(key=lambda op: -op.literal_chars)

    def _operation(
        self, template: str, method: str, spec: dict[str, Any], shared: list[Any]
    ) -> Operation:
        successes = sorted(code for code in spec["responses"] if code.startswith("2"))
        status = successes[0]
        params = [self.resolve(p) for p in [*shared, *spec.get("parameters", [])]]
        body = next((p.get("schema") for p in params if p.get("in") == "body"), None)
        pattern, literal = _compile(template)
        return Operation(
            id=spec["operationId"],
            method=method.upper(),
            template=template,
            pattern=pattern,
            literal_chars=literal,
            status=int(status),
            schema=spec["responses"][status].get("schema"),
            query=frozenset(p["name"] for p in params if p.get("in") == "query"),
            body_schema=body,
        )

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """A schema or parameter with its `$ref` followed (within this document)."""
        while "$ref" in node:
            ref = node["$ref"]
            target: Any = self.swagger
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            node = cast("dict[str, Any]", target)
        return node

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """The operation for a request, its path parameters, and whether the path exists.

        The path is normalised first: empty segments (`//`, a trailing `/`) are dropped, and
        literal segments compare without regard to case.
        """
        normal = "/" + "/".join(s for s in path.split("/") if s)
        path_exists = False
        for operation in self.operations:
            found = operation.pattern.match(normal)
            if found is None:
                continue
            path_exists = True
            if operation.method == method:
                return operation, found.groupdict(), True
        return None, {}, path_exists


@functools.cache
def operation_table() -> OperationTable:
    """The table of the shipped swagger (built once per process)."""
    return OperationTable(load_swagger())


class SchemaExample:
    """Builds a value valid against a swagger schema, deterministic for given inputs."""

    def __init__(self, table: OperationTable, now: str, params: dict[str, str]) -> None:
        self._table = table
        self._now = now
        self._params = {k.lower(): v for k, v in params.items()}

    def build(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        """A value for `schema`; `name` is the property it fills (to pick ids and names)."""
        schema = self._table.resolve(schema)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.build(part, name, depth)
                if isinstance(value, dict):
                    merged.update(value)
            own = {k: v for k, v in schema.items() if k not in {"allOf", "required"}}
            if own.get("properties"):
                merged.update(self._object(own, depth))
            return self._fill_required(merged, schema.get("required", []))
        kind = schema.get("type")
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, depth)
        if kind == "array":
            items = schema.get("items", {})
            return [] if depth >= _MAX_DEPTH else [self.build(items, name, depth + 1)]
        return self._scalar(schema, kind, name)

    def _scalar(self, schema: dict[str, Any], kind: object, name: str) -> Any:
        if "enum" in schema:
            return schema["enum"][0]
        if kind == "string":
            return self._string(schema, name)
        simple: dict[object, Any] = {
            "integer": max(int(schema.get("minimum", 1)), 1),
            "number": 1.0,
            "boolean": False,
        }
        return simple.get(kind, {})

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = cast("dict[str, Any]", schema.get("properties", {}))
        out = {key: self.build(sub, key, depth + 1) for key, sub in properties.items()}
        return out if "allOf" in schema else self._fill_required(out, schema.get("required", []))

    def _fill_required(self, out: dict[str, Any], required: list[str]) -> dict[str, Any]:
        """Add required names the properties do not declare (slips of the swagger).

        A name declared in another case takes that property's value; else a time when it is
        named like one, or the name itself.
        """
        by_fold = {key.casefold(): key for key in out}
        for key in required:
            if key in out:
                continue
            twin = by_fold.get(key.casefold())
            if twin is not None:
                out[key] = out[twin]
            else:
                out[key] = self._now if key.lower().endswith("time") else key
        return out

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        lowered = name.lower()
        if fmt == "date-time":
            return self._now
        if fmt == "uuid" or lowered == "id" or lowered.endswith("id"):
            given = self._params.get(lowered, "")
            if given and (fmt != "uuid" or _UUID.fullmatch(given)):
                return given
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"powerbi-emulator/{name}"))
        if fmt == "int32":
            return "1"
        return _text_for(lowered, name)


def _text_for(lowered: str, name: str) -> str:
    """A plausible string for a property by its name."""
    if lowered in {"name", "displayname"}:
        return "Emulated item"
    if "url" in lowered:
        return "https://app.powerbi.com/emulated"
    if "email" in lowered or lowered == "identifier":
        return "emulator.user@contoso.com"
    return name or "value"
