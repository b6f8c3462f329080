"""``connectorkit actions [WORD]``: the pack's actions with their labels, grouped, filterable."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from connectorkit.cli._common import add_pack_option, load
from connectorkit.core._errors import ConnectorError

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.pack._definitions import ActionDef

_VERBS = ("list", "get", "create", "add", "update", "delete", "remove", "post", "put")


def register(registry: Registry) -> None:
    """Add ``actions``."""
    sub = registry.add(
        "actions",
        "list the actions with their labels, grouped; WORD keeps those that mention it",
        handler=_actions,
        description=(
            "List the pack's actions: key and label, grouped by what they work on. With WORD, "
            "only the actions whose key, label or description mention it (any case)."
        ),
        examples=[
            "connectorkit actions",
            "connectorkit actions rows",
            "connectorkit actions dataset",
        ],
    )
    sub.add_argument("word", nargs="?", metavar="WORD", help="keep the actions mentioning it")
    add_pack_option(sub)


def group_of(action: ActionDef) -> str:
    """The group an action is listed under: its declared group, else the thing its key names."""
    declared = getattr(action, "group", None)  # packs may declare one
    if isinstance(declared, str) and declared:
        return declared
    words = action.key.split("_")
    if len(words) > 1 and words[0] in _VERBS:
        words = words[1:]
    noun = words[0] if len(words) == 1 else words[-1] if words[0] == "raw" else words[0]
    return noun.removesuffix("s").capitalize() + "s" if len(words) == 1 else noun.capitalize()


def _actions(args: argparse.Namespace) -> int:
    from connectorkit.cli._render import Style  # noqa: PLC0415

    try:
        pack = load(args.pack)
    except ConnectorError as exc:
        sys.stderr.write(f"connectorkit: {exc.message}\n")
        return exc.exit_code
    word = (args.word or "").casefold()
    chosen = [
        a for a in pack.actions.values() if word in f"{a.key} {a.label} {a.description}".casefold()
    ]
    if not chosen:
        sys.stderr.write(f"connectorkit: no action mentions '{args.word}'\n")
        return 1
    style = Style.for_stream(sys.stdout)
    groups: dict[str, list[ActionDef]] = {}
    for action in sorted(chosen, key=lambda a: a.key):
        groups.setdefault(group_of(action), []).append(action)
    width = max(len(a.key) for a in chosen)
    lines: list[str] = []
    for name in sorted(groups):
        lines += [style.bold(name)]
        lines += [f"  {a.key.ljust(width)}  {a.label}" for a in groups[name]]
        lines.append("")
    total = f"{len(chosen)} of {len(pack.actions)} actions" if word else f"{len(chosen)} actions"
    lines.append(style.dim(f"{total}; details: connectorkit docs ACTION"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
