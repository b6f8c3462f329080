"""An operation marked ``x-ms-trigger`` as a trigger of the pack, where its shape allows.

Power Automate polls a *polling trigger* as a GET whose every answer (200 with what is new, 202
with nothing) carries a ``Location``: the URL of the next poll, the service's position in its
query. That is the ``next`` way of a connectorkit trigger: the listing action is the one
imported from the same operation, and the service's own state parameters
(``x-ms-visibility: internal``) are left to the ``Location``. A *webhook trigger* (a parameter
that takes the platform's callback URL, ``x-ms-notification-url``, or a request other than a
GET) asks the service to call out; connectorkit triggers poll, so it is not imported, and the
reason says why. :func:`trigger_of` makes the trigger's document, or gives that reason.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from connectorkit.authoring.openapi._spec import Operation

__all__ = ["WEBHOOK", "trigger_of", "webhook_ids"]

WEBHOOK = "webhook trigger (x-ms-notification-url): connectorkit triggers poll"
_NOT_GET = "trigger sent as {method}, not a GET: connectorkit triggers poll with a GET"
_NO_LIST = "batch trigger: no list in its answer"
_KINDS = ("batch", "single")


def trigger_of(
    operation: Operation,
    action_key: str,
    inputs: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    *,
    webhook: bool = False,
) -> tuple[dict[str, Any] | None, str | None]:
    """The trigger document of ``operation``, or ``None`` and why it cannot be one.

    ``action_key`` and ``inputs`` are those of the action imported from the same operation;
    ``names`` maps each of its parameters to the input key it became; ``webhook``: the
    document marks one of its parameters ``x-ms-notification-url`` (see :func:`webhook_ids`).
    """
    if webhook or _is_webhook(operation):
        return None, WEBHOOK
    if operation.method.upper() != "GET":
        return None, _NOT_GET.format(method=operation.method.upper())
    kind = str(operation.extensions.get("x-ms-trigger") or "").lower()
    if kind not in _KINDS:
        return None, f"x-ms-trigger {kind or '?'!r} is neither batch nor single"
    items = "" if kind == "single" else _list_field(operation.response)
    if items is None:
        return None, _NO_LIST
    internal = {
        names.get(p.name, p.name)
        for p in operation.parameters
        if str(p.extensions.get("x-ms-visibility") or "").lower() == "internal"
    }
    kept = [dict(i) for i in inputs if _key(i) is not None and _key(i) not in internal]
    hint = str(operation.extensions.get("x-ms-trigger-hint") or "").strip()
    label = _sentence(operation.summary) or hint or operation.id
    listing: dict[str, Any] = {"action": action_key}
    kept_keys = [k for k in (_key(i) for i in kept) if k is not None]
    if kept_keys:
        listing["inputs"] = {k: f"{{{k}}}" for k in kept_keys}
    listing["items"] = items
    data: dict[str, Any] = {
        "key": _snake(operation.summary) or _snake(hint) or _snake(operation.id) or action_key,
        "label": label,
        "description": _sentence(operation.description) or label,
    }
    if kept:
        data["inputs"] = kept
    data["list"] = listing
    data["next"] = {"url": "{$headers.Location}", "empty": [202]}
    return data, None


def _key(entry: Mapping[str, Any]) -> str | None:
    """An action input's key (``use`` of a shared definition, else ``key``)."""
    value = entry.get("key", entry.get("use"))
    return str(value) if value else None


def _is_webhook(operation: Operation) -> bool:
    """A parameter (or a property of the body) takes the platform's callback URL."""
    for parameter in operation.parameters:
        if parameter.extensions.get("x-ms-notification-url"):
            return True
        if parameter.location == "body":
            properties = parameter.schema.get("properties")
            if isinstance(properties, dict) and any(
                isinstance(p, dict) and p.get("x-ms-notification-url") for p in properties.values()
            ):
                return True
    return False


def webhook_ids(raw: Mapping[str, Any]) -> set[str]:
    """The operationIds of a document's webhook triggers (``x-ms-notification-url``).

    The mark is on a parameter, or on a property of the body's schema (a local ``$ref``
    followed).

    Read from the document as written: the schemas an :class:`Operation` holds keep only the
    extensions the importer uses.
    """
    found: set[str] = set()
    paths = raw.get("paths")
    for item in paths.values() if isinstance(paths, dict) else ():
        for op in item.values() if isinstance(item, dict) else ():
            if not isinstance(op, dict) or not op.get("x-ms-trigger"):
                continue
            for given in op.get("parameters") or []:
                parameter = _local(raw, given)
                schema = _local(raw, parameter.get("schema"))
                properties = schema.get("properties")
                marked = [
                    parameter,
                    *(properties.values() if isinstance(properties, dict) else ()),
                ]
                if any(isinstance(p, dict) and p.get("x-ms-notification-url") for p in marked):
                    found.add(str(op.get("operationId") or ""))
    return found


def _local(raw: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """``value``, or what its local ``$ref`` (``#/definitions/X``) names; ``{}`` otherwise."""
    for _ in range(8):  # a chain of references, not a loop
        if not isinstance(value, dict):
            return {}
        ref = value.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return value
        target: Any = raw
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        value = target
    return {}


def _list_field(schema: dict[str, Any] | None) -> str | None:
    """Where a batch answer holds its items: ``""`` (it is a list), its one list field, or None."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "array":
        return ""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    lists = [
        name
        for name, value in properties.items()
        if isinstance(value, dict) and value.get("type") == "array"
    ]
    return lists[0] if len(lists) == 1 else None


def _snake(text: str) -> str:
    """A trigger key from a summary, a hint or an operationId (``When a file is created``)."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+", text)
    key = "_".join(w.lower() for w in words)[:80].rstrip("_")
    return key if key[:1].isalpha() else ""


def _sentence(text: str) -> str:
    """Prose of the document on one line."""
    return " ".join(str(text or "").split())
