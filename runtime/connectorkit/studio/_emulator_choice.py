"""Connections the page can pick without typing anything: the local emulator.

The emulator's credentials stay in this process; the page only ever sees them masked. Studio
can start an emulator of its own (``--emulator``), with a client secret made up for the session,
or use one already running (``--emulator URL``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.core._redact import MASK

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.pack._definitions import Pack

__all__ = [
    "DEFAULT_EMULATOR_CLIENT",
    "EmulatorProcess",
    "Preset",
    "emulator_preset",
    "endpoints_of",
]

# The client every emulator knows unless told otherwise (`connectorkit emulator -h`).
DEFAULT_EMULATOR_CLIENT = ("connectorkit-demo", "demo-secret")
_START_TIMEOUT_S = 30
_PR_SET_PDEATHSIG = 1  # prctl option, from <linux/prctl.h>


@dataclass(frozen=True, slots=True)
class Preset:
    """A ready connection: its key and values (secrets included, never sent to the page)."""

    id: str
    label: str
    key: str
    values: dict[str, Any]
    secret: frozenset[str]
    # What `connectorkit run --connection` is given for it.
    reference: str
    # A stored connection is named in the request; the runtime reads it from the state store.
    name: str | None = None
    tokens: tuple[str, ...] = ()

    def connection(self) -> dict[str, Any]:
        """The request's ``connection`` object."""
        if self.name is not None:
            return {"name": self.name}
        return {"key": self.key, "values": dict(self.values)}

    def secrets(self) -> list[str]:
        """The secret values (and stored tokens) to mask wherever they might show."""
        return [str(v) for k, v in self.values.items() if k in self.secret and v] + list(
            self.tokens
        )

    def public(self) -> dict[str, Any]:
        """The preset as the page sees it."""
        shown = {
            "id": self.id,
            "label": self.label,
            "key": self.key,
            "values": {k: MASK if k in self.secret else v for k, v in self.values.items()},
        }
        if self.name is not None:
            # Whether a token was saved with it; the token itself never reaches the page.
            shown["stored"] = {"name": self.name, "token": bool(self.tokens)}
        return shown


def emulator_preset(
    pack: Pack | None, endpoints: Mapping[str, str], client: tuple[str, str]
) -> Preset | None:
    """A connection of the pack pointed at an emulator, or None if no connection fits.

    A client-credentials connection is preferred (it needs no one to sign in); its values
    named like the emulator's endpoints (``base_url``, ``token_url``, ``authorize_url``) take
    them, ``tenant_id`` takes the emulator's tenant, ``client_id``/``client_secret`` the client.
    """
    connections = list(pack.connections.values()) if pack is not None else []
    if pack is None or not connections:
        return None
    chosen = next((c for c in connections if c.grant == "client_credentials"), None)
    chosen = chosen or pack.connections.get(pack.default_connection, connections[0])
    properties = {value.key for value in chosen.values}
    offered = {
        **{k: v for k, v in endpoints.items() if k in {"base_url", "token_url", "authorize_url"}},
        "tenant_id": endpoints.get("tenant", ""),
        "client_id": client[0],
        "client_secret": client[1],
    }
    values = {k: v for k, v in offered.items() if k in properties and v}
    return Preset(
        id="emulator",
        label=f"Emulator at {endpoints.get('url', '?')} ({chosen.label or chosen.key})",
        key=chosen.key,
        values=values,
        secret=chosen.secret_keys,
        reference="emulator.json",
    )


class EmulatorProcess:
    """``connectorkit emulator --port 0`` as a child process, with a client made up for it."""

    def __init__(self) -> None:
        self.client = ("connectorkit-studio", secrets.token_urlsafe(24))
        # The secret goes in through a pipe rather than argv, where `ps` would show it.
        command = [
            sys.executable,
            "-c",
            "import sys; from connectorkit.cli import main; sys.exit(main())",
            "emulator",
            "--port",
            "0",
            "--quiet",
            "--clients-file",
            "/dev/stdin",
        ]
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads run yet at start-up
        )
        assert self._process.stdin is not None  # noqa: S101 - asked for above
        assert self._process.stdout is not None  # noqa: S101
        clients = [{"client_id": self.client[0], "client_secret": self.client[1]}]
        self._process.stdin.write(json.dumps(clients))
        self._process.stdin.close()
        line = self._process.stdout.readline()
        try:
            self.endpoints: dict[str, str] = json.loads(line)
        except ValueError:
            self.stop()
            from connectorkit.core._install import extra_command  # noqa: PLC0415

            raise RuntimeError(
                "the emulator did not start; it needs the optional extra 'emulator': "
                + extra_command("emulator")
            ) from None

    def alive(self) -> bool:
        """Whether the child still runs."""
        return self._process.poll() is None

    def stop(self) -> None:
        """End the child and wait for it."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=_START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
        with contextlib.suppress(OSError):
            if self._process.stdout is not None:
                self._process.stdout.close()


def _die_with_parent() -> None:
    """In the child: end with SIGTERM when the studio ends, however it ends (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def endpoints_of(url: str, tenant: str = "emulator") -> dict[str, str]:
    """The endpoints of an emulator already running at ``url``, as it prints them."""
    root = url.rstrip("/")
    return {
        "url": root,
        "base_url": f"{root}/v1.0/myorg",
        "token_url": f"{root}/{tenant}/oauth2/v2.0/token",
        "authorize_url": f"{root}/{tenant}/oauth2/v2.0/authorize",
        "tenant": tenant,
    }
