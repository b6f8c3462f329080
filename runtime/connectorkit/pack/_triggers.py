"""Triggers as a pack declares them (definitions only): what a poll lists, and what is new.

A trigger lists candidate items (an action of the pack, once or once per item of another list;
or the runtime's ledger of push jobs), knows what identifies an item, and says how a poll tells
the new ones from the rest: ``order`` (a high-water mark over a field, with the ids seen at it),
``changes`` (the ids listed now against those of the last poll), or ``next`` (the service keeps
the position and hands out the next poll's URL). The runtime that polls is
:mod:`connectorkit.triggers`; :func:`trigger_from` builds these from a checked YAML document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from connectorkit.types._input import InputDef

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MOST_PARENTS",
    "EachDef",
    "ListDef",
    "NextDef",
    "OrderDef",
    "TriggerDef",
    "WindowDef",
    "poll_inputs",
    "trigger_from",
]

DEFAULT_INTERVAL_S = 300
DEFAULT_MAX_EVENTS = 100
DEFAULT_MOST_PARENTS = 100
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EachDef:
    """The parents a listing runs once for: another action's items, filtered by ``where``."""

    action: str
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    items: str | None = None
    where: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    most: int = DEFAULT_MOST_PARENTS


@dataclass(frozen=True, slots=True)
class ListDef:
    """Where candidate items come from: an action (maybe once per parent), or push jobs."""

    action: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    # The field of an answer holding the list; None: the action's pages.items, else the body.
    items: str | None = None
    each: EachDef | None = None
    jobs: str | None = None  # the batch action whose push jobs are listed


@dataclass(frozen=True, slots=True)
class OrderDef:
    """A high-water mark over the item's field ``by``, compared as ``type``."""

    by: str
    type: Literal["time", "number", "text"] = "time"
    overlap_s: float = 0.0


@dataclass(frozen=True, slots=True)
class NextDef:
    """The service's own position: the next poll's URL from each answer; ``empty``: nothing new."""

    url: str
    empty: tuple[int, ...] = (202,)


@dataclass(frozen=True, slots=True)
class WindowDef:
    """The time window a listing takes (``$window.start``, ``$window.end``) and its limits."""

    span_s: int = 3600
    within_day: bool = False
    lookback_s: int | None = None
    format: Literal["iso", "iso_seconds", "epoch_s", "epoch_ms"] = "iso"


@dataclass(frozen=True, slots=True)
class TriggerDef:
    """One trigger: its inputs, its listing, and how a poll tells new items from the rest."""

    key: str
    label: str
    description: str
    inputs: tuple[InputDef, ...]
    list: ListDef
    file: Path
    identity: tuple[str, ...] = ()
    order: OrderDef | None = None
    changes: Literal["appeared", "disappeared"] | None = None
    next: NextDef | None = None
    window: WindowDef | None = None
    where: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    event: Any = None
    has_event: bool = False
    interval_s: int = DEFAULT_INTERVAL_S
    group: str | None = None
    examples: tuple[Mapping[str, Any], ...] = ()

    @property
    def mode(self) -> Literal["order", "changes", "next"]:
        """How a poll finds the new items."""
        if self.order is not None:
            return "order"
        if self.changes is not None:
            return "changes"
        return "next"

    def input(self, key: str) -> InputDef | None:
        """The input named ``key``, if declared."""
        return next((i for i in self.inputs if i.key == key), None)


def poll_inputs(order: OrderDef | None) -> tuple[InputDef, ...]:
    """The inputs the runtime gives every trigger: ``max_events``, and ``since`` when ordered."""
    made = [
        InputDef(
            key="max_events",
            label="Max Events",
            type="integer",
            minimum=1,
            maximum=1000,
            default=DEFAULT_MAX_EVENTS,
            comments="The most events one poll answers; the rest come with the next polls "
            "(the answer says more: true).",
        )
    ]
    if order is not None:
        written = {
            "time": "an ISO 8601 date-time such as 2024-05-01T00:00:00Z",
            "number": "a number",
            "text": "a value of the ordering field",
        }[order.type]
        made.insert(
            0,
            InputDef(
                key="since",
                label="Since",
                type="string",
                min_length=1,
                comments=f"The first poll of a subscription gives the items after this ("
                f"{written}) instead of starting from now. Later polls ignore it.",
            ),
        )
    return tuple(made)


def _templates(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def trigger_from(
    data: Mapping[str, Any], path: Path, inputs: list[InputDef], call_inputs: list[InputDef]
) -> TriggerDef:
    """A trigger from its checked document; ``inputs`` are its own, already resolved."""
    listing = data["list"]
    each = listing.get("each")
    order = data.get("order")
    nxt = data.get("next")
    window = data.get("window")
    order_def = (
        OrderDef(
            by=order["by"],
            type=order.get("type", "time"),
            overlap_s=float(order.get("overlap_s", 0)),
        )
        if order
        else None
    )
    declared = {i.key for i in inputs}
    added = [i for i in poll_inputs(order_def) if i.key not in declared]
    own = declared | {i.key for i in added}
    identity = data.get("identity") or ()
    return TriggerDef(
        key=data["key"],
        label=data["label"],
        description=data["description"],
        inputs=(*inputs, *added, *(c for c in call_inputs if c.key not in own)),
        list=ListDef(
            action=listing.get("action"),
            inputs=_templates(listing.get("inputs")),
            items=listing.get("items"),
            each=EachDef(
                action=each["action"],
                inputs=_templates(each.get("inputs")),
                items=each.get("items"),
                where=_templates(each.get("where")),
                most=int(each.get("most", DEFAULT_MOST_PARENTS)),
            )
            if each
            else None,
            jobs=listing.get("jobs"),
        ),
        file=path,
        identity=(identity,) if isinstance(identity, str) else tuple(identity),
        order=order_def,
        changes=data.get("changes"),
        next=NextDef(url=nxt["url"], empty=tuple(nxt.get("empty", (202,)))) if nxt else None,
        window=WindowDef(
            span_s=int(window.get("span_s", 3600)),
            within_day=bool(window.get("within_day", False)),
            lookback_s=window.get("lookback_s"),
            format=window.get("format", "iso"),
        )
        if window is not None
        else None,
        where=_templates(data.get("where")),
        event=data.get("event"),
        has_event="event" in data,
        interval_s=int(data.get("interval_s", DEFAULT_INTERVAL_S)),
        group=data.get("group"),
        examples=tuple(data.get("examples") or ()),
    )
