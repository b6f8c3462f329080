"""The conformance checks of a pack, as plain callables the pytest plugin turns into tests.

- every file of the pack is valid (one check per file);
- every example of every action runs and sends exactly the request it shows;
- every action that names OpenAPI operations sends, for each of them, a request the pack's
  OpenAPI document allows (method, path, query parameters, JSON body against its schema).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.authoring._examples import example_mismatches, run_in_process, sample_inputs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from connectorkit.authoring._examples import SentRequest
    from connectorkit.pack._definitions import ActionDef, Pack

__all__ = ["Check", "OpenApiDocument", "conformance_checks", "openapi_settings"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_OPTIONAL_PART = re.compile(r"\[([^\[\]]*)\]")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Check:
    """One conformance test: a stable id (``example/refresh_dataset/1``) and what it runs."""

    kind: str
    name: str
    run: Callable[[], list[str]]

    @property
    def id(self) -> str:
        """``kind/name``."""
        return f"{self.kind}/{self.name}"


def openapi_settings(root: Path) -> dict[str, Any]:
    """The ``openapi:`` block of the pack's connector.yaml (empty when absent)."""
    import yaml  # noqa: PLC0415

    data = yaml.safe_load((root / "connector.yaml").read_text(encoding="utf-8")) or {}
    block = data.get("openapi") if isinstance(data, dict) else None
    return block if isinstance(block, dict) else {}


def conformance_checks(  # noqa: C901 - files, then examples, then operations
    root: Path, load: Callable[[], Pack]
) -> Iterator[Check]:
    """Every check of the pack at ``root``; ``load`` gives the loaded pack (called lazily)."""
    from connectorkit.core._errors import PackError  # noqa: PLC0415

    files = ["connector.yaml"]
    files += [f"connections/{p.name}" for p in sorted((root / "connections").glob("*.yaml"))]
    files += [f"actions/{p.name}" for p in sorted((root / "actions").glob("*.yaml"))]
    pack: Pack | None = None
    problems: dict[str, list[str]] = {}
    try:
        pack = load()
    except PackError as exc:  # every file's problems come with the error
        for problem in exc.problems:
            problems.setdefault(problem.file, []).append(str(problem))
        for name in problems.keys() - set(files):
            files.append(name)
    for name in files:
        yield Check("file", name, functools.partial(lambda n: problems.get(n, []), name))
    if pack is None:
        return
    for action in sorted(pack.actions.values(), key=lambda a: a.key):
        for index, example in enumerate(action.examples, start=1):
            yield Check(
                "example",
                f"{action.key}/{index}",
                functools.partial(example_mismatches, pack, action, example),
            )
    settings = openapi_settings(root)
    if not settings.get("document") and not settings.get("documents"):
        return
    document = functools.cache(lambda: OpenApiDocument.of_pack(root, settings))
    for action in sorted(pack.actions.values(), key=lambda a: a.key):
        for index, op_id in enumerate(action.operations):
            yield Check(
                "openapi",
                f"{action.key}/{op_id}",
                functools.partial(_operation_problems, pack, action, index, op_id, document),
            )


def _operation_problems(
    pack: Pack,
    action: ActionDef,
    index: int,
    op_id: str,
    document: Callable[[], OpenApiDocument],
) -> list[str]:
    """Run the action as that operation's variant would be called, check what it sends."""
    optional: set[str] = set()
    if index > 0:  # the variant with the optional parts of the path
        for part in _OPTIONAL_PART.findall(action.request.path):
            optional |= set(_PLACEHOLDER.findall(part))
    # The action's own example of this variant when it has one, else another example turned
    # into this variant, else values made up for the required inputs.
    examples = [dict(e.get("inputs") or {}) for e in action.examples]
    fitting = [e for e in examples if _optional_given(action, e) == (index > 0)]
    if fitting:
        inputs = fitting[0]
    elif examples:
        inputs = {k: v for k, v in examples[0].items() if not _in_optional_part(action, k)}
        inputs |= {
            k: v
            for k, v in sample_inputs(action, optional=frozenset(optional)).items()
            if k in optional
        }
    else:
        inputs = sample_inputs(action, optional=frozenset(optional))
    call = run_in_process(pack, action.key, inputs, response={"status": 200, "body": {}})
    if not call.requests:
        return [f"no request was sent: {call.response.get('error')}"]
    return document().problems(call.request, op_id)


