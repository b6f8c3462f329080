"""Read an OpenAPI 2 (swagger) or 3 document into operations with resolved, simplified schemas.

`$ref`s may point into other files (resolved relative to the referring document), and so may
`x-ms-examples`. A path key's query (`/items/bulkExport?beta=true`) is a flag the operation's
request always carries. Everything the importer cannot express in a pack is *noted* on the
operation (``Operation.notes``) rather than dropped in silence: the command prints those notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from connectorkit.authoring.openapi._documents import Documents

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["METHODS", "Operation", "Parameter", "Spec", "read_document", "read_spec"]

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Keys of a schema that the pack's element schemas keep (see input.schema.json#/$defs/item_schema).
_KEPT = ("minimum", "maximum", "minLength", "maxLength")
_SCALARS = frozenset({"string", "integer", "number", "boolean"})
_MAX_DEPTH = 6
# Extensions of a schema node that say how a designer shows it or where its values come from.
_DESIGNER_KEYS = (
    "x-ms-summary",
    "x-ms-visibility",
    "x-ms-dynamic-values",
    "x-ms-dynamic-list",
    "x-ms-dynamic-schema",
    "x-ms-dynamic-properties",
)


@dataclass(slots=True)
class Parameter:
    """One parameter of an operation: where it goes, whether it is needed, and its schema."""

    name: str
    location: str  # path, query, header, body
    required: bool
    schema: dict[str, Any]
    description: str = ""
    # The parameter's vendor extensions (x-ms-summary, x-ms-visibility, x-ms-dynamic-values, …).
    extensions: dict[str, Any] = field(default_factory=dict)


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
    flags: dict[str, str] = field(default_factory=dict)  # query the path key fixes (beta=true)
    document: str = ""  # the document's path, as the import named it
    pageable: dict[str, Any] | None = None  # x-ms-pageable
    extensions: dict[str, Any] = field(default_factory=dict)  # the operation's x- keys
    accepted_location: bool = False  # a 202 answer says (or describes) where to poll
    statuses: tuple[str, ...] = ()  # the documented success statuses
    ref: str = ""  # how the pack names it: the operationId, or `document#operationId`
    group: str | None = None  # the group label its action gets (None: from the tag)
    key_suffix: str = ""  # words its action's key ends with (`as_admin`)


@dataclass(slots=True)
class Spec:
    """A read document: its version, the base path its paths are relative to, its operations.

    ``triggers``: the operations that start a flow when something happens (``x-ms-trigger``;
    each is an action too); ``notes``: what reading the document had to forgive or leave out.
    """

    version: int
    title: str
    base_path: str
    operations: list[Operation]
    raw: dict[str, Any]
    triggers: list[Operation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_document(path: Path) -> tuple[Any, list[str]]:
    """A JSON or YAML document on its own, and what had to be forgiven to read it."""
    documents = Documents()
    return documents.load(path), documents.notes


def read_spec(path: Path, documents: Documents | None = None) -> Spec:
    """Read and normalise an OpenAPI document (JSON or YAML) and the files it refers to.

    JSON is read as the tools that edit such documents read it: a byte-order mark, comments, a
    comma too many or missing, text that is not UTF-8 (see :mod:`._lenient`); what had to be
    forgiven is among the spec's notes.
    """
    documents = documents or Documents()
    already = len(documents.notes)
    raw = documents.load(path)
    notes = documents.notes[already:]
    if not isinstance(raw, dict) or not ("swagger" in raw or "openapi" in raw):
        raise ValueError(f"{path}: not an OpenAPI document (no 'swagger' or 'openapi' key)")
    version = 2 if str(raw.get("swagger", "")).startswith("2") else 3
    reader = _Reader(raw, version, path.resolve(), documents, str(path))
    found = reader.operations()
    return Spec(
        version=version,
        title=str((raw.get("info") or {}).get("title") or path.stem),
        base_path=reader.base_path(),
        operations=found,
        raw=raw,
        triggers=[op for op in found if op.extensions.get("x-ms-trigger")],
        notes=[*notes, *reader.notes],
    )


class _Reader:
    def __init__(
        self, raw: dict[str, Any], version: int, path: Path, documents: Documents, name: str
    ) -> None:
        self.raw = raw
        self.version = version
        self.path = path
        self.documents = documents
        self.name = name
        self.notes: list[str] = []  # operations the document does not let us read

    def base_path(self) -> str:
        if self.version == 2:  # noqa: PLR2004 - OpenAPI's major version
            return str(self.raw.get("basePath") or "").rstrip("/")
        servers = self.raw.get("servers") or []
        url = str(servers[0].get("url", "")) if servers and isinstance(servers[0], dict) else ""
        if "://" in url:
            url = "/" + url.split("://", 1)[1].partition("/")[2]
        return url.rstrip("/") if url.startswith("/") else ""

    def deref(self, node: Any, where: Path | None = None) -> tuple[Any, Path]:
        """The node with its `$ref`s followed (from `where`, this document by default)."""
        return self.documents.resolve(node, where or self.path)

    def operations(self) -> list[Operation]:
        found: list[Operation] = []
        for key, item in (self.raw.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            path, _, query = str(key).partition("?")
            flags = dict(parse_qsl(query, keep_blank_values=True))
            shared = item.get("parameters") or []
            for method in METHODS:
                op = item.get(method)
                if not isinstance(op, dict):
                    continue
                try:
                    found.append(self.operation(path, method, op, shared, flags))
                except (LookupError, TypeError, AttributeError) as exc:
                    self.notes.append(
                        f"{method.upper()} {path}: could not be read ({type(exc).__name__}: "
                        f"{exc}); left out"
                    )
        return found

    def operation(
        self,
        path: str,
        method: str,
        op: dict[str, Any],
        shared: list[Any],
        flags: dict[str, str],
    ) -> Operation:
        notes: list[str] = []
        op_id = str(op.get("operationId") or f"{method}_{path}")
        tags = op.get("tags") or ["Other"]
        params: dict[tuple[str, str], Parameter] = {}
        for raw_param in [*shared, *(op.get("parameters") or [])]:
            param = self.parameter(raw_param, notes)
            if param is not None and not (param.location == "query" and param.name in flags):
                params[param.name, param.location] = param
        body = self.request_body(op, notes)
        if body is not None:
            params[body.name, "body"] = body
        response, binary = self.success_response(op, notes)
        responses = op.get("responses") or {}
        statuses = tuple(sorted(str(c) for c in responses if str(c).startswith("2")))
        accepted = self.deref(responses["202"])[0] if "202" in responses else {}
        return Operation(
            id=op_id,
            method=method.upper(),
            path=self.base_path() + path,
            tag=str(tags[0]),
            summary=str(op.get("summary") or ""),
            description=str(op.get("description") or ""),
            parameters=list(params.values()),
            response=response,
            binary_response=binary,
            success_status=next(
                (c for c in statuses if c != "202"), statuses[0] if statuses else "200"
            ),
            examples=self.examples(op),
            deprecated=bool(op.get("deprecated")),
            notes=notes,
            flags=flags,
            document=self.name,
            pageable=op.get("x-ms-pageable") if isinstance(op.get("x-ms-pageable"), dict) else None,
            extensions={k: v for k, v in op.items() if str(k).startswith("x-")},
            accepted_location=_locates(accepted),
            statuses=statuses,
            ref=op_id,
        )

    def parameter(self, raw_param: Any, notes: list[str]) -> Parameter | None:
        try:
            param, where = self.deref(raw_param)
        except (LookupError, TypeError) as exc:
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
            schema = self.schema(param.get("schema") or {}, notes, f"body '{name}'", doc=where)
        elif "schema" in param:
            schema = self.schema(param["schema"], notes, f"parameter '{name}'", doc=where)
        else:  # swagger 2 puts type, format, enum ... on the parameter itself
            schema = self.schema(
                {k: v for k, v in param.items() if k not in {"name", "in", "required"}},
                notes,
                f"parameter '{name}'",
                doc=where,
            )
        description = str(param.get("description") or schema.get("description") or "")
        extensions = {k: v for k, v in param.items() if str(k).startswith("x-")}
        if location == "body" and isinstance(param.get("schema"), dict):
            # A body's own extensions (x-ms-dynamic-schema) sit on its schema.
            body_schema, _ = self.deref(param["schema"])
            if isinstance(body_schema, dict):
                extensions.update((k, v) for k, v in body_schema.items() if str(k).startswith("x-"))
        return Parameter(
            name, location, bool(param.get("required")), schema, description, extensions
        )

    def request_body(self, op: dict[str, Any], notes: list[str]) -> Parameter | None:
        if self.version == 2 or "requestBody" not in op:  # noqa: PLR2004
            return None
        body, where = self.deref(op["requestBody"])
        content = body.get("content") or {}
        json_type = next((t for t in content if "json" in t), None)
        notes += [
            f"request body as {other} is not supported; only JSON is sent"
            for other in content
            if other != json_type
        ]
        if json_type is None:
            return None
        schema = self.schema(
            content[json_type].get("schema") or {}, notes, "request body", doc=where
        )
        return Parameter(
            "body", "body", bool(body.get("required")), schema, str(body.get("description") or "")
        )

    def success_response(
        self, op: dict[str, Any], notes: list[str]
    ) -> tuple[dict[str, Any] | None, bool]:
        for code, response in sorted((op.get("responses") or {}).items()):
            if not str(code).startswith("2"):
                continue
            answer, where = self.deref(response)
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
                schema = self.schema(raw_schema, notes, f"response {code}", doc=where, reading=True)
                return schema, False
        return None, False

    def examples(self, op: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The operation's `x-ms-examples`, each read from its own file when it refers to one."""
        found: list[tuple[str, dict[str, Any]]] = []
        for title, value in (op.get("x-ms-examples") or {}).items():
            try:
                example, _ = self.deref(value)
            except LookupError:
                continue  # an example that cannot be read is not one to learn from
            if isinstance(example, dict):
                found.append((str(title), example))
        return found

    def schema(  # noqa: C901, PLR0912 - one branch per JSON Schema keyword kept
        self,
        node: Any,
        notes: list[str],
        where: str,
        *,
        doc: Path,
        reading: bool = False,
        depth: int = 0,
        seen: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The node as the pack's element-schema subset; what does not fit is noted."""
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                target, there = self.documents.target(ref, doc)
            except LookupError:
                notes.append(f"{where}: reference {ref} could not be resolved")
                return {}
            name = f"{there}#{ref.partition('#')[2]}"
            if name in seen or depth > _MAX_DEPTH:
                return {"type": "object"} if name in seen else {}
            return self.schema(
                target,
                notes,
                where,
                doc=there,
                reading=reading,
                depth=depth + 1,
                seen=seen | {name},
            )
        node = self.merged(node, notes, where, doc)
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
        # What a designer sees of a field (Power Platform's extensions), kept for the generator.
        out.update((k, node[k]) for k in _DESIGNER_KEYS if k in node)
        if kind == "array":
            out["items"] = self.schema(
                node.get("items") or {},
                notes,
                where,
                doc=doc,
                reading=reading,
                depth=depth + 1,
                seen=seen,
            )
        properties = node.get("properties")
        if isinstance(properties, dict) and properties:
            out["properties"] = {
                str(name): self.schema(
                    value, notes, where, doc=doc, reading=reading, depth=depth + 1, seen=seen
                )
                for name, value in properties.items()
            }
            required = [r for r in node.get("required") or [] if r in properties]
            if required:
                out["required"] = required
        if node.get("additionalProperties") is False:
            out["additionalProperties"] = False
        return out

    def merged(
        self, node: dict[str, Any], notes: list[str], where: str, doc: Path
    ) -> dict[str, Any]:
        """``allOf`` folded into one object schema (properties and required lists joined).

        A part from another document brings its properties as they are written there; their
        own references are resolved from that document when they are read.
        """
        parts = node.get("allOf")
        if not isinstance(parts, list):
            return node
        out: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        properties: dict[str, Any] = dict(out.get("properties") or {})
        required: list[str] = list(out.get("required") or [])
        for part in parts:
            try:
                target, there = self.deref(part, doc)
                resolved = self.merged(target, notes, where, there)
            except (LookupError, TypeError):
                notes.append(f"{where}: a part of allOf could not be resolved")
                continue
            if there != doc:  # its references are relative to its own file
                resolved = _rebased(resolved, there, doc)
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


def _rebased(node: Any, there: Path, here: Path) -> Any:
    """`node` (read in `there`) with its relative `$ref`s rewritten to be read from `here`."""
    if isinstance(node, list):
        return [_rebased(item, there, here) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rebased(v, there, here) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str):
        file, hashed, pointer = ref.partition("#")
        target = (there.parent / file) if file else there
        out["$ref"] = _relative_to(target, here.parent) + hashed + pointer
    return out


def _relative_to(target: Path, folder: Path) -> str:
    import os  # noqa: PLC0415 - only documents that span files need it

    return os.path.relpath(target, folder).replace(os.sep, "/")


def _locates(accepted: Any) -> bool:
    """Whether a 202 answer declares a `Location` header, or its description names one."""
    if not isinstance(accepted, dict):
        return False
    headers = {str(h).lower() for h in accepted.get("headers") or ()}
    return "location" in headers or "**Location**" in str(accepted.get("description") or "")
