"""Rate budgets a pack declares (a leaf: definitions only; ``_limits`` enforces them).

A budget belongs to a *resource* (a dataset, a mailbox), named by a template over an action's
inputs, and holds sliding windows (at most ``limit`` requests, or units such as rows, in any
window of ``seconds``) and optionally a cap on requests in flight.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["PERIODS", "BudgetDef", "WindowDef", "budgets_from"]

PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


class WindowDef(msgspec.Struct, frozen=True):
    """At most ``limit`` of something in any ``seconds``-long window.

    ``units`` names the list input whose length one request costs (``rows``); ``None`` counts
    requests. ``when_table_holds`` applies the window only once the table holds that many rows.
    """

    limit: int
    seconds: float
    units: str | None = None
    when_table_holds: int | None = None


class BudgetDef(msgspec.Struct, frozen=True):
    """One budget of a pack: which actions take from it, per which resource, within what."""

    name: str
    actions: tuple[str, ...]
    resource: str
    windows: tuple[WindowDef, ...]
    pending: int | None = None
    table: str | None = None
    reset_by: tuple[str, ...] = ()


def budgets_from(raw: dict[str, Any] | None) -> tuple[BudgetDef, ...]:
    """The budgets of a checked ``limits`` block of ``connector.yaml``."""
    budgets = []
    for name, spec in (raw or {}).items():
        windows = tuple(
            WindowDef(
                limit=int(w["limit"]),
                seconds=PERIODS[w["per"]],
                units=w.get("units"),
                when_table_holds=w.get("when_table_holds"),
            )
            for w in spec["windows"]
        )
        budgets.append(
            BudgetDef(
                name=name,
                actions=tuple(spec["actions"]),
                resource=spec["resource"],
                windows=windows,
                pending=spec.get("pending"),
                table=spec.get("table"),
                reset_by=tuple(spec.get("reset_by") or ()),
            )
        )
    return tuple(budgets)
