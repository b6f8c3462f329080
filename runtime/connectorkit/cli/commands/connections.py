"""``connectorkit connections``: connections kept in the state store, by name.

``list`` (the default), ``show NAME``, ``add NAME``, ``remove NAME``, ``new-key``, ``rekey``.
For people: a table, key facts and sentences; ``--json``: the protocol's envelope.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import configure_logging
from connectorkit.cli._voice import Voice, add_store_options
from connectorkit.core._errors import ConnectorError, InvalidRequest
from connectorkit.core._redact import MASK

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.cli._render import Style
    from connectorkit.state import State, StoredConnection, StoredConnections

_SAVE_ONE = (
    "save one with `connectorkit auth login --save NAME`, `connectorkit connections add NAME` "
    "or `connectorkit emulator --save-connections`"
)


def register(registry: Registry) -> None:
    """Add ``connections`` and its verbs."""
    sub = registry.add(
        "connections",
        "connections kept in the state store: list, show, add, remove, new-key, rekey",
        handler=_connections,
        description=(
            "Keep connections in the state store under a name, so that neither a platform nor a "
            "person carries their secrets or rotates their tokens: a request then says "
            '{"connection": {"name": NAME}}, and --connection NAME finds it. Values and tokens '
            "are sealed at rest. Without a verb, the stored connections are listed."
        ),
        examples=[
            "connectorkit connections",
            "connectorkit connections show sales",
            "connectorkit connections add ops --from ops.json",
            "connectorkit connections remove sales",
            "export CONNECTORKIT_STATE_KEY=$(connectorkit connections new-key)",
        ],
    )
    add_store_options(sub)
    verbs = sub.add_subparsers(dest="verb", metavar="VERB", parser_class=type(sub))
    for name, summary, examples in _VERBS:
        verb = registry.add_verb(verbs, name, summary, examples=examples)
        if name in {"show", "add", "remove"}:
            verb.add_argument("name", metavar="NAME", help="the connection's name")
        if name == "add":
            verb.add_argument(
                "--from",
                dest="source",
                default="-",
                metavar="FILE",
                help="a JSON file with key, values and token ('-', the default: stdin)",
            )
        add_store_options(verb, verb=True)


_VERBS = [
    (
        "list",
        "the stored connections: name, key, token, when saved",
        ["connectorkit connections list"],
    ),
    (
        "show",
        "one connection's values (secrets shown as ***) and token",
        ["connectorkit connections show sales --pack reportserver"],
    ),
    (
        "add",
        "store a connection (key, values, token as JSON) under NAME",
        [
            "connectorkit connections add ops --from emulator-sp.json",
            "connectorkit connections add ops < connection.json",
        ],
    ),
    ("remove", "forget a stored connection and its token", ["connectorkit connections remove ops"]),
    (
        "new-key",
        "print a fresh key for CONNECTORKIT_STATE_KEY",
        ["export CONNECTORKIT_STATE_KEY=$(connectorkit connections new-key)"],
    ),
    (
        "rekey",
        "seal every stored secret again with the newest key of CONNECTORKIT_STATE_KEY",
        ["CONNECTORKIT_STATE_KEY=NEW,OLD connectorkit connections rekey"],
    ),
]


def _connections(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one return per verb
    from connectorkit.state import StateError, StoredConnections, new_key, open_state  # noqa: PLC0415

    configure_logging()
    voice = Voice(as_json=args.json)
    verb = args.verb or "list"
    if verb == "new-key":
        key = new_key()
        return voice.done({"key": key}, key)
    try:
        state = open_state(args.state)
    except StateError as exc:
        return voice.fail(InvalidRequest(f"the state store: {exc}"))
    try:
        stored = StoredConnections(state)
        if verb == "list":
            return _list(voice, stored, state)
        if verb == "rekey":
            count = stored.reseal()
            return voice.done(
                {"resealed": count}, f"sealed {count} record(s) again with the newest key"
            )
        if verb == "add":
            return _add(voice, stored, args)
        found = stored.load(args.name)
        if found is None:
            return voice.fail(
                InvalidRequest(
                    f"there is no stored connection '{args.name}' in {_where(state)}; "
                    "`connectorkit connections` lists the stored ones",
                    details=[{"field": "NAME", "message": "no such stored connection"}],
                )
            )
        if verb == "remove":
            stored.remove(args.name)
            return voice.done({"removed": args.name}, f"removed connection '{args.name}'")
        return _show(voice, found, args)
    except (ConnectorError, StateError) as exc:
        error = exc if isinstance(exc, ConnectorError) else InvalidRequest(str(exc))
        return voice.fail(error)
    finally:
        state.close()


def _list(voice: Voice, stored: StoredConnections, state: State) -> int:
    summaries = [
        _summary(found) for name in stored.names() if (found := stored.load(name)) is not None
    ]
    if not summaries:
        return voice.empty([], f"no stored connections in {_where(state)}; {_SAVE_ONE}")

    def text(style: Style) -> str:
        from connectorkit.cli._render import table  # noqa: PLC0415

        rows = [
            {
                "name": s["name"],
                "key": s["key"],
                "token": _token_text(s),
                "saved": _when(s["saved_at"]),
            }
            for s in summaries
        ]
        return table(rows, style)

    return voice.done(summaries, text)


def _show(voice: Voice, found: StoredConnection, args: argparse.Namespace) -> int:
    shown = _summary(found)
    secret = _secret_keys(getattr(args, "pack", None), found.key)
    shown["values"] = {
        k: MASK if secret is None or k in secret else v for k, v in found.values.items()
    }

    def text(style: Style) -> str:
        facts = {
            "name": shown["name"],
            "key": shown["key"],
            **{f"values.{k}": v for k, v in shown["values"].items()},
            "token": _token_text(shown),
            "saved": _when(shown["saved_at"]),
        }
        width = max(len(k) for k in facts)
        return "\n".join(f"{style.bold(k.ljust(width))}  {v}" for k, v in facts.items())

    return voice.done(shown, text)


def _add(voice: Voice, stored: StoredConnections, args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.source == "-" else _read(args.source)
    try:
        data = json.loads(text)
    except ValueError:
        return voice.fail(_bad_input(f"{_said(args.source)} is not JSON"))
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return voice.fail(
            _bad_input(f"{_said(args.source)} must be a JSON object with key, values and token")
        )
    from connectorkit._bind import bind_connection  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    bind_connection(load_pack(getattr(args, "pack", None)), data)  # refused now, not at first use
    stored.save(args.name, data["key"], data.get("values") or {}, data.get("token"))
    return voice.done(
        {"saved": args.name},
        f"saved connection '{args.name}' ({data['key']}); use it with --connection {args.name}",
    )


def _bad_input(message: str) -> InvalidRequest:
    return InvalidRequest(
        f"connections add: {message}", details=[{"field": "--from", "message": message}]
    )


def _said(source: str) -> str:
    return "standard input" if source == "-" else source


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as source:  # noqa: PTH123 - a plain text read
            return source.read()
    except OSError as exc:
        raise InvalidRequest(
            f"connections add: cannot read {path}: {exc.strerror}",
            details=[{"field": "--from", "message": exc.strerror or "cannot be read"}],
        ) from None


def _summary(stored: StoredConnection) -> dict[str, Any]:
    token = stored.token or {}
    return {
        "name": stored.name,
        "key": stored.key,
        "has_token": bool(token.get("access_token")),
        "has_refresh_token": bool(token.get("refresh_token")),
        "expires_at": token.get("expires_at"),
        "saved_at": round(stored.saved_at),
    }


def _token_text(summary: dict[str, Any]) -> str:
    if not summary["has_token"]:
        return "none (one is fetched when needed)"
    renew = ", renewable" if summary["has_refresh_token"] else ""
    expires = summary["expires_at"]
    if not isinstance(expires, int | float):
        return f"held{renew}"
    if expires <= time.time():
        return f"expired {_when(expires)}{renew}"
    return f"valid until {_when(expires)}{renew}"


def _when(stamp: Any) -> str:
    from connectorkit.cli._render import local_time  # noqa: PLC0415

    return local_time(stamp) if isinstance(stamp, int | float) and stamp else "?"


def _where(state: State) -> str:
    url = state.store.url
    return url.split("@")[-1] if "@" in url else url


def _secret_keys(pack_dir: Any, key: str) -> frozenset[str] | None:
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    # Unknown to this pack (None): show nothing in clear rather than guess.
    return load_pack(pack_dir).secret_keys(key)
