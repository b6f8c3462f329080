"""What follows an operation's first request, from the document's extensions.

- `x-ms-pageable` (`nextLinkName`, `itemName`) becomes the action's `pages`: the list and the
  field holding the next page's URL. Without it, the answer's shape says it: a list beside a
  next link (`@odata.nextLink`, `continuationUri`), or a list and the query parameters `$skip`
  and `$top` (offsets, pages as large as `$top` allows).
- A 202 answer that is polled — the operation says `x-ms-long-running-operation: true` (or
  another extension the pack names in `openapi.long_running_flags`), or the pack says
  `openapi.follow_location: true` and the 202 declares or describes a `Location` — becomes
  `long_running`: poll the `Location` (the `Operation-Location` when the options say the final
  state is found there), honour
  `Retry-After`, read the status words, then fetch the result at the `Location` the last poll
  gives (when it gives one; else the last poll's body is the result).

The status words default to those of the long-running operation convention the `x-ms-`
extensions belong to; a pack changes any part with `openapi.long_running` in connector.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.authoring.openapi._spec import Operation

__all__ = ["FLAGS", "LONG_RUNNING", "long_running", "pages"]

FLAGS = ("x-ms-long-running-operation",)

LONG_RUNNING: dict[str, Any] = {
    "started": [202],
    "keep": {"location": "{$headers.Location}"},
    "poll": {"url": "{location}"},
    "status": {
        "at": "status",
        "running": ["NotStarted", "Running", "InProgress", "Undefined"],
        "succeeded": ["Succeeded", "Completed"],
        "failed": ["Failed"],
        "cancelled": ["Canceled", "Cancelled"],
    },
    "progress": "percentComplete",
    "error": "error",
    "result": {"url": "{$headers.Location}"},
}


_NEXT_LINKS = ("@odata.nextLink", "odata.nextLink", "nextLink", "continuationUri")
# A page's size when the document gives `$top` no maximum.
_DEFAULT_PAGE = 1000


def pages(op: Operation) -> dict[str, Any] | None:
    """The `pages` block of an operation whose answer is one page of a list, else None."""
    pageable = op.pageable
    if pageable is not None:
        if not pageable.get("nextLinkName"):
            return None  # pageable, with no next link: one page holds everything
        named = str(pageable.get("itemName") or "value")
        return {"items": named, "next_url": str(pageable["nextLinkName"])}
    items = _list_field(op.response)
    if items is None:
        return None
    properties = (op.response or {}).get("properties") or {}
    link = next((name for name in _NEXT_LINKS if name in properties), None)
    if link is not None:
        return {"items": items, "next_url": link}
    query = {p.name: p for p in op.parameters if p.location == "query"}
    if "$skip" in query and "$top" in query:
        maximum = query["$top"].schema.get("maximum")
        size = int(maximum) if isinstance(maximum, int | float) else _DEFAULT_PAGE
        return {"items": items, "offset": {"query": "$skip", "size_query": "$top", "size": size}}
    return None


def _list_field(response: Mapping[str, Any] | None) -> str | None:
    """The one list an answer object holds (`value` when it is among several)."""
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


def long_running(
    op: Operation,
    settings: Mapping[str, Any],
    *,
    follow_location: bool = False,
    flags: tuple[str, ...] = FLAGS,
) -> dict[str, Any] | None:
    """The `long_running` block of an operation whose 202 is followed, `settings` over it."""
    located = follow_location and op.accepted_location
    flagged = any(op.extensions.get(flag) is True for flag in flags)
    if "202" not in op.statuses or not (flagged or located):
        return None
    block = {**LONG_RUNNING, **settings}
    options = op.extensions.get("x-ms-long-running-operation-options")
    if isinstance(options, dict) and options.get("final-state-via") == "operation-location":
        block["keep"] = {"location": "{$headers.Operation-Location|$headers.Location}"}
    if isinstance(settings.get("status"), dict):
        block["status"] = {**LONG_RUNNING["status"], **settings["status"]}
    return block
