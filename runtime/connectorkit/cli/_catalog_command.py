"""``describe`` and ``docs``: the pack's catalog as JSON and as Markdown, whole or one action."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from connectorkit.cli._common import add_pack_option, load
from connectorkit.core._errors import ConnectorError, UnknownAction

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.pack._definitions import ActionDef, Pack

__all__ = ["add_catalog_command", "find_action"]


def add_catalog_command(
    registry: Registry,
    name: str,
    summary: str,
    examples: list[str],
    *,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add ``describe`` or ``docs``, with an optional ACTION to show just that one."""
    from connectorkit.cli._completion import action_completer  # noqa: PLC0415

    sub = registry.add(name, summary, handler=_catalog, examples=examples, description=description)
    action = sub.add_argument(
        "action",
        nargs="?",
        metavar="ACTION",
        help="show only this action (see: connectorkit actions)",
    )
    action.completer = action_completer  # type: ignore[attr-defined] # argcomplete reads it
    add_pack_option(sub)
    return sub


def find_action(pack: Pack, key: str) -> ActionDef:
    """The action ``key``, or ``UnknownAction`` suggesting the closest one."""
    import difflib  # noqa: PLC0415

    action = pack.actions.get(key)
    if action is None:
        close = difflib.get_close_matches(key, sorted(pack.actions), n=1)
        hint = (
            f"; did you mean '{close[0]}'?" if close else "; list them with: connectorkit actions"
        )
        raise UnknownAction(f"the pack '{pack.key}' has no action '{key}'{hint}")
    return action


def _catalog(args: argparse.Namespace) -> int:
    from connectorkit.authoring._catalog import action_markdown, describe, docs_markdown  # noqa: PLC0415

    try:
        pack = load(args.pack)
        action = find_action(pack, args.action) if args.action else None
    except ConnectorError as exc:
        print(f"connectorkit: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2  # the pack named is not usable: the caller's to fix, not a defect
    if args.command == "describe":
        catalog = describe(pack)
        if action is not None:
            catalog = next(a for a in catalog["actions"] if a["key"] == action.key)
        print(json.dumps(catalog, indent=2, ensure_ascii=False))  # noqa: T201
    elif action is not None and not getattr(args, "markdown", True) and sys.stdout.isatty():
        from connectorkit.cli._reference import action_text, page  # noqa: PLC0415
        from connectorkit.cli._render import Style  # noqa: PLC0415

        page(action_text(action, Style.for_stream(sys.stdout)))
    else:
        sys.stdout.write(docs_markdown(pack) if action is None else action_markdown(action))
    return 0
