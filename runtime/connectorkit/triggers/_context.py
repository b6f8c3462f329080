"""What a poll is given by the call it runs in: its sender, the pack's actions, clocks, store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from connectorkit.core._request import RequestSpec
    from connectorkit.pack._definitions import ActionDef
    from connectorkit.state._subscriptions import Subscriptions

__all__ = ["PollContext"]


class PollContext(Protocol):
    """One poll's call: its requests' sender and time budget, the pack, the state store."""

    @property
    def pack_key(self) -> str:
        """The pack's key (a subscription belongs to one pack)."""
        ...

    @property
    def base_url(self) -> str:
        """The connection's base URL."""
        ...

    def base_url_of(self, service: str | None) -> str:
        """The base URL of the pack's service ``service`` (None: the connection's)."""
        ...

    @property
    def actions(self) -> Mapping[str, ActionDef]:
        """The pack's actions (a trigger lists with them)."""
        ...

    @property
    def subscriptions(self) -> Subscriptions:
        """Where subscriptions stand, in the state store."""
        ...

    def send(
        self, spec: RequestSpec, inputs: Mapping[str, Any] | None = None, *, action: str
    ) -> httpx.Response:
        """Send with the call's retries, auth, time budget and ``action``'s rate budgets."""
        ...

    def bind_other(self, key: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """An action's inputs, checked and with its defaults (as a call binds them)."""
        ...

    def ended_jobs(self, action: str) -> list[dict[str, Any]]:
        """The push jobs of ``action`` that ended, from the state store's ledger."""
        ...

    def remaining(self) -> float | None:
        """Seconds left of the poll's time budget (``None``: unbounded)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch."""
        ...
