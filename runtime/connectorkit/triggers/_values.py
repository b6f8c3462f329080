"""What a trigger reads of an item: its order, whether it matches, its id, its event.

Order values compare as their type says: a ``time`` is read as ISO 8601 (without a zone: UTC)
into microseconds since the epoch, a ``number`` as a number, ``text`` as written. A ``where``
condition holds when the item's field equals the value (any of them, for a list), text compared
without regard to case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidInput
from connectorkit.core._template import ABSENT, render_value
from connectorkit.operations._scope import Names, field_at

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.pack._triggers import OrderDef

__all__ = [
    "MICROS",
    "ItemScope",
    "event_id",
    "format_moment",
    "matches",
    "order_of",
    "parse_since",
    "rendered_conditions",
]

MICROS = 1_000_000
# A composite key longer than this is given as its digest: ids stay short and still stable.
_LONGEST_ID = 200
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ItemScope(Names):
    """The names a template over an item sees: the inputs, ``$item…`` and ``$parent…``."""

    __slots__ = ("_inputs", "_item", "_parent")

    def __init__(self, inputs: Mapping[str, Any], item: Any, parent: Any = None) -> None:
        self._inputs = inputs
        self._item = item
        self._parent = parent

    def get(self, key: str, default: Any = None) -> Any:
        """The value a placeholder names (``default`` when it has none)."""
        found: Any
        if key == "$item":
            found = self._item
        elif key.startswith("$item."):
            found = field_at(self._item, key[len("$item.") :])
        elif key == "$parent":
            found = self._parent
        elif key.startswith("$parent."):
            found = field_at(self._parent, key[len("$parent.") :])
        else:
            found = self._inputs.get(key)
        return default if found is None else found

    def listed(self) -> Mapping[str, Any]:
        """The inputs."""
        return self._inputs


def _moment(text: str) -> int | None:
    """Microseconds since the epoch of an ISO 8601 date-time (no zone: UTC), or ``None``."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * MICROS + delta.microseconds


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value))
    except ValueError:
        return None


def order_of(order: OrderDef, item: Any) -> Any:
    """The item's order value, comparable within its type; ``None`` when it has none."""
    value = field_at(item, order.by)
    if value is None or value == "":
        return None
    if order.type == "time":
        return _moment(value) if isinstance(value, str) else None
    if order.type == "number":
        return _number(value)
    return str(value)


def parse_since(order: OrderDef, text: str) -> Any:
    """The ``since`` input as an order value; refused naming the input when it is not one."""
    value = order_of(order, {order.by: text}) if order.by else None
    if value is None:
        wanted = {
            "time": "an ISO 8601 date-time such as 2024-05-01T00:00:00Z",
            "number": "a number",
            "text": "text",
        }[order.type]
        raise InvalidInput(
            f"input 'since' must be {wanted}, not {text!r}",
            details=[{"field": "since", "message": f"must be {wanted}"}],
        )
    return value


def format_moment(micros: int, how: str) -> str:
    """A moment written as a window's ``format`` says (``iso``: milliseconds and a Z)."""
    if how == "epoch_s":
        return str(micros // MICROS)
    if how == "epoch_ms":
        return str(micros // 1000)
    moment = _EPOCH + dt.timedelta(microseconds=micros)
    if how == "iso_seconds":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rendered_conditions(where: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The conditions of a ``where`` block over the inputs; one without a value is dropped."""
    out: dict[str, Any] = {}
    for field, template in where.items():
        value = render_value(template, inputs)
        if value is not ABSENT and value != []:
            out[field] = value
    return out


def _same(found: Any, wanted: Any) -> bool:
    if isinstance(found, str) and isinstance(wanted, str):
        return found.casefold() == wanted.casefold()
    if isinstance(found, bool) or isinstance(wanted, bool):
        return found is wanted
    return bool(found == wanted)


def matches(item: Any, conditions: Mapping[str, Any]) -> bool:
    """Whether every condition holds for ``item`` (a list value: any of its values)."""
    for field, wanted in conditions.items():
        found = field_at(item, field)
        options = wanted if isinstance(wanted, list) else [wanted]
        if not any(_same(found, option) for option in options):
            return False
    return True


def event_id(trigger: str, parts: list[Any]) -> str:
    """An event's id: the trigger and the item's identity, stable across polls and workers."""
    texts = [p if isinstance(p, str) else json.dumps(p, sort_keys=True) for p in parts]
    joined = "/".join(texts)
    if len(joined) > _LONGEST_ID:
        joined = hashlib.sha256(joined.encode()).hexdigest()[:40]
    return f"{trigger}:{joined}"
