"""Read an OpenAPI 2 (swagger) or 3 document into operations with resolved, simplified schemas.

Everything the importer cannot express in a pack is *noted* on the operation (``Operation.notes``)
rather than dropped in silence: the command prints those notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["METHODS", "Operation", "Parameter", "Spec", "read_spec"]

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Keys of a schema that the pack's element schemas keep (see input.schema.json#/$defs/item_schema).
_KEPT = ("minimum", "maximum", "minLength", "maxLength")
_SCALARS = frozenset({"string", "integer", "number", "boolean"})
_MAX_DEPTH = 6


@dataclass(slots=True)
class Parameter:
    """One parameter of an operation: where it goes, whether it is needed, and its schema."""

    name: str
    location: str  # path, query, header, body
    required: bool
    schema: dict[str, Any]
    description: str = ""


@dataclass(slots=True)
class Operation:
    """One operation of the document, with its parameters and success response resolved."""

    id: str
    method: str
    path: str
    tag: str
    summary: str
    description: str
    parameters: list[Parameter]
    response: dict[str, Any] | None  # the schema of the first success response with a body
    binary_response: bool
    success_status: str = "200"
    examples: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deprecated: bool = False
    notes: list[str] = field(default_factory=list)
    # The operation's vendor extensions (x-ms-pageable, x-ms-long-running-operation, …).
    extensions: dict[str, Any] = field(default_factory=dict)
    # Every success status the document lists (a 202 among them marks a started operation).
    statuses: tuple[str, ...] = ()


@dataclass(slots=True)
class Spec:
    """A read document: its version, the base path its paths are relative to, its operations."""

    version: int
    title: str
    base_path: str
    operations: list[Operation]
    raw: dict[str, Any]


def read_spec(path: Path) -> Spec:
    """Read and normalise an OpenAPI document (JSON or YAML)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        raw = json.loads(text)
    else:
        import yaml  # noqa: PLC0415 - only YAML documents need it

        raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not ("swagger" in raw or "openapi" in raw):
        raise ValueError(f"{path}: not an OpenAPI document (no 'swagger' or 'openapi' key)")
    version = 2 if str(raw.get("swagger", "")).startswith("2") else 3
    reader = _Reader(raw, version)
    return Spec(
        version=version,
        title=str((raw.get("info") or {}).get("title") or path.stem),
        base_path=reader.base_path(),
        operations=reader.operations(),
        raw=raw,
    )


