"""``describe`` and ``docs``: the pack's catalog as JSON and as Markdown."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from connectorkit._cli._common import add_pack_option, load
from connectorkit._errors import ConnectorError

if TYPE_CHECKING:
    import argparse

    from connectorkit._cli._common import Registry

__all__ = ["add_catalog_command"]


def add_catalog_command(
    registry: Registry, name: str, summary: str, examples: list[str]
) -> argparse.ArgumentParser:
    """Add ``describe`` or ``docs``."""
    sub = registry.add(name, summary, handler=_catalog, examples=examples)
    add_pack_option(sub)
    return sub


def _catalog(args: argparse.Namespace) -> int:
    from connectorkit._catalog import describe, docs_markdown  # noqa: PLC0415

    try:
        pack = load(args.pack)
    except ConnectorError as exc:
        print(f"connectorkit: {exc.message}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    if args.command == "describe":
        print(json.dumps(describe(pack), indent=2, ensure_ascii=False))  # noqa: T201
    else:
        sys.stdout.write(docs_markdown(pack))
    return 0
