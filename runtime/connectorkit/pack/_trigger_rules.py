"""The rules of a trigger that JSON Schema cannot say.

The actions it lists with exist and take the inputs it gives them; every template names
something that has a value where it is rendered (an input of the trigger, ``$parent`` when it
lists once per parent, ``$window`` when it has a window, ``$item`` where an item is at hand);
a window goes with a time order; what identifies an item is declared where a poll needs it.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from connectorkit.core._template import placeholders, template_strings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["trigger_problems"]

Where = tuple[str | int, ...]
_WINDOW = ("$window.start", "$window.end")
# Inputs the runtime gives an action of more than one request, which a listing may set.
_OPERATION_INPUTS = ("all_pages", "max_items", "continuation", "stream", "wait")


def trigger_problems(
    data: Mapping[str, Any],
    inputs: Mapping[str, Any],
    actions: Mapping[str, Mapping[str, Any]],
    shared: Mapping[str, Any],
) -> Iterator[tuple[Where, str]]:
    """``(where, message)`` for each mistake of a trigger document.

    ``inputs``: the trigger's inputs by key (call inputs and the poll's own included);
    ``actions``: the pack's action documents by key; ``shared``: connector.yaml's call inputs
    by key (every action takes them).
    """
    yield from _one_way(data)
    listing = data.get("list")
    if not isinstance(listing, dict):
        return
    yield from _one_source(listing)
    each = listing.get("each")
    has_parent = isinstance(each, dict)
    window = data.get("window")
    order = data.get("order")
    if listing.get("jobs") is not None:
        yield from _jobs(listing["jobs"], actions)
    if isinstance(listing.get("action"), str):
        names = [*inputs, *(_WINDOW if window is not None else ())]
        prefixes = ("$parent.",) if has_parent else ()
        yield from _listing(listing, ("list",), actions, shared, names, prefixes)
    if isinstance(each, dict):
        yield from _listing(each, ("list", "each"), actions, shared, list(inputs), ())
        yield from _where(each.get("where"), ("list", "each", "where"), inputs)
    yield from _item_templates(data, inputs, has_parent=has_parent)
    nxt = data.get("next")
    if isinstance(nxt, dict) and isinstance(nxt.get("url"), str):
        yield from _names(nxt["url"], ("next", "url"), ["$body"], ("$body.", "$headers."))
    yield from _order(order, window)
    if window is not None and isinstance(listing.get("inputs"), dict):
        used = {n for _, t in template_strings(listing["inputs"], ()) for n in placeholders(t)}
        if not used & set(_WINDOW):
            yield (
                ("window",),
                (
                    "the listing's inputs use neither {$window.start} nor {$window.end}: a "
                    "window they do not send bounds nothing"
                ),
            )


_WAYS = ("order", "changes", "next")


def _one_way(data: Mapping[str, Any]) -> Iterator[tuple[Where, str]]:
    """Exactly one way of telling what is new."""
    given = [w for w in _WAYS if w in data]
    if not given:
        yield (
            (),
            (
                "say how a poll tells new items from the rest: order (a field that orders "
                "them), changes (appeared or disappeared) or next (the service's own position)"
            ),
        )
    for extra in given[1:]:
        yield ((extra,), f"give one of {', '.join(_WAYS)}, not both {given[0]} and {extra}")


def _one_source(listing: Mapping[str, Any]) -> Iterator[tuple[Where, str]]:
    """A listing is an action's, or the push jobs': not both, not neither."""
    if "action" not in listing and "jobs" not in listing:
        yield (("list",), "name the action that lists the items (or jobs: a batch action)")
    if "jobs" in listing:
        for part in ("action", "inputs", "each", "items"):
            if part in listing:
                yield (("list", part), f"{part} goes with an action's listing, not with jobs")


def _item_templates(
    data: Mapping[str, Any], inputs: Mapping[str, Any], *, has_parent: bool
) -> Iterator[tuple[Where, str]]:
    """The templates rendered over an item: identity, event; where's values over inputs."""
    known = [*inputs, "$item"]
    prefixes = ("$item.", *(("$parent.",) if has_parent else ()))
    identity = data.get("identity")
    if "next" not in data and identity is None:
        yield ((), "identity is required: what identifies an item, so that none is given twice")
    for where, text in template_strings(identity, ("identity",)):
        yield from _names(text, where, known, prefixes)
    yield from _where(data.get("where"), ("where",), inputs)
    if "event" in data:
        for where, text in template_strings(data["event"], ("event",)):
            yield from _names(text, where, known, prefixes)


