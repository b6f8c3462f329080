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
    "service_choices",
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


def input_completer(
    prefix: str, parsed_args: argparse.Namespace, **_: Any
) -> list[str] | dict[str, str]:
    """``name=`` for the action's inputs not given yet; after ``=``, the values an input allows.

    An input whose values the service lists completes from the service (with ``--connection``),
    each value described by its label.
    """
    pack = _pack(parsed_args)
    action = pack.actions.get(getattr(parsed_args, "action", "")) if pack else None
    if action is None or pack is None:
        return []
    key, sep, _value = prefix.partition("=")
    if sep:
        definition = action.input(key)
        if definition is None:
            return []
        if definition.choices is not None and not definition.enum:
            return service_choices(pack, action.key, key, prefix, parsed_args)
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


# How long a completion waits for the service: a shell that hangs on TAB is worse than none.
COMPLETION_TIMEOUT_MS = 3000


def service_choices(
    pack: Pack, action: str, key: str, prefix: str, parsed_args: argparse.Namespace
) -> dict[str, str]:
    """``key=VALUE`` completions from the service (label as the description), asked briefly.

    Needs ``--connection``; the inputs already on the line give the choices' parents. Nothing
    (no completion, no message on the terminal) when the service cannot say in time.
    """
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415

    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._inputs import parse_assignments  # noqa: PLC0415
    from connectorkit.core._errors import ConnectorError  # noqa: PLC0415
    from connectorkit.http._bounds import CallBounds  # noqa: PLC0415
    from connectorkit.protocol._protocol import respond  # noqa: PLC0415

    try:
        source = connection_source(getattr(parsed_args, "connection", None))
        given = [
            a
            for a in getattr(parsed_args, "assignments", None) or []
            if not a.startswith(key + "=")
        ]
        inputs = parse_assignments(pack.actions[action], given)
    except (ConnectorError, OSError, ValueError):
        return {}
    if source.connection is None:
        return {}
    bounds = CallBounds.from_environment(os.environ)
    runner = Runner(state_url=getattr(parsed_args, "state", None), bounds=CallBounds(
        timeout_s=min(bounds.timeout_s, COMPLETION_TIMEOUT_MS / 1000),
        max_retry_wait_s=0,
        max_response_bytes=bounds.max_response_bytes,
    ))  # fmt: skip
    request = {
        "choices": {"action": action, "input": key, "inputs": inputs},
        "connection": source.connection,
    }
    try:
        response, _ = respond(pack, runner, json.dumps(request))
    finally:
        runner.close()
    if not response.get("ok"):
        return {}
    if response.get("token"):
        source.save_token(response["token"])
    found: dict[str, str] = {}
    for choice in response["result"].get("choices") or []:
        text = f"{key}={choice['value']}"
        if text.startswith(prefix):
            found[text] = str(choice["label"])
    return found


def connection_completer(prefix: str, **_: Any) -> list[str]:
    """Connection files (``*.json``; ``NAME`` for ``./NAME.json``) below the current folder."""
    from pathlib import Path  # noqa: PLC0415

    folder = Path(prefix).parent if "/" in prefix else Path()
    found = [str(p) if "/" in prefix else p.stem for p in sorted(folder.glob("*.json"))]
    return [f for f in found if f.startswith(prefix)]
