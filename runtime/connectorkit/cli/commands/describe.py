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
        "the catalog as JSON: connections and actions, every input as JSON Schema",
        description=(
            "Print the pack's catalog as JSON, for a workflow designer: its connections and "
            "actions, each input as JSON Schema, each result's shape and examples. With ACTION, "
            "print only that action's entry."
        ),
        examples=["connectorkit describe > catalog.json", "connectorkit describe create_rows"],
    )
