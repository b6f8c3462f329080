"""``connectorkit docs``: the pack's reference as Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.cli._catalog_command import add_catalog_command

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``docs``."""
    add_catalog_command(
        registry,
        "docs",
        "the pack's reference as Markdown, with a table of contents; or one action's",
        examples=["connectorkit docs > REFERENCE.md", "connectorkit docs create_dataset"],
    )
