"""What a call gives its multi-request part: its action, inputs, sender, clocks and store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from connectorkit.core._request import RequestSpec
    from connectorkit.operations._handles import OperationBook
    from connectorkit.pack._definitions import ActionDef, Quirks

__all__ = ["CallContext"]


class CallContext(Protocol):
    """What a call gives its multi-request part: its action, inputs, sender, clocks, store."""

    @property
    def definition(self) -> ActionDef:
        """The action."""
        ...

    @property
    def inputs(self) -> Mapping[str, Any]:
        """Its bound inputs."""
        ...

    @property
    def base_url(self) -> str:
        """The connection's base URL."""
        ...

    def base_url_of(self, service: str | None) -> str:
        """The base URL of the pack's service ``service`` (None: the connection's)."""
        ...

    @property
    def quirks(self) -> Quirks:
        """The service's quirks (where its error codes are)."""
        ...

    @property
    def actions(self) -> Mapping[str, ActionDef]:
        """Every action of the pack (steps may send another's request)."""
        ...

    @property
    def book(self) -> OperationBook:
        """The operation handles of the state store."""
        ...

    @property
    def connection_ref(self) -> dict[str, Any]:
        """Which connection, for a handle (its key and stored name; no credential)."""
        ...

    def spec(self, inputs: Mapping[str, Any]) -> RequestSpec:
        """The action's own request for these inputs."""
        ...

    def send(
        self,
        spec: RequestSpec,
        inputs: Mapping[str, Any] | None = None,
        *,
        action: str | None = None,
    ) -> httpx.Response:
        """Send with the call's retries, auth and (given inputs) rate budgets."""
        ...

    def bind_other(self, key: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """Another action's inputs, checked and with its defaults."""
        ...

    def remaining(self) -> float | None:
        """Seconds left of the call's time budget (raises the contract timeout when none)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (the runner's clock)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (operations outlive a process)."""
        ...

    def note(self, meta: Mapping[str, Any]) -> None:
        """Add to the response's ``meta``."""
        ...

    def watch(self, progress: Mapping[str, Any]) -> None:
        """Tell whoever follows the call how it goes (the terminal's progress line)."""
        ...

    @property
    def streams(self) -> bool:
        """Whether the front end streams a list's items (invoke and serve do)."""
        ...

    def emit(self, item: Any) -> None:
        """Stream one item of a list (``stream``)."""
        ...
