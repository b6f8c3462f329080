"""The sliding-window arithmetic shared by the backends that run it in Python."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from connectorkit.state._store import Window

__all__ = ["wait_for"]


def wait_for(window: Window, log: Iterable[tuple[float, int]], now: float) -> float:
    """Seconds until ``window.units`` more fit, given the entries still inside the window.

    ``log`` holds ``(time, units)`` pairs, oldest first, already pruned to the window. A take
    larger than the whole limit can never fit: it waits one full window (the caller reports it).
    """
    entries = list(log)
    used = sum(units for _, units in entries)
    excess = used + window.units - window.limit
    if window.units == 0 or excess <= 0:
        return 0.0
    if window.units > window.limit:
        return window.seconds
    for at, units in entries:
        excess -= units
        if excess <= 0:
            return max(at + window.seconds - now, 1e-6)
    return window.seconds  # pragma: no cover - the loop frees enough when units <= limit
