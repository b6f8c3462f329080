"""What an imported operation does beyond one request, as far as its document says.

Pages, from the operation's shape: ``x-ms-pageable`` (the next link's field, the items'
field); else a response holding a next link (``@odata.nextLink``, ``continuationUri``) beside
a list; else ``$skip`` and ``$top`` query parameters (offsets, a page as large as ``$top``
allows). A long-running operation is declared only where the document says how to follow it
(``x-ms-long-running-operation``: a 202 whose ``Location`` is polled, as the extension's
convention says); a bare 202 is noted for the author, who writes the ``long_running`` block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectorkit.authoring.openapi._spec import Operation

__all__ = ["long_running_of", "multistep_of", "pages_of"]

_NEXT_LINKS = ("@odata.nextLink", "odata.nextLink", "nextLink", "continuationUri")
# A page size when the document gives $top no maximum.
_DEFAULT_PAGE = 1000


def _list_field(response: dict[str, Any] | None) -> str | None:
    """The one list a response object holds (``value`` when it is among several)."""
    if not response or response.get("type") not in (None, "object"):
        return None
    lists = [
        name
        for name, schema in (response.get("properties") or {}).items()
        if isinstance(schema, dict) and schema.get("type") == "array"
    ]
    if len(lists) == 1:
        return str(lists[0])
    return "value" if "value" in lists else None


def pages_of(op: Operation) -> dict[str, Any] | None:
    """The ``pages`` block of an operation whose answer is one page, else ``None``."""
    pageable = op.extensions.get("x-ms-pageable")
    if isinstance(pageable, dict):
        link = pageable.get("nextLinkName")
        if not link:
            return None  # x-ms-pageable with no next link: one page holds everything
        return {"items": str(pageable.get("itemName") or "value"), "next_url": str(link)}
    items = _list_field(op.response)
    if items is None:
        return None
    properties = (op.response or {}).get("properties") or {}
    link = next((n for n in _NEXT_LINKS if n in properties), None)
    if link is not None:
        return {"items": items, "next_url": link}
    query = {p.name: p for p in op.parameters if p.location == "query"}
    if "$skip" in query and "$top" in query:
        maximum = query["$top"].schema.get("maximum")
        size = int(maximum) if isinstance(maximum, int | float) else _DEFAULT_PAGE
        return {"items": items, "offset": {"query": "$skip", "size_query": "$top", "size": size}}
    return None


def long_running_of(op: Operation) -> dict[str, Any] | None:
    """The ``long_running`` block of an operation the document marks long-running, else ``None``.

    The extension's convention: a 202 whose ``Location`` (or ``Operation-Location``) is polled
    until its ``status`` ends; the result, when there is one, is at the last poll's
    ``Location``.
    """
    if not op.extensions.get("x-ms-long-running-operation"):
        return None
    options = op.extensions.get("x-ms-long-running-operation-options") or {}
    via = str(options.get("final-state-via") or "location") if isinstance(options, dict) else ""
    where = (
        "{$headers.Operation-Location|$headers.Location}"
        if via == "operation-location"
        else "{$headers.Location}"
    )
    return {
        "keep": {"location": where},
        "poll": {"url": "{location}"},
        "status": {
            "at": "status",
            "running": ["NotStarted", "Running", "InProgress"],
            "succeeded": ["Succeeded"],
            "failed": ["Failed"],
            "cancelled": ["Canceled", "Cancelled"],
        },
        "progress": "percentComplete",
        "error": "error",
        "result": {"url": "{$headers.Location}"},
    }


def multistep_of(op: Operation) -> dict[str, Any]:
    """The ``pages`` and ``long_running`` blocks of an operation, those its document gives."""
    found: dict[str, Any] = {}
    pages = pages_of(op)
    if pages is not None:
        found["pages"] = pages
    running = long_running_of(op)
    if running is not None:
        found["long_running"] = running
    return found
