"""State that outlives a call: tokens, rate budgets, push job ledgers, stored connections.

One small interface (:class:`Store`) with thin backends — SQLite (the default, one machine),
Redis (many machines), memory (tests) — chosen by a URL (:func:`open_state`). The typed
services are built on it: :class:`StoreTokens`, :class:`StoredConnections`, :class:`Records`
(records kept by id) and the :class:`JobLedger` of push jobs on them;
the rate budgets a pack declares live in ``connectorkit.http._limits``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectorkit.state._connections import (
        StoredConnection,
        StoredConnections,
        connection_lineage,
    )
    from connectorkit.state._crypto import KEY_ENV, Sealer, new_key
    from connectorkit.state._ledger import BatchStatus, JobLedger
    from connectorkit.state._open import STATE_ENV, State, default_path, open_state
    from connectorkit.state._records import Records
    from connectorkit.state._store import StateError, Store, Window
    from connectorkit.state._tokens import StoreTokens, lineage_of

__all__ = [
    "KEY_ENV",
    "STATE_ENV",
    "BatchStatus",
    "JobLedger",
    "Records",
    "Sealer",
    "State",
    "StateError",
    "Store",
    "StoreTokens",
    "StoredConnection",
    "StoredConnections",
    "Window",
    "connection_lineage",
    "default_path",
    "lineage_of",
    "new_key",
    "open_state",
]

# Each name loads its module on first use: a call that keeps its token in the request imports
# the token store's interface, not the backends, sealing and ledgers of the whole package.
_HOMES = {
    "StoredConnection": "_connections",
    "StoredConnections": "_connections",
    "connection_lineage": "_connections",
    "KEY_ENV": "_crypto",
    "Sealer": "_crypto",
    "new_key": "_crypto",
    "BatchStatus": "_ledger",
    "JobLedger": "_ledger",
    "Records": "_records",
    "STATE_ENV": "_open",
    "State": "_open",
    "default_path": "_open",
    "open_state": "_open",
    "StateError": "_store",
    "Store": "_store",
    "Window": "_store",
    "StoreTokens": "_tokens",
    "lineage_of": "_tokens",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'connectorkit.state' has no attribute {name!r}")
    return getattr(importlib.import_module(f"connectorkit.state.{home}"), name)
