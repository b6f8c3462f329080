"""Every operation of a set of swagger documents, found by method, path and query flags.

A path key may carry query flags (`/items/bulkExportDefinitions?beta=true`): the operation is
the one a request reaches with those flags set. The same method and path declared by two
documents is one operation (the first document, by path, describes it).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from emulator_core._documents import DocumentSet, Located

__all__ = ["Match", "Operation", "OperationTable", "Paging", "Parameter", "Response"]

_PARAM = re.compile(r"\{(\w+)\}")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
Accepted = Literal["operation", "job", "plain", "none"]


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One declared parameter; for a body, `spec` holds its schema under `schema`."""

    name: str
    location: str
    required: bool
    spec: dict[str, Any]
    document: str


@dataclasses.dataclass(frozen=True)
class Response:
    """One declared response: its schema (where it lives) and its header names."""

    status: int
    schema: Located | None
    headers: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Paging:
    """`x-ms-pageable`: where the next page's link is, and which property holds the items."""

    next_link: str | None
    item_name: str


@dataclasses.dataclass(frozen=True, eq=False)  # one object per operation: hashed by identity
class Operation:
    """One documented operation."""

    id: str
    document: str
    method: str
    path: str
    flags: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    responses: Mapping[int, Response]
    paging: Paging | None
    long_running: bool
    produces: tuple[str, ...]
    consumes: tuple[str, ...]
    pattern: re.Pattern[str] = dataclasses.field(repr=False, compare=False)
    literal_chars: int = dataclasses.field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """`METHOD /path?flags`, unique in a table."""
        query = "&".join(f"{k}={v}" for k, v in self.flags)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")

    @property
    def successes(self) -> tuple[int, ...]:
        """The documented 2xx statuses, lowest first."""
        return tuple(sorted(s for s in self.responses if 200 <= s < 300))  # noqa: PLR2004

    @property
    def result(self) -> Response | None:
        """The response that carries the operation's outcome (not the 202 of a start)."""
        for status in self.successes:
            if status != 202:  # noqa: PLR2004 - Accepted only says work has started
                return self.responses[status]
        return None

    @property
    def accepted(self) -> Accepted:
        """How a 202 of this operation is followed up.

        `operation`: `/operations/{id}` (Location and x-ms-operation-id); `job`: a job instance
        (Location to it); `plain`: nothing to follow; `none`: it never answers 202.
        """
        accepted = self.responses.get(202)
        if accepted is None:
            return "none"
        if self.long_running or "x-ms-operation-id" in accepted.headers:
            return "operation"
        if self.method == "POST" and self.path.endswith("/instances"):
            return "job"
        return "plain"

    @property
    def body(self) -> Parameter | None:
        """The body parameter, if the operation takes one."""
        return next((p for p in self.parameters if p.location == "body"), None)

    def parameters_in(self, location: str) -> tuple[Parameter, ...]:
        """The parameters sent in `location` (path, query, header, formData)."""
        return tuple(p for p in self.parameters if p.location == location)


@dataclasses.dataclass(frozen=True)
class Match:
    """The operation a request reaches, with its path parameters."""

    operation: Operation
    params: dict[str, str]


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    parts: list[str] = []
    literal = 0
    position = 0
    for found in _PARAM.finditer(template):
        text = template[position : found.start()]
        parts.append(re.escape(text))
        literal += len(text)
        # A folder path may span segments; every other value is one segment.
        value = ".+?" if found.group(1).endswith("Path") else "[^/]+?"
        parts.append(f"(?P<{found.group(1)}>{value})")
        position = found.end()
    parts.append(re.escape(template[position:]))
    literal += len(template) - position
    return re.compile("".join(parts) + "$", re.IGNORECASE), literal


