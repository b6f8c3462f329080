"""Where an input's values, or the shape of its value, come from: another action of the pack.

``choices``: another action lists the values (``list_datasets`` → each item's ``id`` as the
value, its ``name`` as the label), given some of this action's inputs (the workspace chosen
first); ``dynamic_schema``: another action's answer says what the value holds (a row's fields,
from the chosen table's columns). An input definition keeps both blocks as written; they are
built into these definitions only when asked (``describe``, a choices request, the studio), so
a plain call never loads this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from connectorkit.core._template import placeholders

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from connectorkit.types._input import InputDef

__all__ = [
    "DEFAULT_LIMIT",
    "ChoicesDef",
    "ColumnsDef",
    "SchemaSourceDef",
    "SearchDef",
    "choices_of",
    "schema_source_of",
    "source_problems",
]

# The most choices one answer holds unless the pack says otherwise: a dropdown, not an export.
DEFAULT_LIMIT = 500
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _depends_on(inputs: Mapping[str, Any], *more: Any) -> tuple[str, ...]:
    """The inputs of the action being filled in that the templates name, in a stable order."""
    names: dict[str, None] = {}
    for template in (*inputs.values(), *more):
        for name in sorted(placeholders(template)):
            if not name.startswith("$"):
                names[name] = None
    return tuple(names)


@dataclass(frozen=True, slots=True)
class SearchDef:
    """The listing action's input that filters by the text typed (``value`` over ``{search}``)."""

    input: str
    value: str = "{search}"
    escape: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def render(self, text: str) -> str:
        """The listing input's value for ``text``, its special characters escaped."""
        for char, replacement in self.escape.items():
            text = text.replace(char, replacement)
        return self.value.replace("{search}", text)


@dataclass(frozen=True, slots=True)
class ChoicesDef:
    """An input whose values another action lists: each item's ``value`` and ``label`` fields."""

    action: str
    value: str
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    items: str = ""
    label: str | None = None
    search: SearchDef | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The inputs whose values the listing needs (the choices change when they do)."""
        return _depends_on(self.inputs)


@dataclass(frozen=True, slots=True)
class ColumnsDef:
    """Columns instead of a JSON Schema: each one's name and type fields, each type's schema."""

    types: Mapping[str, Mapping[str, Any]]
    name: str = "name"
    type: str = "type"


@dataclass(frozen=True, slots=True)
class SchemaSourceDef:
    """An input whose shape another action's answer gives.

    In the answer, the element of the list at ``items`` whose fields equal ``match`` (when
    given), then the value at ``at``: a JSON Schema, or with ``columns`` a list of columns.
    """

    action: str
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    items: str | None = None
    match: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    at: str = ""
    columns: ColumnsDef | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The inputs whose values the shape depends on (the table chosen, its dataset)."""
        return _depends_on(self.inputs, dict(self.match))


def choices_of(item: InputDef) -> ChoicesDef | None:
    """The choices an input declares, built from its checked ``choices`` block."""
    spec = item.choices
    if spec is None:
        return None
    search = spec.get("search")
    return ChoicesDef(
        action=str(spec["action"]),
        value=str(spec["value"]),
        inputs=MappingProxyType(dict(spec.get("inputs") or {})),
        items=str(spec.get("items") or ""),
        label=spec.get("label"),
        search=SearchDef(
            input=str(search["input"]),
            value=str(search.get("value") or "{search}"),
            escape=MappingProxyType(dict(search.get("escape") or {})),
        )
        if search
        else None,
        limit=int(spec.get("limit") or DEFAULT_LIMIT),
    )


def schema_source_of(item: InputDef) -> SchemaSourceDef | None:
    """The dynamic schema an input declares, built from its checked ``dynamic_schema`` block."""
    spec = item.dynamic_schema
    if spec is None:
        return None
    columns = spec.get("columns")
    return SchemaSourceDef(
        action=str(spec["action"]),
        inputs=MappingProxyType(dict(spec.get("inputs") or {})),
        items=spec.get("items"),
        match=MappingProxyType(dict(spec.get("match") or {})),
        at=str(spec.get("at") or ""),
        columns=ColumnsDef(
            types=MappingProxyType(dict(columns["types"])),
            name=str(columns.get("name") or "name"),
            type=str(columns.get("type") or "type"),
        )
        if columns
        else None,
    )


def source_problems(
    spec: Mapping[str, Any],
    listing: Mapping[str, frozenset[str] | None],
    own: frozenset[str] | None,
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """What a ``choices`` or ``dynamic_schema`` block gets wrong across files.

    ``listing``: each action of the pack with its input keys (``None``: its file does not
    parse); ``own``: the inputs of the action the block belongs to (``None`` for a shared
    definition, used by several actions).
    """
    action = spec.get("action")
    if not isinstance(action, str):
        return
    if action not in listing:
        yield ("action",), f"'{action}' is not an action of this pack"
        return
    keys = listing[action]
    if keys is None:
        return
    inputs = spec.get("inputs")
    for name in inputs if isinstance(inputs, dict) else ():
        if name not in keys:
            yield ("inputs", name), f"'{action}' has no input '{name}'"
    yield from _search_problems(spec.get("search"), action, keys)
    if own is None:
        return
    templates = [inputs if isinstance(inputs, dict) else {}, spec.get("match") or {}]
    for template in templates:
        for name in sorted(placeholders(template)):
            if name not in own and not name.startswith("$"):
                yield ("inputs",), f"'{{{name}}}' names no input of this action"


def _search_problems(
    search: Any, action: str, keys: frozenset[str]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if not isinstance(search, dict) or not isinstance(search.get("input"), str):
        return
    if search["input"] not in keys:
        yield ("search", "input"), f"'{action}' has no input '{search['input']}'"
    if "{search}" not in str(search.get("value", "{search}")):
        yield ("search", "value"), "the template never uses {search}, the text typed"
