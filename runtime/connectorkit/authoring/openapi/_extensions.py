"""What a designer sees, from a document's vendor extensions (Power Platform's ``x-ms-*``).

``x-ms-summary`` is a field's label; ``x-ms-visibility`` its importance (``important``,
``advanced``, ``internal``); ``x-ms-dynamic-values`` and ``x-ms-dynamic-list`` say another
operation lists its values (choices); ``x-ms-dynamic-schema`` and ``x-ms-dynamic-properties``
say another operation's answer gives its shape (a dynamic schema). The references name
operations and their parameters, which become actions and inputs: they are read here and
linked once every action has its key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["IMPORTANCE", "Source", "designer_fields", "link", "source_of"]

IMPORTANCE = frozenset({"important", "advanced", "internal"})
_LABEL_MAX = 80
_SHAPES = (("x-ms-dynamic-schema", "value-path"), ("x-ms-dynamic-properties", "itemValuePath"))


def designer_fields(extensions: Mapping[str, Any]) -> dict[str, Any]:
    """``label`` and ``importance`` from ``x-ms-summary`` and ``x-ms-visibility``."""
    out: dict[str, Any] = {}
    summary = " ".join(str(extensions.get("x-ms-summary") or "").split())
    if summary and len(summary) <= _LABEL_MAX:
        out["label"] = summary
    visibility = str(extensions.get("x-ms-visibility") or "").lower()
    if visibility in IMPORTANCE:
        out["importance"] = visibility
    return out


@dataclass(slots=True)
class Source:
    """Another operation that gives an input's values or its shape, as the document says it."""

    kind: str  # choices or dynamic_schema
    operation: str
    # The other operation's parameter → ("parameter", a parameter of this operation) or
    # ("value", a constant).
    parameters: dict[str, tuple[str, Any]] = field(default_factory=dict)
    items: str = ""
    value: str = ""
    label: str = ""
    at: str = ""


def _path(text: Any) -> str:
    """A Power Platform path (``value/items``, ``body/x``) as a dotted field path."""
    return ".".join(p for p in str(text or "").strip("/").split("/") if p)


def _references(raw: Any) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for name, spec in (raw or {}).items() if isinstance(raw, dict) else ():
        if isinstance(spec, dict):
            ref = spec.get("parameter") or spec.get("parameterReference")
            if isinstance(ref, str) and ref:
                out[str(name)] = ("parameter", ref.split("/")[-1])
            elif "value" in spec:
                out[str(name)] = ("value", spec["value"])
        elif spec is not None:
            out[str(name)] = ("value", spec)
    return out


def source_of(extensions: Mapping[str, Any]) -> Source | None:
    """The dynamic values, list, schema or properties an input's extensions declare."""
    values = extensions.get("x-ms-dynamic-values")
    if isinstance(values, dict) and values.get("operationId"):
        return Source(
            "choices",
            str(values["operationId"]),
            _references(values.get("parameters")),
            items=_path(values.get("value-collection")),
            value=_path(values.get("value-path")),
            label=_path(values.get("value-title")),
        )
    listed = extensions.get("x-ms-dynamic-list")
    if isinstance(listed, dict) and listed.get("operationId"):
        return Source(
            "choices",
            str(listed["operationId"]),
            _references(listed.get("parameters")),
            items=_path(listed.get("itemsPath")),
            value=_path(listed.get("itemValuePath")),
            label=_path(listed.get("itemTitlePath")),
        )
    for name, at in (
        ("x-ms-dynamic-schema", "value-path"),
        ("x-ms-dynamic-properties", "itemValuePath"),
    ):
        shape = extensions.get(name)
        if isinstance(shape, dict) and shape.get("operationId"):
            return Source(
                "dynamic_schema",
                str(shape["operationId"]),
                _references(shape.get("parameters")),
                at=_path(shape.get(at)),
            )
    return None


def link(
    source: Source,
    listing: str,
    listing_inputs: Mapping[str, str],
    own_inputs: Mapping[str, str],
) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``choices`` or ``dynamic_schema`` block, now that the operations are actions.

    ``listing`` is the action standing for the source's operation, ``listing_inputs`` its
    parameters' input keys; ``own_inputs`` those of the action whose input this is.
    """
    inputs, notes = _linked_inputs(source, listing_inputs, own_inputs)
    block: dict[str, Any] = {"action": listing}
    if inputs:
        block["inputs"] = inputs
    if source.kind == "choices":
        if not source.value:
            return None, [*notes, "the values' field (value-path) is not given"]
        if source.items:
            block["items"] = source.items
        block["value"] = source.value
        if source.label and source.label != source.value:
            block["label"] = source.label
    elif source.at:
        block["at"] = source.at
    return block, notes


def _linked_inputs(
    source: Source, listing_inputs: Mapping[str, str], own_inputs: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The listing action's inputs: constants, or templates over the action's own inputs."""
    notes: list[str] = []
    inputs: dict[str, Any] = {}
    for name, (kind, given) in source.parameters.items():
        target = listing_inputs.get(name)
        if target is None:
            notes.append(f"'{source.operation}' has no parameter '{name}': left out")
        elif kind == "value":
            inputs[target] = given
        elif str(given) in own_inputs:
            inputs[target] = "{" + own_inputs[str(given)] + "}"
        else:
            notes.append(f"the parameter '{given}' it refers to is not an input: left out")
    return inputs, notes
