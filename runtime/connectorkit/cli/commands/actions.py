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
            "List the pack's actions: the important ones first, then every other by what it "
            "works on, the groups of administrators' actions last. With WORD, only the actions "
            "whose key, label or description mention it (any case)."
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


IMPORTANT = "Important"


def _actions(args: argparse.Namespace) -> int:
    from connectorkit.authoring._catalog import designer_order  # noqa: PLC0415
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
    ordered = designer_order(_grouped(a) for a in chosen)
    sections = [
        (IMPORTANT, [a for _, group in ordered for a in group if a.importance == "important"])
    ]
    sections += [
        (name, [a for a in group if a.importance != "important"]) for name, group in ordered
    ]
    internal = [a for a in chosen if a.importance == "internal"]
    sections.append(("Internal (used by other actions)", sorted(internal, key=lambda a: a.key)))
    width = max(len(a.key) for a in chosen)
    lines: list[str] = []
    for name, actions in sections:
        if actions:
            lines += [style.bold(name)]
            lines += [f"  {a.key.ljust(width)}  {a.label}" for a in actions]
            lines.append("")
    total = f"{len(chosen)} of {len(pack.actions)} actions" if word else f"{len(chosen)} actions"
    lines.append(style.dim(f"{total}; details: connectorkit docs ACTION"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _grouped(action: ActionDef) -> ActionDef:
    """The action with the group it is listed under (a pack may declare none)."""
    if action.group:
        return action
    import msgspec  # noqa: PLC0415 - definitions are msgspec structures

    return msgspec.structs.replace(action, group=group_of(action))
