"""``connectorkit auth``: OAuth 2.0 sign-in (``auth login``), which parses its own options."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from connectorkit._cli._common import configure_logging

if TYPE_CHECKING:
    from connectorkit._cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``auth``."""
    registry.add_passthrough(
        "auth",
        "OAuth 2.0: `auth login` obtains a token (see: connectorkit auth login -h)",
        handler=_auth,
    )


def _auth(argv: list[str]) -> int:
    if argv[:1] != ["login"]:
        print("connectorkit: usage: connectorkit auth login [options]", file=sys.stderr)  # noqa: T201
        return 2
    from connectorkit._login import run_login  # noqa: PLC0415

    configure_logging()
    return int(run_login(argv[1:], stdout=sys.stdout, stderr=sys.stderr))
