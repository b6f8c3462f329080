"""A local, faithful Power BI service for demos and tests (like Azurite or LocalStack).

Identity platform endpoints (authorization code with PKCE, refresh tokens, client credentials
with a secret, a certificate or a federated token, managed identities) and the Power BI REST
API routes of the action pack, with push dataset limits enforced, on an emulated clock that
can run faster than real time, plus fault injection through a control API under `/_emulator/`.

- `main(argv)`: the `connectorkit emulator` command.
- `running(**options)`: a context manager serving on a free loopback port in a thread.
- `create_app(config)`: the ASGI app, for in-process use.
"""

from __future__ import annotations

from powerbi_emulator._app import EmulatorApp, create_app
from powerbi_emulator._cli import main
from powerbi_emulator._config import (
    DEFAULT_CLIENT,
    ClientApp,
    ConfigError,
    EmulatorConfig,
    FaultSpec,
    FederatedCredential,
    ManagedIdentity,
    PushLimits,
)
from powerbi_emulator._server import EmulatorHandle, running
from powerbi_emulator._store import SEED_IDS

__all__ = [
    "DEFAULT_CLIENT",
    "SEED_IDS",
    "ClientApp",
    "ConfigError",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorHandle",
    "FaultSpec",
    "FederatedCredential",
    "ManagedIdentity",
    "PushLimits",
    "create_app",
    "main",
    "running",
]
