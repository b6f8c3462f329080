"""One poll of a subscription: its lease, its position, the listing, the new events.

:func:`poll` takes the subscription's lease, reads where it stands (or starts it: from now, or
from ``since``), lists the candidate items, and picks the new ones in order. It hands back the
answer and a ``settle`` to call once the answer is out: only then is the new position written
(and the lease given back), so an answer that never left can be asked for again and gives the
same events. A caller that already has a cursor (the token of an earlier answer) polls from it:
the events after it come again, with the same ids, which is how a platform that lost an answer
gets it back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidInput, InvalidRequest
from connectorkit.core._template import ABSENT, render_value
from connectorkit.operations._scope import Scope, field_at
from connectorkit.state._subscriptions import SubscriptionRef
from connectorkit.triggers._listing import Lister
from connectorkit.triggers._select import (
    Candidate,
    Selection,
    by_changes,
    by_order,
    by_window,
    first_by_order,
    position_token,
    window_span,
)
from connectorkit.triggers._values import (
    MICROS,
    ItemScope,
    event_id,
    format_moment,
    matches,
    order_of,
    parse_since,
    rendered_conditions,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from connectorkit.pack._triggers import TriggerDef
    from connectorkit.triggers._context import PollContext

__all__ = ["BUSY_AFTER_S", "KEPT_POSITIONS", "Polled", "inputs_digest", "poll"]

log = logging.getLogger("connectorkit")

# Positions a subscription keeps besides its current one: a poll may repeat from these.
KEPT_POSITIONS = 3
# How long a poll waits for another poll of its subscription to end before answering busy
# (short: the other's answer is held back until written, maybe behind this one in serve).
BUSY_AFTER_S = 2.0
# How long past its time budget a poll may hold the subscription while its answer goes out.
_SETTLE_MARGIN_S = 60.0
_UNBOUNDED_S = 300.0
# What a poll is told that changes nothing of what it follows.
_PER_POLL = frozenset({"since", "max_events"})


@dataclass(slots=True)
class Polled:
    """A poll's answer, and what to do once it was (or was not) delivered."""

    result: dict[str, Any]
    settle: Callable[[bool], None] = field(default=lambda _delivered: None)


