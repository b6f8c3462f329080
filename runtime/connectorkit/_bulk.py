"""Honest accounting of a batched push: which rows are committed, unknown, failed, not sent.

A batch is ``committed`` when the service said so, ``failed`` when the service refused it in a
way that means it did no work (a 4xx, a 429, a connection that never opened), and ``unknown``
when the service may have done the work without saying so: the connection broke after the
request left, the budget ran out while the answer was awaited, a 5xx (not 501/503) came back,
or an earlier attempt of the batch ended that way. Batches after the first one that is not
committed are ``not_sent``.

``resume_from`` never points before a committed row nor into an unknown batch: it is the first
row of the tail that is certainly not stored (a failed batch's first row, or the row after an
unknown batch). Re-sending ``rows[resume_from:]`` can neither double nor lose a row of
that tail; the rows of an ``unknown`` range need checking at the service before they are sent
again, and the message says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from connectorkit._errors import PartialFailure

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connectorkit._errors import ConnectorError

__all__ = ["Fate", "partial_failure"]

Fate = Literal["failed", "unknown"]


def _ranges(entries: Sequence[dict[str, Any]]) -> dict[str, list[list[int]]]:
    ranges: dict[str, list[list[int]]] = {
        "committed": [],
        "unknown": [],
        "failed": [],
        "not_sent": [],
    }
    for entry in entries:
        start, end = entry["first"], entry["first"] + entry["count"]
        spans = ranges[entry["status"]]
        if spans and spans[-1][1] == start:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return ranges


def partial_failure(
    name: str,
    chunks: Sequence[tuple[int, int]],
    stopped: int,
    fate: Fate,
    cause: ConnectorError,
) -> PartialFailure:
    """The error of a push that stopped at batch ``stopped`` (0-based) of ``chunks``.

    ``chunks`` holds each batch's ``(first row, row count)``.
    """
    details: list[dict[str, Any]] = []
    for index, (first, count) in enumerate(chunks):
        entry: dict[str, Any] = {"batch": index + 1, "first": first, "count": count}
        if index < stopped:
            entry["status"] = "committed"
        elif index == stopped:
            entry["status"] = fate
            entry["error"] = cause.to_dict()
        else:
            entry["status"] = "not_sent"
        details.append(entry)
    ranges = _ranges(details)
    total = sum(count for _, count in chunks)
    committed = sum(e["count"] for e in details if e["status"] == "committed")
    first, count = chunks[stopped]
    resume_from = first + count if fate == "unknown" else first
    if fate == "unknown":
        advice = (
            f"{name}[{first}:{first + count}] may or may not have been committed (check at the "
            f"service before sending them again); {name}[{resume_from}:] were never sent"
        )
    else:
        advice = f"{name}[{resume_from}:] were not committed: send them again"
    return PartialFailure(
        f"{committed} of {total} {name} committed in {stopped} of {len(chunks)} batches, then "
        f"batch {stopped + 1} {'ended without a clear outcome' if fate == 'unknown' else 'failed'}"
        f": {cause.message}; {advice}",
        details=details,
        committed=committed,
        total=total,
        resume_from=resume_from,
        ranges=ranges,
    )
