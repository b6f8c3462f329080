"""``connectorkit connections``: stored connections (list, show, add, remove, keys)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from connectorkit.cli._common import configure_logging

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``connections``."""
    registry.add_passthrough(
        "connections",
        "stored connections: list, show, add, remove (see: connectorkit connections -h)",
        handler=_connections,
    )


def _connections(argv: list[str]) -> int:
    from connectorkit.call._named import run_connections  # noqa: PLC0415

    configure_logging()
    return run_connections(argv, stdout=sys.stdout, stderr=sys.stderr)
