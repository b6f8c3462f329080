"""``connectorkit import-openapi SPEC``: the command around :func:`import_openapi`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectorkit import-openapi",
        description=(
            "Write an action file for each operation of an OpenAPI 2 (swagger) or 3 document. "
            "Run it again after the document changes: requests and input types are renewed, "
            "labels, comments, defaults and examples an author wrote are kept."
        ),
        epilog=(
            "examples:\n"
            "  connectorkit import-openapi openapi.yaml --tag alerts\n"
            "  connectorkit import-openapi api.json --operation getThing --dry-run\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", type=Path, help="the OpenAPI document (JSON or YAML)")
    parser.add_argument(
        "--pack", type=Path, default=Path(), help="the pack folder (default: the current one)"
    )
    parser.add_argument(
        "--tag", action="append", default=[], help="only operations of this tag (repeatable)"
    )
    parser.add_argument(
        "--operation",
        action="append",
        default=[],
        metavar="ID",
        help="only this operationId (repeatable)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change, write nothing"
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the command; 0 when done, 2 for a bad document or pack."""
    from connectorkit.authoring.openapi._import import import_openapi  # noqa: PLC0415

    args = _parser().parse_args(list(argv))
    if not (args.pack / "connector.yaml").is_file():
        print(  # noqa: T201
            f"connectorkit: {args.pack} has no connector.yaml "
            "(make one: connectorkit new pack DIR)",
            file=sys.stderr,
        )
        return 2
    try:
        report = import_openapi(
            args.spec,
            args.pack,
            tags=tuple(args.tag),
            operation_ids=tuple(args.operation),
            dry_run=args.dry_run,
        )
    except (OSError, ValueError) as exc:
        print(f"connectorkit: cannot import {args.spec}: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if report.operations == 0:
        print("connectorkit: no operation matched", file=sys.stderr)  # noqa: T201
        return 2
    for line in report.lines():
        print(line, file=sys.stderr)  # noqa: T201
    return 0