def inputs_digest(trigger: TriggerDef, inputs: Mapping[str, Any]) -> str:
    """A digest of what a subscription follows: the trigger's own inputs (no call inputs)."""
    own = {
        i.key: inputs[i.key]
        for i in trigger.inputs
        if not i.call_input and i.key not in _PER_POLL and i.key in inputs
    }
    text = json.dumps(own, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def poll(
    ctx: PollContext,
    trigger: TriggerDef,
    inputs: Mapping[str, Any],
    subscription: str,
    cursor: str | None = None,
) -> Polled:
    """Poll ``subscription`` of ``trigger``: its new events, and the ``settle`` of the answer."""
    ref = SubscriptionRef(ctx.pack_key, trigger.key, subscription)
    store = ctx.subscriptions
    remaining = ctx.remaining()
    budget = remaining if remaining is not None else _UNBOUNDED_S
    # A poll under way elsewhere answers its events itself: this one waits a moment for it
    # to end (then goes on from where it left the subscription), else answers busy.
    wait = min(budget, BUSY_AFTER_S)
    owner = store.acquire(ref, ttl_s=budget + _SETTLE_MARGIN_S, wait_s=wait)
    if owner is None:
        record = store.read(ref)
        busy: dict[str, Any] = {"subscription": subscription, "events": [], "more": False}
        if record is not None:
            busy["cursor"] = record["cursor"]
        busy |= {"busy": True, "next_poll_s": trigger.interval_s}
        return Polled(busy)
    try:
        run = _Poll(ctx, trigger, inputs, subscription)
        record = store.read(ref)
        selection, result = run.answer(record, cursor)
        updated = run.record(record, selection.position)
    except BaseException:
        store.release(ref, owner)
        raise

    def settle(delivered: bool) -> None:
        try:
            if delivered:
                store.write(ref, updated)
        finally:
            store.release(ref, owner)

    return Polled(result, settle)


class _Poll:
    """One poll's work, between taking the lease and settling."""

    def __init__(
        self,
        ctx: PollContext,
        trigger: TriggerDef,
        inputs: Mapping[str, Any],
        subscription: str,
    ) -> None:
        self.ctx = ctx
        self.trigger = trigger
        self.inputs = inputs
        self.subscription = subscription
        self.digest = inputs_digest(trigger, inputs)
        self.most = int(inputs.get("max_events") or 1)
        self.next_poll_s = trigger.interval_s
        self.events_given = 0

    # -- the subscription's record ---------------------------------------------------------

    def _position(self, record: dict[str, Any] | None, cursor: str | None) -> dict[str, Any] | None:
        """Where this poll starts: the cursor given, the record's, or ``None`` (a first poll)."""
        if record is not None and record.get("inputs") != self.digest:
            raise InvalidRequest(
                f"the subscription {self.subscription!r} follows '{self.trigger.key}' with "
                "other inputs; a subscription follows one set of inputs: give these a new "
                "subscription id",
                details=[{"field": "subscription", "message": "follows other inputs"}],
            )
        if cursor is None:
            return None if record is None else dict(record["positions"][record["cursor"]])
        positions = (record or {}).get("positions") or {}
        if cursor not in positions:
            raise InvalidRequest(
                f"the cursor {cursor!r} is not one of the last {KEPT_POSITIONS + 1} positions "
                f"of the subscription {self.subscription!r}; poll without a cursor to go on "
                "from where it stands",
                details=[{"field": "cursor", "message": "is not a recent position"}],
            )
        return dict(positions[cursor])

    def record(self, record: dict[str, Any] | None, position: dict[str, Any]) -> dict[str, Any]:
        """The subscription's record after this poll (written once the answer is out)."""
        now = self.ctx.wall()
        token = position_token(position)
        old = record or {"created": now, "polls": 0, "events": 0, "positions": {}, "history": []}
        history = [t for t in old.get("history", []) if t != token][-KEPT_POSITIONS:]
        history.append(token)
        positions = {t: old["positions"][t] for t in history[:-1] if t in old["positions"]}
        positions[token] = position
        return {
            "trigger": self.trigger.key,
            "inputs": self.digest,
            "created": old["created"],
            "updated": now,
            "polls": int(old.get("polls", 0)) + 1,
            "events": int(old.get("events", 0)) + self.events_given,
            "cursor": token,
            "history": history,
            "positions": positions,
        }

    # -- the answer ------------------------------------------------------------------------

    def answer(
        self, record: dict[str, Any] | None, cursor: str | None
    ) -> tuple[Selection, dict[str, Any]]:
        """The selection of new events, and the poll's result."""
        position = self._position(record, cursor)
        first = position is None and cursor is None
        mode = self.trigger.mode
        if mode == "order":
            selection = self._ordered(position)
        elif mode == "changes":
            selection = self._changes(position)
        else:
            selection = self._next(position)
        self.events_given = len(selection.events)
        result: dict[str, Any] = {
            "subscription": self.subscription,
            "events": [self._event(c) for c in selection.events],
            "cursor": position_token(selection.position),
            "more": selection.more,
            "next_poll_s": 0 if selection.more else self.next_poll_s,
        }
        if first:
            result["first"] = True
        return selection, result

    def _event(self, candidate: Candidate) -> dict[str, Any]:
        out: dict[str, Any] = {"id": candidate.id}
        if candidate.at is not None:
            out["at"] = candidate.at
        out["data"] = candidate.event
        return out

    def _candidates(self, listed: Iterable[tuple[Any, Any]]) -> list[Candidate]:
        """The listed items that match ``where``, identified, ordered and made events."""
        trigger = self.trigger
        wanted = rendered_conditions(trigger.where, self.inputs)
        order = trigger.order
        out: list[Candidate] = []
        skipped = 0
        for item, parent in listed:
            if not matches(item, wanted):
                continue
            scope = ItemScope(self.inputs, item, parent)
            parts = [render_value(t, scope) for t in trigger.identity]
            if ABSENT in parts:
                skipped += 1
                continue
            event = render_value(trigger.event, scope) if trigger.has_event else item
            out.append(
                Candidate(
                    id=event_id(trigger.key, parts),
                    order=order_of(order, item) if order is not None else None,
                    at=field_at(item, order.by) if order is not None else None,
                    event=None if event is ABSENT else event,
                )
            )
        if skipped:
            log.warning(
                "%s: %d listed items have no identity (%s); they are left out",
                trigger.key,
                skipped,
                ", ".join(trigger.identity),
            )
        return out

    # -- each way of telling what is new ---------------------------------------------------

    def _ordered(self, position: dict[str, Any] | None) -> Selection:
        order = self.trigger.order
        assert order is not None  # noqa: S101 - an ordered trigger
        overlap = int(order.overlap_s * MICROS) if order.type == "time" else 0
        if self.trigger.window is not None:
            return self._windowed(position, overlap)
        if position is None:
            since = self.inputs.get("since")
            if since is None:
                listed = self._candidates(Lister(self.ctx, self.trigger.list, self.inputs).items())
                return Selection([], first_by_order(listed, overlap))
            position = {"mark": parse_since(order, str(since)), "seen": {}}
        listed = self._candidates(Lister(self.ctx, self.trigger.list, self.inputs).items())
        return by_order(listed, position, self.most, overlap)

    def _windowed(self, position: dict[str, Any] | None, overlap: int) -> Selection:
        window, order = self.trigger.window, self.trigger.order
        assert window is not None  # noqa: S101 - a windowed trigger
        assert order is not None  # noqa: S101 - a windowed trigger is ordered
        step = MICROS if window.format in {"iso_seconds", "epoch_s"} else 1000
        now = int(self.ctx.wall() * MICROS) // step * step
        oldest = now - window.lookback_s * MICROS if window.lookback_s else None
        if position is None:
            since = self.inputs.get("since")
            if since is None:  # from now: nothing to ask the service yet
                return Selection([], {"from": now + step, "seen": {}, "origin": now + step})
            start = parse_since(order, str(since))
            if oldest is not None and start < oldest:
                raise InvalidInput(
                    f"input 'since' is older than the {window.lookback_s} s the service keeps",
                    details=[{"field": "since", "message": "is too old for the service"}],
                )
            origin = -(-start // step) * step
            position = {"from": origin, "seen": {}, "origin": origin}
        begin = int(position["from"])
        # Never before the subscription began (an overlap would reach back past it).
        floors = [f for f in (oldest, position.get("origin")) if f is not None]
        start, end = window_span(
            begin,
            now,
            span=window.span_s * MICROS,
            step=step,
            overlap=overlap,
            within_day=window.within_day,
            oldest=max(floors) if floors else None,
        )
        if end < begin:
            return Selection([], position)
        names = {
            **self.inputs,
            "$window.start": format_moment(start, window.format),
            "$window.end": format_moment(end, window.format),
        }
        listed = self._candidates(Lister(self.ctx, self.trigger.list, names).items())
        return by_window(
            listed,
            position,
            self.most,
            window=(start, end),
            overlap=overlap,
            step=step,
            cut_short=end < now,
        )

    def _changes(self, position: dict[str, Any] | None) -> Selection:
        listed = self._candidates(Lister(self.ctx, self.trigger.list, self.inputs).items())
        if position is None:
            return Selection([], {"known": {c.id: c.event for c in listed}})
        appeared = self.trigger.changes == "appeared"
        return by_changes(listed, position, self.most, appeared=appeared)

    def _next(self, position: dict[str, Any] | None) -> Selection:
        nxt = self.trigger.next
        assert nxt is not None  # noqa: S101 - a trigger of the service's own position
        url = (position or {}).get("url")
        skip = int((position or {}).get("skip", 0))
        response, items = Lister(self.ctx, self.trigger.list, self.inputs).answer(url)
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.isdigit():
            self.next_poll_s = int(retry_after)
        if response.status_code in nxt.empty:
            items = []
        following = render_value(nxt.url, Scope({}, response))
        after = following if isinstance(following, str) and following else url
        listed = self._candidates((item, None) for item in items)
        if not self.trigger.identity:
            where = url or "first"
            listed = [
                Candidate(_positional_id(self.trigger.key, where, n), None, None, c.event)
                for n, c in enumerate(listed)
            ]
        given = listed[skip : skip + self.most]
        if skip + self.most < len(listed):
            return Selection(given, {"url": url, "skip": skip + self.most}, more=True)
        return Selection(given, {"url": after, "skip": 0})


def _positional_id(trigger: str, url: str, index: int) -> str:
    """The id of the ``index``-th item of the answer at ``url`` (no identity declared)."""
    digest = hashlib.sha256(f"{url}#{index}".encode()).hexdigest()[:24]
    return f"{trigger}:{digest}"
