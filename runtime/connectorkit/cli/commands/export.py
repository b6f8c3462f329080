"""``connectorkit export power-platform PACK DIR``: a pack as a Power Platform custom connector."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.cli._voice import Voice, add_json_option

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``export`` with its verb ``power-platform``."""
    sub = registry.add(
        "export",
        "write a pack as another platform's connector definition",
        handler=_power_platform,
        description=(
            "Write a pack as a connector another platform reads. Today: a Power Platform custom "
            "connector (apiDefinition.swagger.json and apiProperties.json)."
        ),
        examples=["connectorkit export power-platform ./my-pack ./MyConnector"],
    )
    verbs = sub.add_subparsers(dest="verb", metavar="VERB", parser_class=type(sub))
    verb = registry.add_verb(
        verbs,
        "power-platform",
        "a pack into a Power Platform custom connector's folder",
        description=(
            "Write apiDefinition.swagger.json and apiProperties.json: the default connection's "
            "base URL as host and base path, an operation per action (labels, importance, "
            "choices and pages as x-ms-* extensions), and each connection a user signs in with "
            "(API key, basic, OAuth 2.0 authorization code) as a way to connect. Actions and "
            "connections a custom connector cannot express are listed with a count."
        ),
        examples=[
            "connectorkit export power-platform ./my-pack ./MyConnector",
            "connectorkit export power-platform ./my-pack ./MyConnector --json",
        ],
    )
    verb.add_argument("pack", type=Path, metavar="PACK", help="the pack's folder")
    verb.add_argument("target", type=Path, metavar="DIR", help="the folder to write the files to")
    add_json_option(verb)


def _power_platform(args: argparse.Namespace) -> int:
    from connectorkit.authoring.powerplatform._export import (  # noqa: PLC0415
        export_power_platform,
    )
    from connectorkit.core._errors import InvalidRequest, PackError  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    voice = Voice(as_json=getattr(args, "json", False))
    if getattr(args, "verb", None) != "power-platform":
        return voice.fail(
            InvalidRequest("say what to export to: connectorkit export power-platform PACK DIR")
        )
    try:
        report = export_power_platform(load_pack(args.pack), args.target)
    except (PackError, OSError, ValueError) as exc:
        return voice.fail(InvalidRequest(f"cannot export {args.pack}: {exc}"))
    result: dict[str, Any] = {
        "target": str(args.target),
        "actions": report.actions,
        "operations": len(report.operations),
        "connections": report.connections,
        "not_exported": dict(report.not_exported),
        "skipped": dict(report.skipped),
        "notes": list(dict.fromkeys(report.notes)),
    }
    return voice.done(result, "\n".join([f"{args.target}:", *report.lines()]))
