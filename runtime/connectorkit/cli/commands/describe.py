"""``connectorkit describe``: the catalog for a workflow designer, as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.cli._catalog_command import add_catalog_command

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``describe``."""
    add_catalog_command(
        registry,
        "describe",
        "the catalog (connections, actions, inputs as JSON Schema) as JSON; or one action's",
        examples=["connectorkit describe > catalog.json", "connectorkit describe create_rows"],
    )
