"""Load a pack from disk: read the YAML once, check it, build immutable definitions."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from connectorkit._definitions import (
    ActionDef,
    BatchDef,
    ConnectionDef,
    InputDef,
    Pack,
    RequestDef,
    ResultDef,
    SliceDef,
)
from connectorkit._errors import PackError, Problem

__all__ = ["PACK_ENV", "default_pack_root", "load_pack", "read_documents", "schema_dir"]

PACK_ENV = "CONNECTORKIT_PACK"

# Every InputDef field a YAML input may set (call_input is the loader's to decide).
_INPUT_FIELDS = frozenset(f.name for f in dataclasses.fields(InputDef)) - {"call_input"}


def default_pack_root() -> Path:
    """The pack the command uses when none is named: ``$CONNECTORKIT_PACK``, else the bundled one.

    A wheel carries the Power BI pack inside the package (``_pack/``); a source checkout (an
    editable install) uses the repository root, which is the pack.
    """
    chosen = os.environ.get(PACK_ENV)
    if chosen:
        return Path(chosen)
    here = Path(__file__).resolve().parent
    bundled = here / "_pack"
    if (bundled / "connector.yaml").is_file():
        return bundled
    return here.parent.parent


@functools.cache
def _loader() -> type[Any]:
    """A safe YAML loader (the C one when present) that refuses a key repeated in a mapping."""
    import yaml  # noqa: PLC0415 - only pack loading needs YAML

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key '{key}' appears twice in this mapping",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _yaml_load(text: str) -> Any:
    import yaml  # noqa: PLC0415 - only pack loading needs YAML

    return yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader either way


def read_documents(root: Path) -> tuple[list[Any], list[Problem]]:
    """Read ``connector.yaml``, ``connections/*.yaml`` and ``actions/*.yaml`` under ``root``."""
    import yaml  # noqa: PLC0415 - only pack loading needs YAML

    from connectorkit._validate import Document  # noqa: PLC0415 - keeps jsonschema off start-up

    documents: list[Any] = []
    problems: list[Problem] = []
    files: list[tuple[Path, Literal["connector", "action", "connection"]]] = [
        (root / "connector.yaml", "connector")
    ]
    files += [(p, "connection") for p in sorted((root / "connections").glob("*.yaml"))]
    files += [(p, "action") for p in sorted((root / "actions").glob("*.yaml"))]
    for path, kind in files:
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(Problem(rel, None, "", "file is missing"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(rel, None, "", f"cannot be read: {exc}"))
            continue
        try:
            data = _yaml_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc)
            problems.append(Problem(rel, line, "", f"is not valid YAML: {reason}"))
            continue
        documents.append(Document(path=path, kind=kind, data=data, text=text))
    return documents, problems


def load_pack(root: Path | str | None = None) -> Pack:
    """Load and check the pack at ``root`` (default: :func:`default_pack_root`).

    Raises :class:`PackError` listing every problem, each with its file and line.
    """
    from connectorkit import _packcache  # noqa: PLC0415

    base = Path(root) if root is not None else default_pack_root()
    if not (base / "connector.yaml").is_file():
        raise PackError(
            [Problem(str(base), None, "", "no connector.yaml here: not an action pack")]
        )
    key = _packcache.fingerprint(base, schema_dir())
    cached = _packcache.read(base, key)
    if cached is not None:
        return _build(base, cached)

    from connectorkit._validate import check_documents  # noqa: PLC0415 - see read_documents

    documents, problems = read_documents(base)
    problems += check_documents(base, documents)
    if problems:
        raise PackError(problems)
    _packcache.write(base, key, documents)
    return _build(base, documents)


def schema_dir() -> Path:
    """The JSON Schemas every pack is checked against: those bundled with connectorkit."""
    here = Path(__file__).resolve().parent
    bundled = here / "_pack" / "schemas"
    return bundled if bundled.is_dir() else here.parent.parent / "schemas"


def _build(root: Path, documents: list[Any]) -> Pack:
    connector: dict[str, Any] = next(d.data for d in documents if d.kind == "connector")
    shared: dict[str, Any] = connector.get("inputs") or {}
    call_inputs = [
        _input({"key": key, **spec}, call_input=True)
        for entry in connector.get("call_inputs") or []
        for key, spec in entry.items()
    ]
    connections = {
        d.data["key"]: _connection(d.data, d.path) for d in documents if d.kind == "connection"
    }
    actions = {
        d.data["key"]: _action(d.data, d.path, shared, call_inputs)
        for d in documents
        if d.kind == "action"
    }
    return Pack(
        key=connector["key"],
        label=connector["label"],
        description=connector["description"],
        version=connector.get("version"),
        root=root,
        default_connection=connector["default_connection"],
        connections=MappingProxyType(connections),
        actions=MappingProxyType(actions),
    )


def _input(spec: dict[str, Any], *, call_input: bool = False) -> InputDef:
    fields = {k: v for k, v in spec.items() if k in _INPUT_FIELDS}
    if fields.get("enum") is not None:
        fields["enum"] = tuple(fields["enum"])
    return InputDef(**fields, call_input=call_input)


def _action(
    data: dict[str, Any], path: Path, shared: dict[str, Any], call_inputs: list[InputDef]
) -> ActionDef:
    inputs: list[InputDef] = []
    for entry in data.get("inputs") or []:
        if "use" in entry:
            key = entry["use"]
            overrides = {k: v for k, v in entry.items() if k != "use"}
            inputs.append(_input({**shared[key], **overrides, "key": key}))
        else:
            inputs.append(_input(entry))
    own = {i.key for i in inputs}
    inputs += [c for c in call_inputs if c.key not in own]

    req = data["request"]
    batch = req.get("batch")
    request = RequestDef(
        method=str(req.get("method", "GET")).upper(),
        path=req.get("path", ""),
        query=MappingProxyType(dict(req.get("query") or {})),
        headers=MappingProxyType(dict(req.get("headers") or {})),
        body=req.get("body"),
        has_body="body" in req and req["body"] is not None,
        batch=BatchDef(input=batch["input"], size=int(batch["size"])) if batch else None,
        hook=req.get("hook"),
    )
    res = data.get("result") or {}
    slice_ = res.get("slice")
    result = ResultDef(
        slice=SliceDef(slice_["items"], slice_.get("offset"), slice_.get("limit"))
        if slice_
        else None,
        template=res.get("template"),
        has_template="template" in res,
        encoding=res.get("encoding"),
    )
    return ActionDef(
        key=data["key"],
        label=data["label"],
        description=data["description"],
        inputs=tuple(inputs),
        request=request,
        result=result,
        file=path,
        group=data.get("group"),
        operations=tuple((data.get("openapi") or {}).get("operations") or ()),
        examples=tuple(data.get("examples") or ()),
        returns=data.get("returns"),
    )


def _connection(data: dict[str, Any], path: Path) -> ConnectionDef:
    return ConnectionDef(
        key=data["key"],
        label=data["label"],
        description=data["description"],
        grant=data["grant"],
        token_endpoint_auth_method=data.get("token_endpoint_auth_method", "client_secret_post"),
        values=tuple(_input(v) for v in data.get("values") or []),
        file=path,
    )
