"""``connectorkit import-openapi SPEC``: action files from an OpenAPI document (own options)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``import-openapi``."""
    registry.add_passthrough(
        "import-openapi",
        "write (or update) an action per operation of an OpenAPI 2/3 document "
        "(see: connectorkit import-openapi -h)",
        handler=_import_openapi,
    )


def _import_openapi(argv: list[str]) -> int:
    from connectorkit.authoring.openapi._command import main  # noqa: PLC0415

    return main(argv)