def _order(order: Any, window: Any) -> Iterator[tuple[Where, str]]:
    kind = order.get("type", "time") if isinstance(order, dict) else None
    if window is not None and kind != "time":
        yield (("window",), "a window goes with an order of type time")
    if isinstance(order, dict) and order.get("overlap_s") and kind != "time":
        yield (("order", "overlap_s"), "overlap_s is for an order of type time")


def _jobs(key: Any, actions: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[Where, str]]:
    action = actions.get(key) if isinstance(key, str) else None
    if action is None:
        yield (("list", "jobs"), _unknown_action(str(key), actions))
        return
    request = action.get("request")
    if not (isinstance(request, dict) and request.get("batch")):
        yield (("list", "jobs"), f"'{key}' is not a batch action: it makes no push jobs")


def _listing(  # noqa: PLR0917 - a block, where it is, and what it may name
    block: Mapping[str, Any],
    at: Where,
    actions: Mapping[str, Mapping[str, Any]],
    shared: Mapping[str, Any],
    names: Sequence[str],
    prefixes: tuple[str, ...],
) -> Iterator[tuple[Where, str]]:
    key = block.get("action")
    action = actions.get(key) if isinstance(key, str) else None
    if action is None:
        yield ((*at, "action"), _unknown_action(str(key), actions))
        return
    blocked = [b for b in ("long_running", "upload", "chunks", "stage") if b in action]
    if blocked:
        yield (
            (*at, "action"),
            f"'{key}' has {blocked[0]}: a poll lists with an action that answers at once",
        )
    given = block.get("inputs")
    if not isinstance(given, dict):
        return
    accepted = _action_inputs(action, shared)
    for name, template in given.items():
        if name not in accepted:
            near = difflib.get_close_matches(str(name), accepted, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            yield ((*at, "inputs", name), f"'{name}' is not an input of '{key}'{hint}")
        for where, text in template_strings(template, (*at, "inputs", name)):
            yield from _names(text, where, names, prefixes)


def _action_inputs(action: Mapping[str, Any], shared: Mapping[str, Any]) -> list[str]:
    """The keys an action takes: its own, the call inputs, those of its multi-request blocks."""
    keys = [
        str(entry.get("key") or entry.get("use"))
        for entry in action.get("inputs") or []
        if isinstance(entry, dict)
    ]
    return [*keys, *shared, *_OPERATION_INPUTS]


def _where(block: Any, at: Where, inputs: Mapping[str, Any]) -> Iterator[tuple[Where, str]]:
    if not isinstance(block, dict):
        return
    for field, template in block.items():
        for where, text in template_strings(template, (*at, field)):
            yield from _names(text, where, list(inputs), ())


def _names(
    text: str, at: Where, known: Sequence[str], prefixes: tuple[str, ...]
) -> Iterator[tuple[Where, str]]:
    for name in sorted(placeholders(text)):
        if name in known or name.startswith(prefixes):
            continue
        near = difflib.get_close_matches(name, list(known), n=1)
        hint = f"; did you mean '{{{near[0]}}}'?" if near else ""
        if name.startswith("$parent"):
            why = " ($parent is the item of list.each, which this trigger has not)"
        elif name.startswith("$window"):
            why = " ($window needs a window block)"
        else:
            why = ""
        yield (at, f"'{{{name}}}' has no value here{why}{hint}")


def _unknown_action(key: str, actions: Mapping[str, Any]) -> str:
    near = difflib.get_close_matches(key, list(actions), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    return f"'{key}' is not an action of this pack{hint}"
