"""``connectorkit emulator [NAME]``: a local service, Power BI by default (own options).

Emulators register under the entry-point group ``connectorkit.emulators``; ``NAME`` (or
``--service NAME``) picks one, ``powerbi`` when neither is given.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry

EMULATOR_GROUP = "connectorkit.emulators"
DEFAULT_EMULATOR = "powerbi"
# What the `emulator` extra brings (its server, signed tokens, TLS, NTLM), by module name.
_EXTRA_MODULES = ("uvicorn", "joserfc", "trustme", "spnego")


def register(registry: Registry) -> None:
    """Add ``emulator``."""
    registry.add_passthrough(
        "emulator",
        "a local Power BI service; `emulator NAME` or `--service NAME` runs another registered "
        "emulator (see: connectorkit emulator -h)",
        handler=_emulator,
    )


def _choice(argv: list[str], names: set[str]) -> tuple[str, list[str]]:
    """The emulator named by ``--service NAME`` or a leading positional NAME, and the rest."""
    for i, arg in enumerate(argv):
        if arg == "--service" and i + 1 < len(argv):
            return argv[i + 1], argv[:i] + argv[i + 2 :]
        if arg.startswith("--service="):
            return arg.partition("=")[2], argv[:i] + argv[i + 1 :]
    if argv and argv[0] in names:
        return argv[0], argv[1:]
    return DEFAULT_EMULATOR, list(argv)


def _emulator(argv: list[str]) -> int:
    import importlib.metadata  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    found = {ep.name: ep for ep in importlib.metadata.entry_points(group=EMULATOR_GROUP)}
    name, rest = _choice(argv, set(found))
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        print(f"connectorkit: no emulator named {name!r} ({known})", file=sys.stderr)  # noqa: T201
        return 2
    # Emulators import their server lazily, so ask for it up front rather than fail mid-start.
    absent = [m for m in _EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if absent and not {"-h", "--help"} & set(rest):
        from connectorkit.core._install import missing_extra  # noqa: PLC0415

        # A usage error (exit 2), not a defect: the caller's environment lacks a part.
        sys.stderr.write(f"connectorkit: {missing_extra('emulator', 'the emulator', absent[0])}\n")
        return 2
    start = found[name].load()
    if name != DEFAULT_EMULATOR:
        return int(start(rest))
    from connectorkit.cli._emulator_connections import (  # noqa: PLC0415
        OWN_OPTIONS_HELP,
        run_with_connections,
    )

    if {"-h", "--help"} & set(rest):
        try:
            code = int(start(rest))
        except SystemExit as done:  # argparse ends its help this way
            code = done.code if isinstance(done.code, int) else 0
        sys.stdout.write(OWN_OPTIONS_HELP)
        return code

    return run_with_connections(rest, lambda argv: int(start(argv)))
