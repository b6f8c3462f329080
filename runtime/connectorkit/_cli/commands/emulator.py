"""``connectorkit emulator``: a local Power BI service (it parses its own options)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectorkit._cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``emulator``."""
    registry.add_passthrough(
        "emulator", "a local Power BI service (see: connectorkit emulator -h)", handler=_emulator
    )


def _emulator(argv: list[str]) -> int:
    import importlib.util  # noqa: PLC0415

    # The emulator imports its server lazily, so ask for it up front rather than fail mid-start.
    if importlib.util.find_spec("uvicorn") is None and not {"-h", "--help"} & set(argv):
        print(  # noqa: T201
            "connectorkit: the emulator needs its extra: pip install 'connectorkit[emulator]'",
            file=sys.stderr,
        )
        return 3
    from connectorkit.emulator import main as emulator_main  # noqa: PLC0415

    return int(emulator_main(argv))
