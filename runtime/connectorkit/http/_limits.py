"""Rate budgets declared by a pack, taken from the shared store before a request is sent.

Every worker using the same store (SQLite on one machine, Redis across machines) charges the
same windows, so together they stay inside the service's limits and, in normal operation, no
429 ever comes back. When a budget has no room, the request waits for it — unless the wait is
longer than the call's remaining time budget (or, for a call without one, than
``DEFAULT_MAX_WAIT_S``): then the call ends at once with ``rate_limited`` and ``retry_after``.
A 429 that arrives anyway is handled by the retry policy as before.

Each window is kept a margin longer than declared, because the service counts a request when it
has taken it in (for rows: once they are stored), which is up to a whole request later than the
moment the budget was taken here, and the next window must not open before the service's does.
The margin is ``WINDOW_MARGIN_S``, or 1.5 times the slowest of the last requests this process
saw through to the end if that is longer (at most 5 % of the window): a push whose requests
take two seconds must not start the next hour two seconds before the service does.
``CONNECTORKIT_LIMITS_TIME_SCALE`` divides every window, to match an emulator whose clocks run
faster (``connectorkit emulator --time-scale``).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from connectorkit.core._errors import BUDGET_ENDPOINT, RateLimited
from connectorkit.core._settings import settings
from connectorkit.state import Window, _keys

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.pack._budgets import BudgetDef
    from connectorkit.state import State

__all__ = ["DEFAULT_MAX_WAIT_S", "TIME_SCALE_ENV", "WINDOW_MARGIN_S", "Limiter", "Ticket"]

DEFAULT_MAX_WAIT_S = 60.0
WINDOW_MARGIN_S = 0.25
_MARGIN_FACTOR = 1.5  # times the slowest recent request
_MARGIN_SHARE = 0.05  # of the window, at most
_RECENT = 64  # requests remembered for the margin
TIME_SCALE_ENV = "CONNECTORKIT_LIMITS_TIME_SCALE"
# A pending slot of a worker that died frees itself after this: past the longest a request may
# take (an attempt's default timeout), the service has finished with it (divided by the time
# scale, like the windows).
_HOLD_TTL_S = 130.0
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

log = logging.getLogger("connectorkit.limits")


def _render(template: str, inputs: Mapping[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(inputs.get(m.group(1), "")), template)


class Ticket(msgspec.Struct):
    """What one admitted request took; give it back with :meth:`Limiter.done`."""

    budget: BudgetDef
    prefix: str
    holder: str | None
    table_key: str | None
    rows: int
    admitted: float  # on the limiter's clock


class Limiter:
    """Admits the requests of the actions a pack's budgets cover; one per process."""

    def __init__(
        self,
        state: State,
        budgets: tuple[BudgetDef, ...],
        *,
        time_scale: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.sleep = sleep
        self.clock = clock
        # How long the last requests took from admission to their end (real seconds).
        self._durations: deque[float] = deque(maxlen=_RECENT)
        self._lock = threading.Lock()
        scale = time_scale or settings().limits_time_scale or 1.0
        self.time_scale = scale if scale > 0 else 1.0
        self._by_action: dict[str, list[BudgetDef]] = {}
        self._resets: dict[str, list[BudgetDef]] = {}
        for budget in budgets:
            for action in budget.actions:
                self._by_action.setdefault(action, []).append(budget)
            for action in budget.reset_by:
                self._resets.setdefault(action, []).append(budget)
        self.operations = 0  # store operations, for the benchmark
        self.waited_s = 0.0

    def covers(self, action: str) -> bool:
        """Whether ``action`` takes from a budget or resets one."""
        return action in self._by_action or action in self._resets

    def admit(
        self,
        action: str,
        inputs: Mapping[str, Any],
        remaining: Callable[[], float | None],
    ) -> list[Ticket]:
        """Take what one request of ``action`` costs from each of its budgets, waiting if needed.

        Raises :class:`RateLimited` (with ``retry_after``) instead of waiting past the call's
        time budget.
        """
        return [
            self._admit(budget, inputs, remaining) for budget in self._by_action.get(action, ())
        ]

    def _admit(
        self, budget: BudgetDef, inputs: Mapping[str, Any], remaining: Callable[[], float | None]
    ) -> Ticket:
        resource = _keys.tag(_render(budget.resource, inputs))
        prefix = _keys.budget(budget.name, resource)
        table_key = (
            f"{prefix}:rows:{_render(budget.table, inputs)}" if budget.table is not None else None
        )
        stored = self._stored_rows(table_key) if _conditional(budget) else 0
        with self._lock:
            slowest = max(self._durations, default=0.0)
        windows = []
        rows = 0
        for number, window in enumerate(budget.windows):
            units = 1
            if window.units is not None:
                value = inputs.get(window.units)
                units = len(value) if isinstance(value, list | tuple | range) else 0
                rows = units  # what fills the table, whether this window applies yet or not
            if window.when_table_holds is not None and stored < window.when_table_holds:
                continue
            seconds = window.seconds / self.time_scale
            margin = max(WINDOW_MARGIN_S, min(_MARGIN_FACTOR * slowest, _MARGIN_SHARE * seconds))
            windows.append(Window(f"{prefix}:w{number}", window.limit, seconds + margin, units))
        holder = secrets.token_hex(8) if budget.pending else None
        while True:
            self.operations += 1
            wait = self.state.store.take(
                tuple(windows),
                holds=f"{prefix}:pending" if holder else None,
                holder=holder or "",
                capacity=budget.pending or 0,
                hold_ttl_s=_HOLD_TTL_S / self.time_scale,
            )
            if wait <= 0:
                return Ticket(budget, prefix, holder, table_key, rows, self.clock())
            left = remaining()
            limit = DEFAULT_MAX_WAIT_S if left is None else left
            if wait >= limit:
                raise RateLimited(
                    f"the {budget.name} budget of {resource} is spent for now: the next request "
                    f"fits in {wait:.1f} s, past the call's time budget ({limit:.1f} s left); "
                    f"nothing was sent",
                    status=None,
                    retry_after=round(wait, 3),
                    endpoint=BUDGET_ENDPOINT,
                )
            self.waited_s += wait
            self.sleep(wait)

    def done(self, tickets: list[Ticket], *, committed: bool) -> None:
        """Give back the pending slots; count stored rows when the request was committed."""
        now = self.clock()
        with self._lock:
            self._durations.extend(now - ticket.admitted for ticket in tickets)
        for ticket in tickets:
            if ticket.holder is not None:
                self.operations += 1
                self.state.store.release_hold(f"{ticket.prefix}:pending", ticket.holder)
            if committed and ticket.table_key is not None and _conditional(ticket.budget):
                self._add_rows(ticket.table_key, ticket.rows)

    def reset(self, action: str, inputs: Mapping[str, Any]) -> None:
        """After ``action`` succeeded: the tables it emptied hold no rows any more."""
        for budget in self._resets.get(action, ()):
            if budget.table is not None:
                prefix = _keys.budget(budget.name, _keys.tag(_render(budget.resource, inputs)))
                self.operations += 1
                self.state.store.delete(f"{prefix}:rows:{_render(budget.table, inputs)}")

    def _stored_rows(self, key: str | None) -> int:
        if key is None:
            return 0
        self.operations += 1
        raw = self.state.store.get(key)
        return int(raw) if raw else 0

    def _add_rows(self, key: str, rows: int) -> None:
        store = self.state.store
        while True:
            self.operations += 2
            raw = store.get(key)
            if store.compare_and_set(key, raw, str((int(raw) if raw else 0) + rows).encode()):
                return


def _conditional(budget: BudgetDef) -> bool:
    return any(w.when_table_holds is not None for w in budget.windows)
