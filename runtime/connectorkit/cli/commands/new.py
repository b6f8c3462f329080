"""``connectorkit new pack DIR`` / ``new action KEY``: scaffolding (own options)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``new``."""
    registry.add_passthrough(
        "new",
        "scaffold a pack (`new pack DIR`) or an action (`new action KEY`) that passes its tests",
        handler=_new,
    )


def _new(argv: list[str]) -> int:
    from connectorkit.authoring._scaffold import main  # noqa: PLC0415

    return main(argv)
