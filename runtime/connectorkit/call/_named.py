"""Stored connections from the outside: ``connectorkit connections …`` and requests naming one.

A request may carry ``"connection": {"name": "sales"}`` instead of values and a token: the
values and the newest token come from the state store, and renewed tokens go back there (the
response carries no ``token`` for it: the store keeps it). ``values`` given beside ``name``
override stored ones for that request.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from connectorkit.core._errors import ConnectorError, InvalidConnection, InvalidRequest
from connectorkit.core._redact import MASK

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.pack._definitions import Pack
    from connectorkit.state import State

__all__ = ["resolve_stored", "run_connections"]


def resolve_stored(state: State, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The request's ``connection`` with a stored connection's key, values and token filled in."""
    from connectorkit.state import StateError, StoredConnections  # noqa: PLC0415

    name = raw["name"]
    if raw.get("token") is not None:
        raise InvalidConnection(
            "connection.token cannot be given with connection.name: the store keeps its token",
            details=[{"field": "connection.token", "message": "not allowed with name"}],
        )
    try:
        stored = StoredConnections(state).load(name)
    except StateError as exc:
        raise InvalidConnection(
            str(exc), details=[{"field": "connection.name", "message": str(exc)}]
        ) from None
    if stored is None:
        how = f"`connectorkit auth login --save {name}` or `connectorkit connections add`"
        if name in {"emulator", "emulator-sp"}:
            how = f"`connectorkit emulator --save-connections` (it saves '{name}') or {how}"
        raise InvalidConnection(
            f"there is no stored connection '{name}' in the state store ({_where(state)}); save "
            f"one with {how}",
            details=[{"field": "connection.name", "message": "no such stored connection"}],
        )
    key = raw.get("key")
    if key is not None and key != stored.key:
        raise InvalidConnection(
            f"stored connection '{name}' is a '{stored.key}' connection, not '{key}'",
            details=[{"field": "connection.key", "message": f"the stored one is '{stored.key}'"}],
        )
    return {
        "key": stored.key,
        "values": {**stored.values, **(raw.get("values") or {})},
        "token": stored.token,
        "name": name,
    }


def _where(state: State) -> str:
    url = state.store.url
    return url.split("@")[-1] if "@" in url else url


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise InvalidRequest(f"connections: {message}")


def _parser() -> _Parser:
    parser = _Parser(
        prog="connectorkit connections",
        description="Connections kept in the state store (values and tokens, sealed at rest).",
    )
    parser.add_argument("--state", metavar="URL", help="state store (default: $CONNECTORKIT_STATE)")
    parser.add_argument("--pack", help="action pack folder, to know which values are secret")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the stored connections, one JSON object per line")
    for name, text in (("show", "one connection, secrets masked"), ("remove", "forget one")):
        commands.add_parser(name, help=text).add_argument("name")
    add = commands.add_parser("add", help="store a connection from a JSON request connection")
    add.add_argument("name")
    add.add_argument("--from", dest="source", default="-", metavar="FILE",
                     help="JSON {key, values, token} ('-': stdin, the default)")  # fmt: skip
    commands.add_parser("new-key", help="print a fresh key for CONNECTORKIT_STATE_KEY")
    commands.add_parser("rekey", help="seal everything again with the newest key")
    return parser


def run_connections(argv: list[str], *, stdout: TextIO, stderr: TextIO) -> int:
    """``connectorkit connections …``; JSON on stdout, exit codes as ``invoke``'s."""
    from connectorkit.state import StateError  # noqa: PLC0415

    parser = _parser()
    if {"-h", "--help"} & set(argv):
        stdout.write(parser.format_help())
        return 0
    try:
        options = parser.parse_args(argv)
        return _run(options, stdout)
    except (ConnectorError, StateError, ValueError) as exc:
        error = exc if isinstance(exc, ConnectorError) else InvalidRequest(f"connections: {exc}")
        stdout.write(json.dumps({"ok": False, "error": error.to_dict()}) + "\n")
        stderr.write(f"connectorkit: {error.message}\n")
        return error.exit_code


def _run(options: argparse.Namespace, stdout: TextIO) -> int:
    from connectorkit.state import StoredConnections, new_key, open_state  # noqa: PLC0415

    if options.command == "new-key":
        stdout.write(new_key() + "\n")
        return 0
    state = open_state(options.state)
    try:
        connections = StoredConnections(state)
        if options.command == "list":
            for name in connections.names():
                stored = connections.load(name)
                if stored is not None:
                    stdout.write(json.dumps(_summary(stored)) + "\n")
            return 0
        if options.command == "rekey":
            stdout.write(json.dumps({"ok": True, "resealed": connections.reseal()}) + "\n")
            return 0
        if options.command == "add":
            return _add(connections, options, stdout)
        stored = connections.load(options.name)
        if stored is None:
            raise InvalidRequest(f"connections: there is no stored connection '{options.name}'")
        if options.command == "remove":
            connections.remove(options.name)
            stdout.write(json.dumps({"ok": True, "removed": options.name}) + "\n")
            return 0
        shown = _summary(stored)
        secret = _secret_keys(options.pack, stored.key)
        shown["values"] = {
            k: MASK if secret is None or k in secret else v for k, v in stored.values.items()
        }
        stdout.write(json.dumps(shown, indent=2) + "\n")
        return 0
    finally:
        state.close()


def _add(connections: Any, options: argparse.Namespace, stdout: TextIO) -> int:
    text = sys.stdin.read() if options.source == "-" else _read(options.source)
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidRequest("connections add: the input is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        raise InvalidRequest("connections add: give a JSON object with key, values and token")
    from connectorkit._bind import bind_connection  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    bind_connection(load_pack(options.pack), data)  # refused now rather than at first use
    connections.save(options.name, data["key"], data.get("values") or {}, data.get("token"))
    stdout.write(json.dumps({"ok": True, "saved": options.name}) + "\n")
    return 0


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as source:  # noqa: PTH123 - a plain text read
            return source.read()
    except OSError as exc:
        raise InvalidRequest(f"connections add: cannot read {path}: {exc.strerror}") from None


def _summary(stored: Any) -> dict[str, Any]:
    token = stored.token or {}
    return {
        "name": stored.name,
        "key": stored.key,
        "has_token": bool(token.get("access_token")),
        "has_refresh_token": bool(token.get("refresh_token")),
        "expires_at": token.get("expires_at"),
        "saved_at": round(stored.saved_at),
    }


def _secret_keys(pack_dir: str | None, key: str) -> frozenset[str] | None:
    from pathlib import Path  # noqa: PLC0415

    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    pack: Pack = load_pack(Path(pack_dir) if pack_dir else None)
    return pack.secret_keys(key)