def _in_optional_part(action: ActionDef, name: str) -> bool:
    return any(name in _PLACEHOLDER.findall(p) for p in _OPTIONAL_PART.findall(action.request.path))


def _optional_given(action: ActionDef, inputs: dict[str, Any]) -> bool:
    names: set[str] = set()
    for part in _OPTIONAL_PART.findall(action.request.path):
        names |= set(_PLACEHOLDER.findall(part))
    return any(inputs.get(n) is not None for n in names)


@dataclass(frozen=True, slots=True)
class _Known:
    """An operation of the documents: where it is, and what it takes."""

    method: str
    path: str  # below the pack's base path, without the query flags
    flags: dict[str, str]
    op: dict[str, Any]
    shared: list[Any]
    document: Path


class OpenApiDocument:
    """The OpenAPI 2 or 3 documents of a pack, asked whether a request is one they allow.

    An operation is named by its operationId, or as `document#operationId` when the pack follows
    several documents; `$ref`s across files are followed from the referring document.
    """

    def __init__(self, documents: list[tuple[Path, str | None]], base_path: str | None) -> None:
        from connectorkit.authoring.openapi._documents import Documents  # noqa: PLC0415

        self.files = Documents()
        self.operations: dict[str, _Known] = {}
        self._schemas: dict[Path, dict[str, Any]] = {}
        counts: dict[str, int] = {}
        for path, name in documents:
            raw = self.files.load(path)
            version = 2 if str(raw.get("swagger", "")).startswith("2") else 3
            own = str(raw.get("basePath") or "").rstrip("/") if version == 2 else ""  # noqa: PLR2004
            for key, item in (raw.get("paths") or {}).items():
                template, _, query = str(key).partition("?")
                full = own + template
                strip = own if base_path is None else base_path.rstrip("/")
                if strip and full.startswith(strip):
                    full = full[len(strip) :]
                for method in _METHODS:
                    op = (item or {}).get(method)
                    if not isinstance(op, dict) or not op.get("operationId"):
                        continue
                    from urllib.parse import parse_qsl  # noqa: PLC0415

                    known = _Known(
                        method.upper(),
                        full,
                        dict(parse_qsl(query, keep_blank_values=True)),
                        op,
                        list(item.get("parameters") or []),
                        path.resolve(),
                    )
                    op_id = str(op["operationId"])
                    counts[op_id] = counts.get(op_id, 0) + 1
                    self.operations.setdefault(op_id, known)
                    if name is not None:
                        self.operations[f"{name}#{op_id}"] = known
        for op_id, count in counts.items():
            if count > 1:
                del self.operations[op_id]  # ambiguous: only `document#operationId` names it

    @classmethod
    def of_pack(cls, root: Path, settings: dict[str, Any]) -> OpenApiDocument:
        """The documents `openapi.document` or `openapi.documents` of a pack name."""
        from connectorkit.authoring.openapi._import import listed_documents, read_settings  # noqa: PLC0415

        parsed = read_settings({"openapi": settings})
        if parsed.documents:
            found = [(p, d.document) for p, d in listed_documents(root, parsed)]
            return cls._read(tuple(found), parsed.base_path)
        return cls._read(((root / str(settings["document"]), None),), settings.get("base_path"))

    @classmethod
    @functools.cache
    def _read(
        cls, documents: tuple[tuple[Path, str | None], ...], base_path: str | None
    ) -> OpenApiDocument:
        """The documents (read once per process)."""
        return cls(list(documents), base_path)

    def _deref(self, node: Any, document: Path) -> tuple[Any, Path]:
        return self.files.resolve(node, document)

    @staticmethod
    def _pattern(path: str) -> re.Pattern[str]:
        parts = re.split(r"(\{[^}]+\})", path)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{regex}$")

    def problems(self, sent: SentRequest, op_id: str) -> list[str]:
        """Where ``sent`` breaks operation ``op_id`` (empty: a request the document allows)."""
        known = self.operations.get(op_id)
        if known is None:
            return [f"the OpenAPI documents have no operation {op_id}"]
        found: list[str] = []
        if sent.method != known.method:
            found.append(f"method is {sent.method}, {op_id} is {known.method}")
        if not self._pattern(known.path).match(sent.path):
            found.append(f"path {sent.path} is not {op_id}'s {known.path}")
        found += [
            f"query flag {name}={value} of {op_id} was not sent"
            for name, value in known.flags.items()
            if str(sent.query.get(name, "")).lower() != value.lower()
        ]
        params = [
            self._deref(p, known.document)[0]
            for p in [*known.shared, *(known.op.get("parameters") or [])]
        ]
        query = {p["name"]: p for p in params if p.get("in") == "query"}
        for name, value in sent.query.items():
            if name in known.flags:
                continue
            if name not in query:
                found.append(f"query parameter {name!r} is not one of {op_id}'s: {sorted(query)}")
                continue
            enum = (query[name].get("schema") or query[name]).get("enum")
            if enum and str(value) not in {str(v) for v in enum}:
                found.append(f"query {name}={value!r} is not one of {enum}")
        found += [
            f"required query parameter {name!r} was not sent"
            for name, p in query.items()
            if p.get("required") and name not in sent.query
        ]
        found += self._body_problems(sent, known, params, op_id)
        return found

    def _body_problems(
        self, sent: SentRequest, known: _Known, params: list[Any], op_id: str
    ) -> list[str]:
        raw = self.files.load(known.document)
        version = 2 if str(raw.get("swagger", "")).startswith("2") else 3
        schema: Any = None
        if version == 2:  # noqa: PLR2004
            body = next((p for p in params if p.get("in") == "body"), None)
            schema = body.get("schema") if body else None
            takes_body = body is not None
        else:
            content = (
                self._deref(known.op.get("requestBody") or {}, known.document)[0].get("content")
            ) or {}
            json_type = next((t for t in content if "json" in t), None)
            takes_body = bool(content)
            schema = content[json_type].get("schema") if json_type else None
        if not sent.has_body:
            return []
        if not takes_body:
            return [f"a body was sent, but {op_id} takes none"]
        if schema is None:
            return []
        validator = self._validator(schema, known.document)
        return [
            f"body{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(sent.body)
            if not _undefined_requirement(error)
        ]

    def _validator(self, schema: Any, document: Path) -> Any:
        """A validator of `schema`, its `$ref`s read from the documents (relative to `document`)."""
        from urllib.parse import unquote  # noqa: PLC0415

        from jsonschema import Draft4Validator  # noqa: PLC0415
        from referencing import Registry  # noqa: PLC0415
        from referencing.jsonschema import DRAFT4  # noqa: PLC0415

        files = self.files

        def retrieve(uri: str) -> Any:
            node, _ = files.target(unquote(uri.removeprefix("file://")), document)
            return DRAFT4.create_resource(_python_patterns(node))

        registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]  # attrs field
        # The schema stands beside its document; its own `#/...` references point into it.
        local = _python_patterns(_rebased_local(schema, document.name))
        root = {"id": (document.parent / "request-body.json").as_uri(), "allOf": [local]}
        return Draft4Validator(root, registry=registry)


def _rebased_local(node: Any, name: str) -> Any:
    """A copy of a schema whose document-local references (`#/...`) name the document."""
    if isinstance(node, list):
        return [_rebased_local(item, name) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rebased_local(v, name) for k, v in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        out["$ref"] = name + ref
    return out


def _python_patterns(node: Any) -> Any:
    r"""A copy of a schema whose patterns Python reads: ECMA's `\p{L}` (a letter) becomes `\w`."""
    if isinstance(node, list):
        return [_python_patterns(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _python_patterns(v) for k, v in node.items()}
    if isinstance(node.get("pattern"), str):
        out["pattern"] = node["pattern"].replace("\\p{L}", "\\w")
    return out


def _undefined_requirement(error: Any) -> bool:
    """A ``required`` name the schema never defines is the document's slip, not the request's."""
    if error.validator != "required":
        return False
    defined = (error.schema or {}).get("properties") or {}
    missing = [name for name in error.validator_value if name not in (error.instance or {})]
    return bool(missing) and all(name not in defined for name in missing)
