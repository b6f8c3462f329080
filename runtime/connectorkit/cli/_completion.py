"""Shell completion through argcomplete: commands, options, action keys and input names.

The shell asks by running the command with ``_ARGCOMPLETE`` set; only then is argcomplete
imported, so ordinary runs never pay for it. Completers read the pack (from its cache), so they
offer the actions and inputs of the pack ``--pack`` names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from connectorkit.pack._definitions import Pack

__all__ = [
    "action_completer",
    "autocomplete",
    "connection_completer",
    "input_completer",
    "shell_code",
]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (argcomplete exits the process when it has)."""
    import argcomplete  # noqa: PLC0415 - only when the shell asks

    argcomplete.autocomplete(parser)


def shell_code(shell: str) -> str:
    """The snippet that turns completion on for ``connectorkit`` in ``shell``."""
    from argcomplete.shell_integration import shellcode  # noqa: PLC0415

    return str(shellcode(["connectorkit"], shell=shell))


def _pack(parsed_args: argparse.Namespace) -> Pack | None:
    from connectorkit.cli._common import load  # noqa: PLC0415
    from connectorkit.core._errors import ConnectorError  # noqa: PLC0415

    try:
        return load(getattr(parsed_args, "pack", None))
    except (ConnectorError, OSError):
        return None


def action_completer(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The pack's action keys that start with ``prefix``."""
    pack = _pack(parsed_args)
    return sorted(k for k in pack.actions if k.startswith(prefix)) if pack else []


def input_completer(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """``name=`` for the action's inputs not given yet; after ``=``, the values an input allows."""
    pack = _pack(parsed_args)
    action = pack.actions.get(getattr(parsed_args, "action", "")) if pack else None
    if action is None:
        return []
    key, sep, _value = prefix.partition("=")
    if sep:
        definition = action.input(key)
        if definition is None:
            return []
        choices: list[Any] = (
            list(definition.enum or ())
            if definition.enum
            else ["true", "false"]
            if definition.type == "boolean"
            else []
        )
        return [f"{key}={c}" for c in choices if f"{key}={c}".startswith(prefix)]
    given = {a.partition("=")[0] for a in getattr(parsed_args, "assignments", None) or []}
    return [f"{i.key}=" for i in action.inputs if i.key.startswith(prefix) and i.key not in given]


def connection_completer(prefix: str, **_: Any) -> list[str]:
    """Connection files (``*.json``; ``NAME`` for ``./NAME.json``) below the current folder."""
    from pathlib import Path  # noqa: PLC0415

    folder = Path(prefix).parent if "/" in prefix else Path()
    found = [str(p) if "/" in prefix else p.stem for p in sorted(folder.glob("*.json"))]
    return [f for f in found if f.startswith(prefix)]