class _Reader:
    def __init__(self, raw: dict[str, Any], version: int) -> None:
        self.raw = raw
        self.version = version

    def base_path(self) -> str:
        if self.version == 2:  # noqa: PLR2004 - OpenAPI's major version
            return str(self.raw.get("basePath") or "").rstrip("/")
        servers = self.raw.get("servers") or []
        url = str(servers[0].get("url", "")) if servers and isinstance(servers[0], dict) else ""
        if "://" in url:
            url = "/" + url.split("://", 1)[1].partition("/")[2]
        return url.rstrip("/") if url.startswith("/") else ""

    def ref(self, pointer: str) -> Any:
        if not pointer.startswith("#/"):
            raise LookupError(f"external reference {pointer!r}")
        node: Any = self.raw
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def deref(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:  # noqa: PLR2004
            node = self.ref(node["$ref"])
            seen += 1
        return node

    def operations(self) -> list[Operation]:
        found: list[Operation] = []
        for path, item in (self.raw.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            shared = item.get("parameters") or []
            for method in METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    found.append(self.operation(path, method, op, shared))
        return found

    def operation(self, path: str, method: str, op: dict[str, Any], shared: list[Any]) -> Operation:
        notes: list[str] = []
        op_id = str(op.get("operationId") or f"{method}_{path}")
        tags = op.get("tags") or ["Other"]
        params: dict[tuple[str, str], Parameter] = {}
        for raw_param in [*shared, *(op.get("parameters") or [])]:
            param = self.parameter(raw_param, notes)
            if param is not None:
                params[param.name, param.location] = param
        body = self.request_body(op, notes)
        if body is not None:
            params[body.name, "body"] = body
        response, binary = self.success_response(op, notes)
        success = next(
            (str(c) for c in sorted(op.get("responses") or {}) if str(c).startswith("2")), "200"
        )
        return Operation(
            id=op_id,
            method=method.upper(),
            path=path,
            tag=str(tags[0]),
            summary=str(op.get("summary") or ""),
            description=str(op.get("description") or ""),
            parameters=list(params.values()),
            response=response,
            binary_response=binary,
            success_status=success,
            examples=self.examples(op),
            deprecated=bool(op.get("deprecated")),
            notes=notes,
            extensions={k: v for k, v in op.items() if str(k).startswith("x-")},
            statuses=tuple(
                str(c) for c in sorted(op.get("responses") or {}) if str(c).startswith("2")
            ),
        )

    def parameter(self, raw_param: Any, notes: list[str]) -> Parameter | None:
        try:
            param = self.deref(raw_param)
        except (LookupError, KeyError, TypeError) as exc:
            notes.append(f"a parameter could not be resolved ({exc}); left out")
            return None
        location = str(param.get("in", ""))
        name = str(param.get("name", ""))
        if location == "formData":
            notes.append(f"form field '{name}' (multipart/form-data) is not supported; left out")
            return None
        if location == "cookie":
            notes.append(f"cookie parameter '{name}' is not supported; left out")
            return None
        if location == "body" and self.version == 2:  # noqa: PLR2004
            schema = self.schema(param.get("schema") or {}, notes, f"body '{name}'")
        elif "schema" in param:
            schema = self.schema(param["schema"], notes, f"parameter '{name}'")
        else:  # swagger 2 puts type, format, enum ... on the parameter itself
            schema = self.schema(
                {k: v for k, v in param.items() if k not in {"name", "in", "required"}},
                notes,
                f"parameter '{name}'",
            )
        description = str(param.get("description") or schema.get("description") or "")
        return Parameter(name, location, bool(param.get("required")), schema, description)

    def request_body(self, op: dict[str, Any], notes: list[str]) -> Parameter | None:
        if self.version == 2 or "requestBody" not in op:  # noqa: PLR2004
            return None
        body = self.deref(op["requestBody"])
        content = body.get("content") or {}
        json_type = next((t for t in content if "json" in t), None)
        notes += [
            f"request body as {other} is not supported; only JSON is sent"
            for other in content
            if other != json_type
        ]
        if json_type is None:
            return None
        schema = self.schema(content[json_type].get("schema") or {}, notes, "request body")
        return Parameter(
            "body", "body", bool(body.get("required")), schema, str(body.get("description") or "")
        )

    def success_response(
        self, op: dict[str, Any], notes: list[str]
    ) -> tuple[dict[str, Any] | None, bool]:
        for code, response in sorted((op.get("responses") or {}).items()):
            if not str(code).startswith("2"):
                continue
            answer = self.deref(response)
            if self.version == 2:  # noqa: PLR2004
                raw_schema = answer.get("schema")
                if isinstance(raw_schema, dict) and raw_schema.get("type") == "file":
                    return None, True
            else:
                content = answer.get("content") or {}
                json_type = next((t for t in content if "json" in t), None)
                if json_type is None:
                    if content:
                        return None, True
                    continue
                raw_schema = content[json_type].get("schema")
            if isinstance(raw_schema, dict):
                return self.schema(raw_schema, notes, f"response {code}", reading=True), False
        return None, False

    def examples(self, op: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        found = op.get("x-ms-examples") or {}
        return [(str(k), v) for k, v in found.items() if isinstance(v, dict)]

    def schema(  # noqa: C901, PLR0912 - one branch per JSON Schema keyword kept
        self,
        node: Any,
        notes: list[str],
        where: str,
        *,
        reading: bool = False,
        depth: int = 0,
        seen: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The node as the pack's element-schema subset; what does not fit is noted."""
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen or depth > _MAX_DEPTH:
                return {"type": "object"} if ref in seen else {}
            try:
                target = self.ref(ref)
            except (LookupError, KeyError, TypeError):
                notes.append(f"{where}: reference {ref} could not be resolved")
                return {}
            return self.schema(
                target, notes, where, reading=reading, depth=depth + 1, seen=seen | {ref}
            )
        node = self.merged(node, notes, where)
        notes += [
            f"{where}: '{construct}' is not supported; any value is accepted"
            for construct in ("oneOf", "anyOf", "not")
            if construct in node
        ]
        out: dict[str, Any] = {}
        kind = node.get("type")
        if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
            kind = next((k for k in kind if k != "null"), None)
        if kind is None and "properties" in node:
            kind = "object"
        if isinstance(kind, str) and kind in {*_SCALARS, "object", "array"}:
            out["type"] = kind
        description = " ".join(str(node.get("description") or "").split())
        if description:
            out["description"] = description
        if isinstance(node.get("enum"), list) and node["enum"]:
            out["enum"] = [v for v in node["enum"] if v is not None] or node["enum"]
        for key in _KEPT:
            if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
                out[key] = node[key]
        if isinstance(node.get("format"), str):
            out["x-format"] = node["format"]
        if node.get("readOnly"):
            out["x-read-only"] = True
        if kind == "array":
            out["items"] = self.schema(
                node.get("items") or {}, notes, where, reading=reading, depth=depth + 1, seen=seen
            )
        properties = node.get("properties")
        if isinstance(properties, dict) and properties:
            out["properties"] = {
                str(name): self.schema(
                    value, notes, where, reading=reading, depth=depth + 1, seen=seen
                )
                for name, value in properties.items()
            }
            required = [r for r in node.get("required") or [] if r in properties]
            if required:
                out["required"] = required
        if node.get("additionalProperties") is False:
            out["additionalProperties"] = False
        return out

    def merged(self, node: dict[str, Any], notes: list[str], where: str) -> dict[str, Any]:
        """``allOf`` folded into one object schema (properties and required lists joined)."""
        parts = node.get("allOf")
        if not isinstance(parts, list):
            return node
        out: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        properties: dict[str, Any] = dict(out.get("properties") or {})
        required: list[str] = list(out.get("required") or [])
        for part in parts:
            try:
                resolved = self.merged(self.deref(part), notes, where)
            except (LookupError, KeyError, TypeError):
                notes.append(f"{where}: a part of allOf could not be resolved")
                continue
            properties.update(resolved.get("properties") or {})
            required += [r for r in resolved.get("required") or [] if r not in required]
            for key, value in resolved.items():
                if key not in {"properties", "required", "description"}:
                    out.setdefault(key, value)
            if "description" in resolved:
                out.setdefault("description", resolved["description"])
        if properties:
            out["properties"] = properties
            out.setdefault("type", "object")
        if required:
            out["required"] = required
        return out
