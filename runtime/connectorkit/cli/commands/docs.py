"""``connectorkit docs``: the pack's reference as Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.cli._catalog_command import add_catalog_command

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``docs``."""
    sub = add_catalog_command(
        registry,
        "docs",
        "the pack's reference: every action's inputs, comments and defaults",
        description=(
            "Print the pack's reference: for each action its inputs with their comments and "
            "defaults, and its examples. With ACTION, only that action. On a terminal it is "
            "formatted for reading, shown in a pager, and ends with a `connectorkit run` "
            "example; elsewhere (or with --markdown) it is Markdown, with a table of contents "
            "when it covers the whole pack."
        ),
        examples=[
            "connectorkit docs create_dataset",
            "connectorkit docs > REFERENCE.md",
            "connectorkit docs list_groups --markdown | less",
        ],
    )
    sub.add_argument(
        "--markdown", action="store_true", help="Markdown also on a terminal (no pager)"
    )
