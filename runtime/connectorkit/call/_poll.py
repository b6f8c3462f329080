"""A trigger poll as a call: one time budget, one auth flow, the pack's rate budgets.

Every request a poll sends (the listing, its pages, the listing once per parent) goes through
one sender, so the poll is bounded like any call (``timeout``, retries) and its meta counts its
requests. :func:`run_poll` returns the outcome and the ``settle`` the front end calls once the
answer is out (see :mod:`connectorkit.triggers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.call._run import _Sending

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit._bind import BoundConnection, BoundTrigger
    from connectorkit.call._run import Outcome, Runner
    from connectorkit.http._client import CallState
    from connectorkit.http._limits import Limiter
    from connectorkit.pack._definitions import ActionDef, Pack
    from connectorkit.state._subscriptions import Subscriptions

__all__ = ["run_poll"]


class _PollCall(_Sending):
    """The sending side of one poll, and what its trigger engine is given of it.

    It is the poll's :class:`~connectorkit.triggers._context.PollContext`.
    """

    def __init__(  # noqa: PLR0917 - a poll's parts
        self,
        runner: Runner,
        pack: Pack,
        bound: BoundTrigger,
        connection: BoundConnection,
        state: CallState,
        limiter: Limiter | None,
    ) -> None:
        super().__init__(runner, bound.options, bound.definition.key, connection, state, limiter)
        self.pack = pack
        self._subscriptions: Subscriptions | None = None

    @property
    def pack_key(self) -> str:
        """The pack's key."""
        return self.pack.key

    @property
    def base_url(self) -> str:
        """The connection's base URL."""
        return self.connection.base_url

    @property
    def actions(self) -> Mapping[str, ActionDef]:
        """The pack's actions."""
        return self.pack.actions

    @property
    def subscriptions(self) -> Subscriptions:
        """Where subscriptions stand, in the state store."""
        from connectorkit.state._subscriptions import Subscriptions  # noqa: PLC0415

        if self._subscriptions is None:
            self._subscriptions = Subscriptions(
                lambda: self.runner.state.store, sleep=self.runner.sleep
            )
        return self._subscriptions

    def bind_other(self, key: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """An action's inputs, checked and with its defaults."""
        from connectorkit._bind import bind_action  # noqa: PLC0415 - bind is loaded by now

        return bind_action(self.pack, key, inputs).inputs

    def ended_jobs(self, action: str) -> list[dict[str, Any]]:
        """The push jobs of ``action`` that ended, from the ledger."""
        from connectorkit.bulk._jobs import ended_jobs  # noqa: PLC0415 - only for such triggers

        return ended_jobs(self.runner.jobs, action)

    def remaining(self) -> float | None:
        """Seconds left of the poll's time budget."""
        return self.sender.budget.remaining()

    def wall(self) -> float:
        """Seconds since the epoch (the runner's clock)."""
        return self.runner.wall()


def run_poll(  # noqa: PLR0917 - a poll's request, each part needed
    runner: Runner,
    pack: Pack,
    bound: BoundTrigger,
    connection: BoundConnection,
    subscription: str,
    cursor: str | None = None,
) -> tuple[Outcome, Callable[[bool], None]]:
    """Poll ``subscription``: the outcome, and what to call once the answer is (not) out."""
    from connectorkit.triggers._poll import poll  # noqa: PLC0415 - only a poll loads triggers

    trigger = bound.definition
    listing = trigger.list
    keys = {k for k in (listing.action, listing.each.action if listing.each else None) if k}
    settled: list[Callable[[bool], None]] = []

    def make(state: CallState, limiter: Limiter | None) -> _PollCall:
        return _PollCall(runner, pack, bound, connection, state, limiter)

    def work(call: _PollCall) -> Any:
        polled = poll(call, trigger, bound.inputs, subscription, cursor)
        settled.append(polled.settle)
        return polled.result

    outcome = runner.carry(trigger.key, bound.options, connection, (keys, pack.budgets), make, work)

    def settle(delivered: bool) -> None:
        for each in settled:
            each(delivered and outcome.error is None)

    return outcome, settle
