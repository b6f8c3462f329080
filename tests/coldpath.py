"""What a plain call may import: held by tests/test_cold_start.py and printed by the benchmark.

A plain call is one request of an action that sends one request and shapes its answer (such as
``list_groups``) with its token given. Every module it imports is start-up time paid on every
``invoke``; long-running operations, pages, files, pushes, other connection kinds, the pack
checker and the state backends load only for the requests that need them.
"""

from __future__ import annotations

import re

__all__ = ["HEAVY", "PLAIN_CALL", "imported", "off_the_path"]

# The runtime's modules a plain call imports (packages' __init__ included).
PLAIN_CALL = frozenset(
    {
        "connectorkit",
        "connectorkit._bind",
        "connectorkit.auth",
        "connectorkit.auth._base",
        "connectorkit.auth._flow",
        "connectorkit.auth._kinds",
        "connectorkit.auth._oauth",
        "connectorkit.call",
        "connectorkit.call._entry",
        "connectorkit.call._run",
        "connectorkit.call._send",
        "connectorkit.cli",
        "connectorkit.cli._common",
        "connectorkit.cli._protocol_command",
        "connectorkit.cli.commands",
        "connectorkit.cli.commands.invoke",
        "connectorkit.core",
        "connectorkit.core._contract",
        "connectorkit.core._errors",
        "connectorkit.core._json",
        "connectorkit.core._redact",
        "connectorkit.core._request",
        "connectorkit.core._settings",
        "connectorkit.core._template",
        "connectorkit.core._version",
        "connectorkit.http",
        "connectorkit.http._bounds",
        "connectorkit.http._client",
        "connectorkit.http._responses",
        "connectorkit.http._retry",
        "connectorkit.pack",
        "connectorkit.pack._budgets",
        "connectorkit.pack._cache",
        "connectorkit.pack._connections",
        "connectorkit.pack._definitions",
        "connectorkit.pack._files",
        "connectorkit.pack._load",
        "connectorkit.pack._value_sets",
        "connectorkit.protocol",
        "connectorkit.protocol._protocol",
        "connectorkit.state",
        "connectorkit.state._keys",
        "connectorkit.state._token_store",
        "connectorkit.state._tokens",
        "connectorkit.types",
        "connectorkit.types._compile",
        "connectorkit.types._explain",
        "connectorkit.types._fastpath",
        "connectorkit.types._input",
        "connectorkit.types._issues",
    }
)

# Libraries the runtime uses elsewhere that a plain call must not load (httpx's own imports,
# whatever they are in an environment, are the hand-written script's cost too).
HEAVY = (
    "argcomplete",
    "authlib",
    "cryptography",
    "ijson",
    "jsonschema",
    "orjson",
    "platformdirs",
    "pydantic",
    "redis",
    "referencing",
    "spnego",
    "sqlite3",
    "tqdm",
    "uvicorn",
    "yaml",
)

_LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)")


def imported(importtime_stderr: str) -> list[str]:
    """The modules ``python -X importtime`` reported, in the order it reported them."""
    return [m.group(1) for line in importtime_stderr.splitlines() if (m := _LINE.match(line))]


def off_the_path(modules: list[str]) -> list[str]:
    """The modules that should not be on a plain call's path: runtime modules not in
    :data:`PLAIN_CALL`, and the :data:`HEAVY` libraries."""
    found = []
    for name in modules:
        top = name.split(".")[0]
        if (top == "connectorkit" and name not in PLAIN_CALL) or top in HEAVY:
            found.append(name)
    return sorted(set(found))
