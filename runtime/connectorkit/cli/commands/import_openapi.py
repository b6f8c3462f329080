"""``connectorkit import-openapi SPEC``: action files from an OpenAPI document (own options)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``import-openapi``."""
    registry.add_passthrough(
        "import-openapi",
        "write (or update) an action per operation of an OpenAPI 2/3 document, or a Power "
        "Platform connector's folder (see: connectorkit import-openapi -h)",
        handler=_import_openapi,
    )


def _import_openapi(argv: list[str]) -> int:
    from connectorkit.authoring.openapi._command import main  # noqa: PLC0415

    source = Path(argv[0]) if argv and not argv[0].startswith("-") else None
    if source is not None and _is_power_platform(source):
        # A custom connector's folder (or its definition beside apiProperties.json): its
        # connections come from there too.
        from connectorkit.cli import main as cli  # noqa: PLC0415

        return cli(["import", "power-platform", *argv])
    return main(argv)


def _is_power_platform(source: Path) -> bool:
    folder = source if source.is_dir() else source.parent
    names = {p.name.lower() for p in folder.iterdir()} if folder.is_dir() else set()
    return "apiproperties.json" in names and (
        source.is_dir() or source.name.lower() == "apidefinition.swagger.json"
    )
