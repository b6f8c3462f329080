"""The conformance checks of a pack, as plain callables the pytest plugin turns into tests.

- every file of the pack is valid (one check per file);
- every example of every action runs and sends exactly the request it shows;
- every action that names OpenAPI operations sends, for each of them, a request the pack's
  OpenAPI document allows (method, path, query parameters, JSON body against its schema).
"""

from __future__ import annotations

import functools
import json
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
    if not settings.get("document"):
        return
    document = functools.cache(
        lambda: OpenApiDocument.read(root / str(settings["document"]), settings.get("base_path"))
    )
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


class OpenApiDocument:
    """An OpenAPI 2 or 3 document, asked whether a request is one its operations allow."""

    def __init__(self, raw: dict[str, Any], base_path: str | None) -> None:
        self.raw = raw
        self.version = 2 if str(raw.get("swagger", "")).startswith("2") else 3
        if base_path is None:
            base_path = str(raw.get("basePath") or "") if self.version == 2 else ""  # noqa: PLR2004
        self.base_path = base_path.rstrip("/")
        self.operations: dict[str, tuple[str, str, dict[str, Any], list[Any]]] = {}
        for path, item in (raw.get("paths") or {}).items():
            for method in _METHODS:
                op = (item or {}).get(method)
                if isinstance(op, dict) and op.get("operationId"):
                    shared = list(item.get("parameters") or [])
                    self.operations[op["operationId"]] = (method.upper(), path, op, shared)

    @classmethod
    @functools.cache
    def read(cls, path: Path, base_path: str | None) -> OpenApiDocument:
        """The document at ``path`` (read once per process)."""
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            import yaml  # noqa: PLC0415

            raw = yaml.safe_load(text)
        return cls(raw, base_path)

    def _deref(self, node: Any) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            target: Any = self.raw
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        return node

    def _pattern(self, path: str) -> re.Pattern[str]:
        rel = path.removeprefix(self.base_path)
        parts = re.split(r"(\{[^}]+\})", rel)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{regex}$")

    def problems(self, sent: SentRequest, op_id: str) -> list[str]:
        """Where ``sent`` breaks operation ``op_id`` (empty: a request the document allows)."""
        if op_id not in self.operations:
            return [f"the OpenAPI document has no operation {op_id}"]
        method, path, op, shared = self.operations[op_id]
        found: list[str] = []
        if sent.method != method:
            found.append(f"method is {sent.method}, {op_id} is {method}")
        if not self._pattern(path).match(sent.path):
            found.append(f"path {sent.path} is not {op_id}'s {path}")
        params = [self._deref(p) for p in [*shared, *(op.get("parameters") or [])]]
        query = {p["name"]: p for p in params if p.get("in") == "query"}
        for name, value in sent.query.items():
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
        found += self._body_problems(sent, op, params, op_id)
        return found

    def _body_problems(
        self, sent: SentRequest, op: dict[str, Any], params: list[Any], op_id: str
    ) -> list[str]:
        schema: Any = None
        if self.version == 2:  # noqa: PLR2004
            body = next((p for p in params if p.get("in") == "body"), None)
            schema = body.get("schema") if body else None
            takes_body = body is not None
        else:
            content = (self._deref(op.get("requestBody") or {}).get("content")) or {}
            json_type = next((t for t in content if "json" in t), None)
            takes_body = bool(content)
            schema = content[json_type].get("schema") if json_type else None
        if not sent.has_body:
            return []
        if not takes_body:
            return [f"a body was sent, but {op_id} takes none"]
        if schema is None:
            return []
        from jsonschema import Draft4Validator  # noqa: PLC0415

        root = {**schema}
        if self.version == 2:  # noqa: PLR2004
            root["definitions"] = self.raw.get("definitions") or {}
        else:
            root["components"] = self.raw.get("components") or {}
        validator = Draft4Validator(root)
        return [
            f"body{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(sent.body)
            if not _undefined_requirement(error)
        ]


def _undefined_requirement(error: Any) -> bool:
    """A ``required`` name the schema never defines is the document's slip, not the request's."""
    if error.validator != "required":
        return False
    defined = (error.schema or {}).get("properties") or {}
    missing = [name for name in error.validator_value if name not in (error.instance or {})]
    return bool(missing) and all(name not in defined for name in missing)
