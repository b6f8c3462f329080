"""Stored connections (``connectorkit connections``, ``auth login --save``) as the page's presets.

The page sees each one by name, its secret values masked and its token never; a run names it
(``{"name": …}``), so the runtime takes the values and the newest token from the state store and
renews the token there, exactly as ``invoke`` would for a platform. They are listed anew for each
catalog, and :meth:`StoredPresets.fingerprint` lets the page notice one saved or removed while it
is open.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectorkit.core._errors import ConnectorError
from connectorkit.state import StateError, StoredConnections
from connectorkit.studio._emulator_choice import Preset
from connectorkit.studio._recipes import token_values

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit.pack._definitions import Pack
    from connectorkit.state import State

__all__ = ["StoredPresets"]

log = logging.getLogger("connectorkit")


class StoredPresets:
    """The stored connections of the state store that fit the pack on show."""

    def __init__(self, state: Callable[[], State]) -> None:
        # The store opens on first use, so a studio with no store at hand still starts.
        self._state = state
        self._warned: str | None = None

    def fingerprint(self) -> str:
        """Changes whenever a connection is saved, replaced or removed; ``""`` with no store."""
        try:
            return StoredConnections(self._state()).revision()
        except (ConnectorError, StateError, OSError) as exc:
            self._warn(exc)
            return ""

    def presets(self, pack: Pack) -> list[Preset]:
        """One preset per stored connection of this pack's connection keys, sorted by name."""
        try:
            names = StoredConnections(self._state()).names()
        except (ConnectorError, StateError, OSError) as exc:
            self._warn(exc)
            return []
        found = (self.preset(pack, name) for name in names)
        return [preset for preset in found if preset is not None]

    def preset(self, pack: Pack, name: str) -> Preset | None:
        """Stored connection ``name`` as a preset, or None if it is gone or not this pack's."""
        try:
            record = StoredConnections(self._state()).load(name)
        except (ConnectorError, StateError, OSError, ValueError) as exc:
            # One record sealed with a key this process lacks does not hide the others.
            log.warning("stored connection %r cannot be read: %s", name, exc)
            return None
        definition = pack.connections.get(record.key) if record is not None else None
        if record is None or definition is None:
            return None  # removed meanwhile, or another pack's connection
        return Preset(
            id=f"stored:{name}",
            label=f"Stored connection {name} ({definition.label or record.key})",
            key=record.key,
            values=dict(record.values),
            secret=definition.secret_keys,
            reference=name,
            name=name,
            tokens=tuple(token_values(record.token)),
        )

    def _warn(self, exc: Exception) -> None:
        # Once per distinct problem: the page asks every 1.5 s.
        if str(exc) != self._warned:
            self._warned = str(exc)
            log.warning("stored connections are not available: %s", exc)
