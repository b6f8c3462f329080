"""What follows an operation's first request, from the document's extensions.

- `x-ms-pageable` (`nextLinkName`, `itemName`) becomes the action's `pages`: the list and the
  field holding the next page's URL.
- A 202 answer that is polled — the operation says `x-ms-long-running-operation: true` (or
  another extension the pack names in `openapi.long_running_flags`), or the pack says
  `openapi.follow_location: true` and the 202 declares or describes a `Location` — becomes
  `long_running`: poll the `Location`, honour
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


def pages(op: Operation) -> dict[str, Any] | None:
    """The `pages` block of a pageable operation whose pages link to the next one."""
    pageable = op.pageable
    if not pageable or not pageable.get("nextLinkName"):
        return None
    return {"items": str(pageable.get("itemName") or "value"), "next_url": pageable["nextLinkName"]}


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
    if isinstance(settings.get("status"), dict):
        block["status"] = {**LONG_RUNNING["status"], **settings["status"]}
    return block