class OperationTable:
    """The operations of every document of a set that declares paths."""

    def __init__(self, documents: DocumentSet) -> None:
        self.documents = documents
        self.operations: list[Operation] = []
        self.aliases: dict[str, str] = {}  # document#operationId of a repeat -> the kept key
        seen: dict[str, Operation] = {}
        for path in documents.swaggers():
            for operation in self._read(path):
                kept = seen.get(operation.key)
                if kept is not None:
                    self.aliases[f"{operation.document}#{operation.id}"] = kept.key
                    continue
                seen[operation.key] = operation
                self.operations.append(operation)
        self.by_key = dict(seen)
        # Templates with more literal text win (`/items/bulkMove` over `/items/{itemId}`).
        self._ordered = sorted(self.operations, key=lambda op: (-op.literal_chars, -len(op.flags)))

    def _read(self, path: str) -> list[Operation]:
        document = self.documents.documents[path]
        base = str(document.get("basePath", "")).rstrip("/")
        found: list[Operation] = []
        for key, item in cast("dict[str, Any]", document["paths"]).items():
            template, _, query = key.partition("?")
            flags = tuple(sorted(parse_qsl(query, keep_blank_values=True)))
            shared = item.get("parameters", [])
            for method, spec in item.items():
                if method in HTTP_METHODS:
                    at = (path, base + template, flags)
                    found.append(self._operation(at, method, spec, shared))
        return found

    def _operation(
        self,
        at: tuple[str, str, tuple[tuple[str, str], ...]],
        method: str,
        spec: dict[str, Any],
        shared: list[Any],
    ) -> Operation:
        document, template, flags = at
        parameters: dict[tuple[str, str], Parameter] = {}
        for raw in [*shared, *spec.get("parameters", [])]:
            node, where = self.documents.resolve(raw, document)
            name, location = str(node["name"]), str(node["in"])
            required = bool(node.get("required", location == "path"))
            parameters[(location, name)] = Parameter(name, location, required, node, where)
        responses: dict[int, Response] = {}
        for code, raw in spec.get("responses", {}).items():
            if not code.isdigit():
                continue
            node, where = self.documents.resolve(raw, document)
            schema = node.get("schema")
            located = (cast("dict[str, Any]", schema), where) if isinstance(schema, dict) else None
            headers = frozenset(node.get("headers", {}))
            responses[int(code)] = Response(int(code), located, headers)
        pageable = spec.get("x-ms-pageable")
        paging = None
        if isinstance(pageable, dict):
            paging = Paging(pageable.get("nextLinkName"), str(pageable.get("itemName", "value")))
        long_running = bool(
            spec.get("x-ms-long-running-operation")
            or spec.get("x-ms-fabric-sdk-long-running-operation")
        )
        pattern, literal = _compile(template)
        whole = self.documents.documents[document]
        return Operation(
            id=str(spec.get("operationId", f"{method}{template}")),
            document=document,
            method=method.upper(),
            path=template,
            flags=flags,
            tags=tuple(spec.get("tags", ())),
            parameters=tuple(parameters.values()),
            responses=responses,
            paging=paging,
            long_running=long_running,
            produces=tuple(spec.get("produces") or whole.get("produces") or ()),
            consumes=tuple(spec.get("consumes") or whole.get("consumes") or ()),
            pattern=pattern,
            literal_chars=literal,
        )

    def match(
        self, method: str, path: str, query: Mapping[str, str]
    ) -> tuple[Match | None, list[str]]:
        """The operation a request reaches, else None and the methods its path allows.

        Empty segments (`//`, a trailing `/`) are dropped, and literal text compares without
        regard to case. Of the operations at a path, the one whose flags the query carries
        wins; a `false` flag is also met by its absence.
        """
        normal = "/" + "/".join(s for s in path.split("/") if s)
        allowed: list[str] = []
        for operation in self._ordered:
            found = operation.pattern.match(normal)
            if found is None or not _flags_met(operation.flags, query):
                continue
            if operation.method == method:
                return Match(operation, found.groupdict()), []
            allowed.append(operation.method)
        return None, sorted(set(allowed))


def _flags_met(flags: tuple[tuple[str, str], ...], query: Mapping[str, str]) -> bool:
    lowered = {k.lower(): v.lower() for k, v in query.items()}
    for name, value in flags:
        given = lowered.get(name.lower())
        if given is None and value.lower() != "false":
            return False
        if given is not None and given != value.lower():
            return False
    return True
