"""The side of a call that an action of more than one request sees (``operations``' context).

Everything :mod:`connectorkit.operations` needs of the call, and nothing more: its action and
inputs, its sender (retries, auth, time budget, rate budgets), the pack's other actions, the
clocks, the operation handles of the state store, and where progress and streamed items go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit._bind import BoundAction, BoundConnection
    from connectorkit.call._send import Sender
    from connectorkit.core._request import RequestSpec
    from connectorkit.operations._handles import OperationBook
    from connectorkit.pack._definitions import ActionDef, Pack, Quirks

__all__ = ["MultistepContext"]


class MultistepContext:
    """One call, as its multi-request part sees it (see ``operations._context.CallContext``)."""

    def __init__(
        self,
        *,
        action: BoundAction,
        connection: BoundConnection,
        sender: Sender,
        spec: Callable[[Mapping[str, Any]], RequestSpec],
        pack: Pack | None,
        book: Callable[[], OperationBook],
        sleep: Callable[[float], None],
        wall: Callable[[], float],
        notes: dict[str, Any],
        watch: Callable[[Mapping[str, Any]], None] | None = None,
        emit: Callable[[Any], None] | None = None,
        base_url_of: Callable[[str | None], str] | None = None,
    ) -> None:
        self._action = action
        self._connection = connection
        self._sender = sender
        self.send = sender.send  # the call's sender: retries, auth, time and rate budgets
        self._spec = spec
        self._pack = pack
        self._book = book
        self._sleep = sleep
        self._wall = wall
        self._notes = notes
        self._watch = watch
        self._emit = emit
        self._base_url_of = base_url_of

    @property
    def definition(self) -> ActionDef:
        """The action."""
        return self._action.definition

    @property
    def inputs(self) -> Mapping[str, Any]:
        """Its bound inputs."""
        return self._action.inputs

    @property
    def base_url(self) -> str:
        """The connection's base URL."""
        return self._connection.base_url

    def base_url_of(self, service: str | None) -> str:
        """The base URL of the pack's service ``service`` (None: the connection's)."""
        if self._base_url_of is not None:
            return self._base_url_of(service)
        if service is None:
            return self._connection.base_url
        return self._connection.for_service(service).base_url

    @property
    def quirks(self) -> Quirks:
        """The service's quirks."""
        return self._connection.quirks

    @property
    def actions(self) -> Mapping[str, ActionDef]:
        """The pack's actions (only this one when the call came without its pack)."""
        if self._pack is not None:
            return self._pack.actions
        return {self.definition.key: self.definition}

    @property
    def book(self) -> OperationBook:
        """The operation handles of the state store."""
        return self._book()

    @property
    def connection_ref(self) -> dict[str, Any]:
        """Which connection, for a handle: its key and stored name, never a credential."""
        return {"key": self._connection.definition.key, "name": self._connection.stored}

    @property
    def streams(self) -> bool:
        """Whether the front end streams a list's items."""
        return self._emit is not None

    def spec(self, inputs: Mapping[str, Any]) -> RequestSpec:
        """The action's own request for these inputs."""
        return self._spec(inputs)

    def bind_other(self, key: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """Another action's inputs, checked and with its defaults (as a call binds them)."""
        from connectorkit._bind import bind_action  # noqa: PLC0415 - bind is loaded by now

        if self._pack is None:
            return inputs
        return bind_action(self._pack, key, inputs).inputs

    def remaining(self) -> float | None:
        """Seconds left of the call's time budget."""
        return self._sender.budget.remaining()

    def sleep(self, seconds: float) -> None:
        """Wait on the runner's clock."""
        self._sleep(seconds)

    def wall(self) -> float:
        """Seconds since the epoch."""
        return self._wall()

    def note(self, meta: Mapping[str, Any]) -> None:
        """Add to the response's meta."""
        self._notes.update(meta)

    def watch(self, progress: Mapping[str, Any]) -> None:
        """Tell the front end how the call goes."""
        if self._watch is not None:
            self._watch(progress)

    def emit(self, item: Any) -> None:
        """Stream one item."""
        if self._emit is not None:
            self._emit(item)
