"""The connection kinds and the auth flow that serves each: one explicit table.

A connection's ``type`` names its kind. :data:`KINDS` says which flow serves it; the flow's
module is imported only when a connection of that kind is used (NTLM's code loads only for
``windows`` connections). A new kind is one line here; :func:`register_auth_flow` adds a flow
at run time (a pack's own kind, a test's stand-in).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from connectorkit.core._errors import InvalidConnection

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from connectorkit._bind import BoundConnection
    from connectorkit.auth._flow import AuthFlowFactory, CallAuth
    from connectorkit.state._token_store import TokenStore

__all__ = ["KINDS", "auth_flow_types", "new_call_auth", "register_auth_flow"]


def _oauth2() -> AuthFlowFactory:
    from connectorkit.auth._flow import ConnectionAuth  # noqa: PLC0415 - loaded when used

    return ConnectionAuth


def _windows() -> AuthFlowFactory:
    from connectorkit.auth._windows import WindowsAuth  # noqa: PLC0415 - loaded when used

    return WindowsAuth


def _static() -> AuthFlowFactory:
    from connectorkit.auth._static import StaticAuth  # noqa: PLC0415 - loaded when used

    return StaticAuth


def _managed_identity() -> AuthFlowFactory:
    from connectorkit.auth._managed import ManagedIdentityAuth  # noqa: PLC0415 - loaded when used

    return ManagedIdentityAuth


# Connection kind → the flow that serves it, loaded on first use.
KINDS: dict[str, Callable[[], AuthFlowFactory]] = {
    "oauth2": _oauth2,
    "api_key": _static,
    "basic": _static,
    "bearer": _static,
    "managed_identity": _managed_identity,
    "windows": _windows,
}

_added: dict[str, AuthFlowFactory] = {}
_lock = threading.Lock()


def register_auth_flow(connection_type: str, factory: AuthFlowFactory) -> None:
    """Serve connections whose ``type`` is ``connection_type`` with ``factory``'s flow."""
    with _lock:
        taken = connection_type in KINDS or _added.get(connection_type, factory) is not factory
        if taken:
            raise ValueError(f"an auth flow for '{connection_type}' is already registered")
        _added[connection_type] = factory


def auth_flow_types() -> list[str]:
    """The connection types an auth flow is registered for, sorted."""
    return sorted({*KINDS, *_added})


def _factory(kind: str) -> AuthFlowFactory | None:
    loader = KINDS.get(kind)
    return loader() if loader is not None else _added.get(kind)


def new_call_auth(
    connection: BoundConnection,
    http: httpx.Client,
    store: TokenStore,
    *,
    remaining: Callable[[], float | None],
) -> CallAuth:
    """The auth of one call over ``connection``, from the flow registered for its type.

    A connection that declares ``headers`` gets them on every request, whatever its kind.
    """
    kind = connection.definition.type
    factory = _factory(kind)
    if factory is None:
        raise InvalidConnection(
            f"connection '{connection.definition.key}' is of type '{kind}', which no auth flow "
            f"serves (known: {', '.join(auth_flow_types())})"
        )
    auth = factory(connection, http, store, remaining=remaining)
    if not connection.definition.headers:
        return auth
    from connectorkit.auth._static import ExtraHeaders, rendered_headers  # noqa: PLC0415

    return ExtraHeaders(auth, rendered_headers(connection))
