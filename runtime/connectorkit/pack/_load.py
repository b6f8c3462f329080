"""Load a pack from disk: read the YAML once, check it, build immutable definitions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from connectorkit.core._errors import PackError, Problem
from connectorkit.pack._budgets import budgets_from
from connectorkit.pack._connections import connection_from
from connectorkit.pack._definitions import (
    ActionDef,
    AdviceDef,
    BatchDef,
    CheckDef,
    DiscoverDef,
    EachDef,
    ErrorHint,
    InOrderDef,
    Pack,
    Quirks,
    RefusalDef,
    RememberDef,
    RequestDef,
    ResultDef,
    RowTypesDef,
    ServiceDef,
    SliceDef,
)
from connectorkit.pack._files import PACK_ENV, default_pack_root, schema_dir
from connectorkit.types._input import InputDef

if TYPE_CHECKING:
    from connectorkit.pack._multistep import Multistep
    from connectorkit.pack._triggers import TriggerDef

__all__ = ["PACK_ENV", "default_pack_root", "load_pack", "schema_dir"]

_T = TypeVar("_T")

# Every InputDef field a YAML input may set (call_input is the loader's to decide).
_INPUT_FIELDS = frozenset(InputDef.__struct_fields__) - {"call_input"}


def load_pack(root: Path | str | None = None) -> Pack:
    """Load and check the pack at ``root`` (default: :func:`default_pack_root`).

    Raises :class:`PackError` listing every problem, each with its file and line.
    """
    from connectorkit.pack import _cache  # noqa: PLC0415 - hashlib and json only when loading

    base = Path(root) if root is not None else default_pack_root()
    if not (base / "connector.yaml").is_file():
        raise PackError(
            [Problem(str(base), None, "", "no connector.yaml here: not an action pack")]
        )
    key = _cache.fingerprint(base, schema_dir())
    cached = _cache.read(base, key)
    if cached is not None:
        return _build(base, cached)

    # A cache miss: only now are YAML and the JSON Schema checker imported.
    from connectorkit.pack._check import check_documents  # noqa: PLC0415
    from connectorkit.pack._read import read_documents  # noqa: PLC0415

    documents, problems = read_documents(base)
    problems += check_documents(base, documents)
    if problems:
        raise PackError(problems)
    _cache.write(base, key, documents)
    return _build(base, documents)


def _build(root: Path, documents: list[Any]) -> Pack:
    connector: dict[str, Any] = next(d.data for d in documents if d.kind == "connector")
    shared: dict[str, Any] = connector.get("inputs") or {}
    call_inputs = [
        _input({"key": key, **spec}, call_input=True)
        for entry in connector.get("call_inputs") or []
        for key, spec in entry.items()
    ]
    connections = {
        d.data["key"]: connection_from(
            d.data, d.path, tuple(_input(v) for v in d.data.get("values") or [])
        )
        for d in documents
        if d.kind == "connection"
    }
    actions: _Built[ActionDef] = _Built(lambda data, path: _action(data, path, shared, call_inputs))
    triggers: _Built[TriggerDef] = _Built(
        lambda data, path: _trigger(data, path, shared, call_inputs)
    )
    for d in documents:
        if d.kind == "action":
            actions.add(d)
        elif d.kind == "trigger":
            triggers.add(d)
    return Pack(
        key=connector["key"],
        label=connector["label"],
        description=connector["description"],
        version=connector.get("version"),
        root=root,
        default_connection=connector["default_connection"],
        connections=MappingProxyType(connections),
        actions=actions,
        triggers=triggers,
        budgets=budgets_from(connector.get("limits")),
        check=_check(connector.get("check")),
        quirks=_quirks(connector.get("quirks") or {}),
        value_sets=MappingProxyType(
            {
                selector: MappingProxyType(
                    {option: MappingProxyType(dict(v or {})) for option, v in options.items()}
                )
                for selector, options in (connector.get("value_sets") or {}).items()
            }
        ),
        error_hints=tuple(
            ErrorHint(str(h["match"]), " ".join(str(h["hint"]).split()))
            for h in connector.get("error_hints") or []
        ),
        services=MappingProxyType(
            {
                name: ServiceDef(name, str(s["base_url"]), s.get("scope"), s.get("label"))
                for name, s in (connector.get("services") or {}).items()
            }
        ),
    )


class _Built(Mapping[str, _T]):
    """A pack's actions (or triggers) by key, each built from its document on first use.

    A call needs one action: a pack of hundreds builds (and, from the cache, parses) only that
    one. Iterating, as ``describe`` does, builds them all.
    """

    def __init__(self, build: Callable[[dict[str, Any], Path], _T]) -> None:
        self._build = build
        self._sources: dict[str, Any] = {}
        self._built: dict[str, _T] = {}
        self._lock = threading.Lock()

    def add(self, document: Any) -> None:
        """Register a document (parsed, or a cached one parsed on first use)."""
        key = document.data["key"] if document.data is not None else document.key
        self._sources[key] = document

    def __getitem__(self, key: str) -> _T:
        built = self._built.get(key)
        if built is not None:
            return built
        document = self._sources[key]
        data = document.parsed() if hasattr(document, "parsed") else document.data
        made = self._build(data, Path(document.path))
        with self._lock:
            return self._built.setdefault(key, made)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, key: object) -> bool:
        return key in self._sources


def _quirks(data: dict[str, Any]) -> Quirks:
    standard = Quirks()
    refused = data.get("token_refused")
    return Quirks(
        token_refused=tuple(RefusalDef(r["status"], r.get("code")) for r in refused)
        if refused
        else standard.token_refused,
        error_code=tuple(data.get("error_code") or standard.error_code),
        error_message=tuple(data.get("error_message") or standard.error_message),
        throttled=frozenset(data.get("throttled") or standard.throttled),
    )


def _check(spec: dict[str, Any] | None) -> CheckDef | None:
    if not spec:
        return None
    advice = tuple(
        AdviceDef(match=a["match"], say=a["say"], grant=a.get("grant"))
        for a in spec.get("advice") or []
    )
    inputs = MappingProxyType(dict(spec.get("inputs") or {}))
    return CheckDef(action=spec["action"], inputs=inputs, advice=advice)


def _input(spec: dict[str, Any], *, call_input: bool = False) -> InputDef:
    fields = {k: v for k, v in spec.items() if k in _INPUT_FIELDS}
    if fields.get("enum") is not None:
        fields["enum"] = tuple(fields["enum"])
    for name in ("choices", "dynamic_schema"):
        if fields.get(name) is not None:
            fields[name] = MappingProxyType(dict(fields[name]))
    return InputDef(**fields, call_input=call_input)


def _action(
    data: dict[str, Any], path: Path, shared: dict[str, Any], call_inputs: list[InputDef]
) -> ActionDef:
    inputs = _own_inputs(data, shared)
    multistep = _multistep(data)
    if multistep is not None:
        from connectorkit.pack._multistep import operation_inputs  # noqa: PLC0415 - see _multistep

        declared = {i.key for i in inputs}
        inputs += [i for i in operation_inputs(multistep) if i.key not in declared]
    own = {i.key for i in inputs}
    inputs += [c for c in call_inputs if c.key not in own]

    req = data["request"]
    batch = req.get("batch")
    each = req.get("each")
    request = RequestDef(
        method=str(req.get("method", "GET")).upper(),
        path=req.get("path", ""),
        query=MappingProxyType(dict(req.get("query") or {})),
        headers=MappingProxyType(dict(req.get("headers") or {})),
        body=req.get("body"),
        has_body="body" in req and req["body"] is not None,
        batch=_batch(batch) if batch else None,
        hook=req.get("hook"),
        each=EachDef(each["items"], each["path"], each["collect"]) if each else None,
    )
    res = data.get("result") or {}
    slice_ = res.get("slice")
    result = ResultDef(
        slice=SliceDef(slice_["items"], slice_.get("offset"), slice_.get("limit"))
        if slice_
        else None,
        template=res.get("template"),
        has_template="template" in res,
        encoding="base64" if res.get("file") else res.get("encoding"),
    )

    return ActionDef(
        key=data["key"],
        label=data["label"],
        description=data["description"],
        inputs=tuple(inputs),
        request=request,
        result=result,
        file=path,
        remember=tuple(
            RememberDef(name, tuple(spec["key"]), spec["value"])
            for name, spec in (data.get("remember") or {}).items()
        ),
        group=data.get("group"),
        operations=tuple((data.get("openapi") or {}).get("operations") or ()),
        examples=tuple(data.get("examples") or ()),
        returns=data.get("returns"),
        multistep=multistep,
        importance=data.get("importance"),
        service=data.get("service"),
    )


def _own_inputs(data: dict[str, Any], shared: dict[str, Any]) -> list[InputDef]:
    """The inputs a document declares, each ``use`` resolved against connector.yaml's."""
    inputs: list[InputDef] = []
    for entry in data.get("inputs") or []:
        if "use" in entry:
            key = entry["use"]
            overrides = {k: v for k, v in entry.items() if k != "use"}
            inputs.append(_input({**shared[key], **overrides, "key": key}))
        else:
            inputs.append(_input(entry))
    return inputs


