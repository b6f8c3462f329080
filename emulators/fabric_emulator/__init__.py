"""A local Microsoft Fabric for demos and tests: its REST API, OneLake, and identity platform.

Every operation of Microsoft's Fabric REST swagger answers, through the swagger-driven core
(`emulator_core`) it shares with the Power BI emulator; workspaces, items, lakehouse tables,
OneLake files, Load Table, job instances and long-running operations keep state. Sign-in is
the Power BI emulator's identity platform, so one token service serves both emulated services.

- `main(argv)`: the `connectorkit emulator fabric` command.
- `running(**options)`: a context manager serving on a free loopback port in a thread.
- `create_app(config)`: the ASGI app, for in-process use.
"""

from __future__ import annotations

from fabric_emulator._app import FabricApp, create_app
from fabric_emulator._cli import main
from fabric_emulator._cloud import FABRIC_CLOUDS, FabricCloud
from fabric_emulator._config import FabricConfig
from fabric_emulator._server import FabricHandle, running
from fabric_emulator._service import fabric_swagger
from fabric_emulator._store import SEED_IDS

__all__ = [
    "FABRIC_CLOUDS",
    "SEED_IDS",
    "FabricApp",
    "FabricCloud",
    "FabricConfig",
    "FabricHandle",
    "create_app",
    "fabric_swagger",
    "main",
    "running",
]
