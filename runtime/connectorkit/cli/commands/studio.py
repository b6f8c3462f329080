"""``connectorkit studio``: a local web page with every action's form (own options)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``studio``."""
    registry.add_passthrough(
        "studio",
        "a local web page that shows every action's form, built from `describe`, and runs it "
        "(see: connectorkit studio -h)",
        handler=_studio,
    )


def _studio(argv: list[str]) -> int:
    from connectorkit.studio import main  # noqa: PLC0415 - only this command needs the page

    return main(argv)
