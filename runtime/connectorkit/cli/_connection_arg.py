"""``--connection NAME|FILE``: where a terminal command's connection comes from, and goes back to.

A FILE holds the contract's ``connection`` object (``key``, ``values``, ``token``) as JSON; a
token the call renews is written back into it (the file stays readable by its owner only).
``NAME`` is ``./NAME.json`` when that file exists, else a stored connection: the request carries
``{"name": NAME}`` and the runtime reads it from the state store and keeps its renewed token
there.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidConnection
from connectorkit.core._settings import settings

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ConnectionSource", "connection_source", "write_private"]

ENV_VAR = "CONNECTORKIT_CONNECTION"


@dataclass(frozen=True, slots=True)
class ConnectionSource:
    """The request's ``connection``, and the file a renewed token is saved to (if any)."""

    connection: dict[str, Any] | None
    file: Path | None = None
    name: str | None = None

    def describe(self) -> str:
        """Where the connection came from, for messages."""
        if self.file is not None:
            return str(self.file)
        if self.name is not None:
            return f"stored connection '{self.name}'"
        return "no connection"

    def save_token(self, token: Mapping[str, Any]) -> bool:
        """Write a renewed ``token`` back into the connection file; whether it was written."""
        if self.file is None or self.connection is None:
            return False
        updated = {**self.connection, "token": dict(token)}
        write_private(self.file, json.dumps(updated, indent=2) + "\n")
        return True


def _fail(message: str) -> InvalidConnection:
    return InvalidConnection(message, details=[{"field": "--connection", "message": message}])


def connection_source(given: str | None) -> ConnectionSource:
    """Resolve ``--connection`` (or ``$CONNECTORKIT_CONNECTION``) into the request's connection."""
    given = given or settings().connection or None
    if given is None:
        return ConnectionSource(None)
    path = Path(given).expanduser()
    looks_like_file = path.suffix.lower() == ".json" or os.sep in given or path.is_file()
    if not looks_like_file and Path(f"{given}.json").is_file():
        path = Path(f"{given}.json")  # `--connection emulator` finds ./emulator.json
    elif not looks_like_file:
        return ConnectionSource({"name": given}, name=given)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read the connection file {given}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _fail(f"the connection file {given} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(f"the connection file {given} must hold a JSON object")
    return ConnectionSource(data, file=path)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).chmod(0o600)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
