"""Requests naming a stored connection: its values and newest token, from the state store.

A request may carry ``"connection": {"name": "sales"}`` instead of values and a token: the
values and the newest token come from the state store, and renewed tokens go back there (the
response carries no ``token`` for it: the store keeps it). ``values`` given beside ``name``
override stored ones for that request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidConnection

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.state import State

__all__ = ["resolve_stored"]


def resolve_stored(state: State, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The request's ``connection`` with a stored connection's key, values and token filled in."""
    from connectorkit.state import StateError, StoredConnections  # noqa: PLC0415

    name = raw["name"]
    if raw.get("token") is not None:
        raise InvalidConnection(
            "connection.token cannot be given with connection.name: the store keeps its token",
            details=[{"field": "connection.token", "message": "not allowed with name"}],
        )
    try:
        stored = StoredConnections(state).load(name)
    except StateError as exc:
        raise InvalidConnection(
            str(exc), details=[{"field": "connection.name", "message": str(exc)}]
        ) from None
    if stored is None:
        how = f"`connectorkit auth login --save {name}` or `connectorkit connections add`"
        if name in {"emulator", "emulator-sp"}:
            how = f"`connectorkit emulator --save-connections` (it saves '{name}') or {how}"
        raise InvalidConnection(
            f"there is no stored connection '{name}' in the state store ({_where(state)}); save "
            f"one with {how}",
            details=[{"field": "connection.name", "message": "no such stored connection"}],
        )
    key = raw.get("key")
    if key is not None and key != stored.key:
        raise InvalidConnection(
            f"stored connection '{name}' is a '{stored.key}' connection, not '{key}'",
            details=[{"field": "connection.key", "message": f"the stored one is '{stored.key}'"}],
        )
    return {
        "key": stored.key,
        "values": {**stored.values, **(raw.get("values") or {})},
        "token": stored.token,
        "name": name,
    }


def _where(state: State) -> str:
    url = state.store.url
    return url.split("@")[-1] if "@" in url else url
