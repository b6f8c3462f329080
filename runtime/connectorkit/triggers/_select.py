"""Which listed items are new, and the position a poll leaves: pure functions of both.

A position is plain JSON, kept in the subscription's record under a token made from its
content (the same position has the same token, wherever it was computed).

- ``order`` without a window: ``{"mark", "seen"}``. An item is new when its order is at least
  the mark (less the overlap) and its id was not seen. The mark becomes the highest order
  given; ``seen`` keeps the ids given at or above it (less the overlap), so items sharing the
  mark's timestamp are each given once, and one that comes later at that timestamp too.
- ``order`` with a window: ``{"from", "seen", "origin"}``. The service was asked for
  everything from ``from`` (less the overlap, never before ``origin``, where the subscription
  began) to the window's end, so an item it answers is new unless seen. ``from`` moves past the
  window's end, or, when a poll stopped at ``max_events``, to the order of the last item given
  (the rest, at or after it, come next).
- ``changes``: ``{"known": {id: event}}``, the items of the last poll; an item is new when it
  is listed and not known (``appeared``), or known and no longer listed (``disappeared``:
  its event is the one made when it was last listed).
- ``next``: ``{"url", "skip"}``, the service's own position; every item of its answer is new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Candidate",
    "Selection",
    "by_changes",
    "by_order",
    "by_window",
    "first_by_order",
    "position_token",
    "window_span",
]

# An item's time may be written to the second while the window's bounds are finer: the ids
# of the second before the next window are kept too.
SLACK_US = 1_000_000
_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A listed item: its event id, its order (comparable; ``None``: none), its event."""

    id: str
    order: Any
    at: Any
    event: Any


@dataclass(slots=True)
class Selection:
    """The events of a poll, the position after them, and whether more are waiting."""

    events: list[Candidate]
    position: dict[str, Any]
    more: bool = False


def position_token(position: dict[str, Any]) -> str:
    """The cursor token of a position: a digest of its content."""
    text = json.dumps(position, sort_keys=True, separators=(",", ":"))
    return "c" + hashlib.sha256(text.encode()).hexdigest()[:20]


def _unique(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates without a repeated id (a list may hold an item twice): the first kept."""
    seen: set[str] = set()
    out = []
    for candidate in candidates:
        if candidate.id not in seen:
            seen.add(candidate.id)
            out.append(candidate)
    return out


def _key(candidate: Candidate) -> tuple[Any, str]:
    return (candidate.order, candidate.id)


def _floor(mark: Any, overlap: float) -> Any:
    """The lowest order still compared with what was seen (text has no overlap)."""
    return mark if mark is None or not overlap else mark - overlap


def first_by_order(candidates: list[Candidate], overlap: float) -> dict[str, Any]:
    """The position of a first poll "from now": everything listed now is behind it."""
    ordered = [c for c in candidates if c.order is not None]
    mark = max((c.order for c in ordered), default=None)
    floor = _floor(mark, overlap)
    seen = {c.id: c.order for c in ordered if floor is not None and c.order >= floor}
    return {"mark": mark, "seen": seen}


def by_order(
    candidates: list[Candidate], position: dict[str, Any], most: int, overlap: float
) -> Selection:
    """The new items after a mark, oldest first, at most ``most``."""
    mark = position.get("mark")
    floor = _floor(mark, overlap)
    seen: dict[str, Any] = dict(position.get("seen") or {})
    new = sorted(
        (
            c
            for c in _unique(candidates)
            if c.order is not None and (floor is None or c.order >= floor) and c.id not in seen
        ),
        key=_key,
    )
    given = new[:most]
    if given:
        top = given[-1].order
        mark = top if mark is None else max(mark, top)
    kept = {**seen, **{c.id: c.order for c in given}}
    floor = _floor(mark, overlap)
    seen = {i: o for i, o in kept.items() if floor is None or o >= floor}
    return Selection(given, {"mark": mark, "seen": seen}, more=len(new) > most)


def by_window(
    candidates: list[Candidate],
    position: dict[str, Any],
    most: int,
    *,
    window: tuple[int, int],
    overlap: int,
    step: int,
    cut_short: bool,
) -> Selection:
    """The new items the service answered for ``window`` (``(start, end)``, both included).

    ``step``: the finest moment the window's bounds can say (1 ms, or 1 s); ``cut_short``: the
    window ended before now (at the day's end, or its longest span). When the poll stops at
    ``most``, the next window starts at the last item given (or this one's start, if later):
    the items left, at or after it, were all answered by this window.
    """
    start, end = window
    seen: dict[str, Any] = dict(position.get("seen") or {})
    new = sorted(
        (c for c in _unique(candidates) if c.order is not None and c.id not in seen), key=_key
    )
    given = new[:most]
    stopped = len(new) > most
    following = max(given[-1].order, start) if stopped else end + step
    kept = {**seen, **{c.id: c.order for c in given}}
    floor = following - overlap - SLACK_US
    after = {"from": following, "seen": {i: o for i, o in kept.items() if o >= floor}}
    if "origin" in position:
        after["origin"] = position["origin"]
    return Selection(given, after, more=stopped or cut_short)


def by_changes(
    candidates: list[Candidate],
    position: dict[str, Any],
    most: int,
    *,
    appeared: bool,
) -> Selection:
    """Items listed now and not before (``appeared``), or before and not now."""
    known: dict[str, Any] = dict(position.get("known") or {})
    listed = _unique(candidates)
    if appeared:
        new = [c for c in listed if c.id not in known]
        given = new[:most]
        taken = {c.id for c in given}
        after = {c.id: c.event for c in listed if c.id in known or c.id in taken}
        return Selection(given, {"known": after}, more=len(new) > most)
    present = {c.id for c in listed}
    gone = [Candidate(i, None, None, event) for i, event in known.items() if i not in present]
    given = gone[:most]
    left = {c.id: c.event for c in gone[most:]}
    after = {**left, **{c.id: c.event for c in listed}}
    return Selection(given, {"known": after}, more=len(gone) > most)


def window_span(
    begin: int,
    now: int,
    *,
    span: int,
    step: int,
    overlap: int,
    within_day: bool,
    oldest: int | None,
) -> tuple[int, int]:
    """The window a poll asks for, ``(start, end)`` in microseconds, both included.

    It goes on from ``begin`` (less the overlap), to now at most, at most ``span`` long, within
    one UTC day when asked, and no older than ``oldest``. ``end < begin``: nothing to ask yet.
    """
    end = min(now, begin + span - step)
    start = begin - overlap
    if within_day:
        day = begin // _DAY_US * _DAY_US
        end = min(end, day + _DAY_US - step)
        start = max(start, day)
    if oldest is not None:
        start = max(start, oldest)
    return start, end
