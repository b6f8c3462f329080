"""A local Power BI Report Server for demos and tests: the REST API v2.0 behind Windows auth.

The server speaks a real NTLM/Negotiate handshake (pyspnego's acceptor), one per TCP
connection as IIS and HTTP.sys do, with accounts from flags or a file, and keeps a stateful
catalog: folders, Power BI reports (upload included), item policies, cache refresh plans
(execute included) and data model roles with their assignments. It imports nothing from
``connectorkit``; ``connectorkit emulator reportserver`` finds it through the
``connectorkit.emulators`` entry point group.

- `main(argv)`: the command.
- `ReportServer(config)`: a server object, to run in a thread (`serve`, `shutdown`).
- `SEED`: the GUIDs of the seeded folders, reports, plans and roles.
"""

from __future__ import annotations

from reportserver_emulator._catalog import SEED, Catalog
from reportserver_emulator._cli import DEFAULT_USER, main
from reportserver_emulator._server import EmulatorConfig, ReportServer
from reportserver_emulator._windows_auth import User, parse_user

__all__ = [
    "DEFAULT_USER",
    "SEED",
    "Catalog",
    "EmulatorConfig",
    "ReportServer",
    "User",
    "main",
    "parse_user",
]
