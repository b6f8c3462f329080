"""``connectorkit import power-platform SOURCE``: a Power Platform custom connector as a pack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.cli._voice import Voice, add_json_option

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``import`` with its verb ``power-platform``."""
    sub = registry.add(
        "import",
        "make a pack from another platform's connector definition",
        handler=_power_platform,
        description=(
            "Make (or update) a pack from a connector another platform defines. Today: a Power "
            "Platform custom connector (an apiDefinition.swagger.json with its "
            "apiProperties.json)."
        ),
        examples=[
            "connectorkit import power-platform ./MyConnector --pack ./my-pack",
            "connectorkit import power-platform ./MyConnector/apiDefinition.swagger.json --dry-run",
        ],
    )
    verbs = sub.add_subparsers(dest="verb", metavar="VERB", parser_class=type(sub))
    verb = registry.add_verb(
        verbs,
        "power-platform",
        "a Power Platform custom connector's folder into a pack",
        description=(
            "Read a custom connector's apiDefinition.swagger.json and apiProperties.json: its "
            "base URL, a connection per way to connect (API key, basic, OAuth 2.0 with its "
            "identity provider), an action per operation with labels, importance, choices and "
            "pages. What a pack cannot carry (triggers, policies, custom code) is listed with a "
            "count. Run it again after the connector changes: what an author wrote is kept."
        ),
        examples=[
            "connectorkit import power-platform ./MyConnector --pack ./my-pack",
            "connectorkit import power-platform ./MyConnector --dry-run",
        ],
    )
    verb.add_argument("source", type=Path, metavar="SOURCE", help="the connector's folder")
    verb.add_argument(
        "--pack",
        type=Path,
        metavar="DIR",
        help="the pack to write (default: a folder named after the connector, here)",
    )
    verb.add_argument(
        "--dry-run", action="store_true", help="say what would be made, write nothing"
    )
    add_json_option(verb)


def _power_platform(args: argparse.Namespace) -> int:
    from connectorkit.authoring.openapi._lenient import LenientJSONError  # noqa: PLC0415
    from connectorkit.authoring.openapi._security import key_of  # noqa: PLC0415
    from connectorkit.authoring.powerplatform._import import (  # noqa: PLC0415
        import_power_platform,
    )
    from connectorkit.core._errors import InvalidRequest  # noqa: PLC0415

    voice = Voice(as_json=getattr(args, "json", False))
    if getattr(args, "verb", None) != "power-platform":
        return voice.fail(
            InvalidRequest("say what to import from: connectorkit import power-platform SOURCE")
        )
    source: Path = args.source
    pack: Path = args.pack or Path(key_of(source.resolve().name))
    try:
        report = import_power_platform(source, pack, dry_run=args.dry_run)
    except (OSError, ValueError, LenientJSONError) as exc:
        return voice.fail(InvalidRequest(f"cannot import {source}: {exc}"))
    result: dict[str, Any] = {
        "pack": str(pack),
        "key": report.pack,
        "connections": report.connections,
        "created": report.actions.created if report.actions else [],
        "updated": report.actions.updated if report.actions else [],
        "not_imported": dict(report.left_out),
        "notes": list(
            dict.fromkeys(report.notes + (report.actions.notes if report.actions else []))
        ),
    }
    return voice.done(result, "\n".join([f"{pack}:", *report.lines()]))