def _trigger(
    data: dict[str, Any], path: Path, shared: dict[str, Any], call_inputs: list[InputDef]
) -> TriggerDef:
    from connectorkit.pack._triggers import trigger_from  # noqa: PLC0415 - only for triggers

    return trigger_from(data, path, _own_inputs(data, shared), call_inputs)


def _batch(spec: dict[str, Any]) -> BatchDef:
    rows = spec.get("rows")
    return BatchDef(
        input=spec["input"],
        size=int(spec["size"]),
        max_bytes=spec.get("max_bytes"),
        in_flight=int(spec.get("in_flight", 1)),
        rows=RowTypesDef(
            types=MappingProxyType({k: MappingProxyType(v) for k, v in rows["types"].items()}),
            columns_input=rows.get("columns_input"),
            name_field=rows.get("name_field", "name"),
            type_field=rows.get("type_field", "type"),
            remember=tuple(rows.get("remember") or ()),
            unchecked_input=rows.get("unchecked_input"),
            skip_input=rows.get("skip_input"),
            discover=_discover(rows["discover"]) if rows.get("discover") else None,
        )
        if rows
        else None,
        in_order=_in_order(spec["in_order"]) if spec.get("in_order") else None,
    )


def _in_order(spec: dict[str, Any]) -> InOrderDef:
    remembered = spec.get("remembered") or {}
    return InOrderDef(
        input=spec.get("input"),
        remembered=remembered.get("name"),
        key=tuple(remembered.get("key") or ()),
        values=tuple(str(v) for v in remembered.get("values") or ()),
    )


def _discover(spec: dict[str, Any]) -> DiscoverDef:
    return DiscoverDef(
        path=spec["path"],
        items=spec["items"],
        match=MappingProxyType(dict(spec["match"])),
        columns=spec["columns"],
    )


# What makes an action one of several requests (pack/_multistep.py reads each): only an action
# that has one loads that module, so a plain call's start-up does not.
_MULTISTEP_KEYS = ("long_running", "pages", "upload", "chunks", "stage")


def _multistep(data: Mapping[str, Any]) -> Multistep | None:
    """The multi-request parts of an action document, or None when it has none."""
    request = data.get("request") or {}
    result = data.get("result") or {}
    if not (
        any(data.get(key) for key in _MULTISTEP_KEYS)
        or request.get("multipart")
        or request.get("content")
        or result.get("file")
        or result.get("encoding") == "base64"
    ):
        return None
    from connectorkit.pack._multistep import multistep_from  # noqa: PLC0415 - see above

    multistep = multistep_from(data)
    return multistep if multistep.any else None
