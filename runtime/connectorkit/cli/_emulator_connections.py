"""Connections to a running emulator, ready to use: printed, and written as connection files.

``connectorkit emulator`` watches the one JSON line the emulator announces on stdout (its URLs)
and, once it is ready, describes two connections on stderr: ``emulator-sp`` (the service
principal, client credentials) and ``emulator`` (a signed-in user, whose token it obtains by
signing in through the emulator's authorize endpoint, which approves every request). With
``--connections-dir DIR`` it also writes them as ``DIR/emulator.json`` and
``DIR/emulator-sp.json``, which ``--connection`` takes as they are; with ``--save-connections``
it saves them as stored connections of that name in the state store (``--state URL``, else
``$CONNECTORKIT_STATE``, else the user's SQLite file), so ``--connection emulator`` works from
any folder. The emulator itself stays unaware of all this: it only announces its URLs.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from connectorkit.state import State

__all__ = [
    "OWN_OPTIONS_HELP",
    "AnnounceTap",
    "ConnectionsOffer",
    "OwnOptions",
    "run_with_connections",
    "split_options",
]

DEFAULT_CLIENT = ("connectorkit-demo", "demo-secret")  # the emulator's documented default app
_REDIRECT = "http://127.0.0.1/callback"  # never contacted: the code is read from the redirect
_DIR, _SAVE, _STATE = "--connections-dir", "--save-connections", "--state"
OWN_OPTIONS_HELP = f"""
connectorkit's own options (the default emulator only):
  {_DIR} DIR   write the two ready connections as DIR/emulator.json and
                          DIR/emulator-sp.json (the user's with its token)
  {_SAVE}      save them as stored connections 'emulator' and 'emulator-sp'
                          in the state store, replacing ones of those names
  {_STATE} URL             the state store {_SAVE} saves to (default:
                          $CONNECTORKIT_STATE, else the user's SQLite file)

examples:
  connectorkit emulator --port 8642 --connections-dir .   # then: run list_groups -c emulator
  connectorkit emulator --save-connections                # then, anywhere: -c emulator-sp
  connectorkit emulator --time-scale 60 --latency 50      # an hour's limits in a minute
  connectorkit emulator reportserver --port 0             # another registered emulator
"""


def _both(folder: Path) -> str:
    """``emulator.json and emulator-sp.json``, in ``folder`` when it is not the working one."""
    if folder.resolve() == Path.cwd().resolve():
        return "emulator.json and emulator-sp.json"
    return f"{folder / 'emulator.json'} and {folder / 'emulator-sp.json'}"


class _UsageError(Exception):
    """connectorkit's own emulator options are wrong (exit 2)."""


@dataclass(frozen=True, slots=True)
class OwnOptions:
    """What ``connectorkit emulator`` takes for itself rather than passing to the emulator."""

    folder: Path | None = None
    save: bool = False
    state_url: str | None = None


def split_options(argv: list[str]) -> tuple[OwnOptions, list[str]]:
    """Take ``--connections-dir DIR``, ``--save-connections`` and ``--state URL`` out."""
    rest: list[str] = []
    given: dict[str, str] = {}
    save = False
    args = iter(argv)
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in {_DIR, _STATE}:
            value = value if eq else next(args, "")
            if not value or (not eq and value.startswith("-")):
                what = "DIR" if name == _DIR else "URL"
                raise _UsageError(f"{name} needs a value ({name} {what})")
            given[name] = value
        elif arg == _SAVE:
            save = True
        else:
            rest.append(arg)
    if _STATE in given and not save:
        raise _UsageError(f"{_STATE} names the store {_SAVE} saves to: add {_SAVE}")
    folder = Path(given[_DIR]) if _DIR in given else None
    return OwnOptions(folder, save, given.get(_STATE)), rest


def _client(argv: list[str]) -> tuple[str, str | None]:
    """The first ``--client ID:SECRET`` given to the emulator, else its default app."""
    for i, arg in enumerate(argv):
        given = argv[i + 1] if arg == "--client" and i + 1 < len(argv) else None
        if arg.startswith("--client="):
            given = arg.partition("=")[2]
        if given:
            client_id, _, secret = given.partition(":")
            return client_id, secret or None
    return DEFAULT_CLIENT


class AnnounceTap:
    """Stands in for stdout: passes everything through, and hands the first line to a callback."""

    def __init__(self, stream: TextIO, on_line: Callable[[str], None]) -> None:
        self._stream = stream
        self._on_line: Callable[[str], None] | None = on_line
        self._pending = ""

    def write(self, text: str) -> int:
        """Write ``text`` through; the first complete line also goes to the callback."""
        written = self._stream.write(text)
        if self._on_line is not None:
            self._pending += text
            line, newline, _ = self._pending.partition("\n")
            if newline:
                callback, self._on_line = self._on_line, None
                callback(line)
        return written

    def flush(self) -> None:
        """Flush the real stdout."""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ConnectionsOffer:
    """Builds, prints and writes the two connections once the emulator says where it is."""

    def __init__(
        self,
        argv: list[str],
        folder: Path | None,
        notice: TextIO,
        *,
        state: State | None = None,
        state_hint: str = "",
    ) -> None:
        self.client_id, self.client_secret = _client(argv)
        self.folder = folder
        self.notice = notice
        self.state = state  # where --save-connections saves them (opened before the start)
        self.state_hint = state_hint  # " --state URL" when that is needed to find them again
        self.done = threading.Event()
        self.announced = False

    def on_announce(self, line: str) -> None:
        """Called with the emulator's first stdout line; the work runs beside the server."""
        self.announced = True
        try:
            urls = json.loads(line)
        except ValueError:
            self.done.set()
            return
        if not isinstance(urls, dict) or not {"token_url", "base_url"} <= set(urls):
            self.done.set()
            return
        # The server answers on another thread only after this returns: sign in beside it.
        threading.Thread(target=self._offer, args=(urls,), daemon=True).start()

    def _offer(self, urls: dict[str, Any]) -> None:
        try:
            self._write(self.connections(urls))
        except Exception as exc:  # noqa: BLE001 - a convenience must never stop the emulator
            self.notice.write(f"connectorkit: could not prepare the connections: {exc}\n")
        finally:
            self.notice.flush()
            self.done.set()

    def connections(self, urls: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``emulator-sp`` and ``emulator`` (with a user's token), as request connections.

        Their keys and the user's scopes are those of the bundled pack's connections, whose
        service the emulator stands in for.
        """
        from connectorkit._bind import bind_connection  # noqa: PLC0415
        from connectorkit.cli._common import load  # noqa: PLC0415

        pack = load(None)
        # The connections that sign in with the client's secret (the emulator's default app has
        # one); the first of each grant, as the pack lists them.
        grants: dict[str | None, Any] = {}
        for definition in pack.connections.values():
            secret_based = definition.token_endpoint_auth_method != "private_key_jwt"  # noqa: S105
            if definition.type == "oauth2" and secret_based:
                grants.setdefault(definition.grant, definition)
        values = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_url": urls["token_url"],
            "base_url": urls["base_url"],
        }
        out: dict[str, dict[str, Any]] = {}
        user_def = grants.get("authorization_code")
        if user_def is not None:
            user_values = {**values, "authorize_url": urls["authorize_url"]}
            # The pack's default scopes, as binding builds them (from the cloud's resource).
            bound = bind_connection(pack, {"key": user_def.key, "values": user_values})
            user_values["scopes"] = bound.values.get("scopes")
            token = self._sign_in(user_values, urls.get("ca_file"))
            out["emulator"] = {"key": user_def.key, "values": user_values, "token": token}
        app_def = grants.get("client_credentials")
        if app_def is not None:
            app_values = {"tenant_id": urls.get("tenant", "emulator"), **values}
            out["emulator-sp"] = {"key": app_def.key, "values": app_values}
        return out

    def _sign_in(self, values: dict[str, Any], ca_file: str | None) -> dict[str, Any]:
        """A user's token: the authorize request (which the emulator approves), then the code.

        Under ``--tls`` the emulator's own CA (``ca_file``) is what vouches for it.
        """
        import ssl  # noqa: PLC0415

        import httpx  # noqa: PLC0415

        from connectorkit.auth._oauth import (  # noqa: PLC0415
            OAuthClient,
            authorization_url,
            fetch_token,
            new_pkce_pair,
            new_state,
        )

        state = new_state()
        verifier, challenge = new_pkce_pair()
        scopes = values.get("scopes")
        url = authorization_url(
            values["authorize_url"], self.client_id, _REDIRECT, scopes, state, challenge
        )
        verify: ssl.SSLContext | bool = True
        if ca_file:
            verify = ssl.create_default_context(cafile=ca_file)
        with httpx.Client(timeout=30, trust_env=False, verify=verify) as http:
            answer = http.get(url)
            query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
            if query.get("state") != [state] or not query.get("code"):
                raise RuntimeError(
                    f"the emulator did not approve the sign-in ({answer.status_code})"
                )
            client = OAuthClient(
                token_url=values["token_url"],
                client_id=self.client_id,
                client_secret=self.client_secret,
                scope=scopes,
            )
            grant = {
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": _REDIRECT,
                "code_verifier": verifier,
            }
            return fetch_token(http, client, grant, timeout=30)

    def _write(self, connections: dict[str, dict[str, Any]]) -> None:
        say = self.notice.write
        if "emulator-sp" in connections:
            say(
                "connectorkit: the service principal's connection (paste it as a request's "
                '"connection", or save it in a file for --connection FILE):\n'
                f"  {json.dumps(connections['emulator-sp'])}\n"
            )
        if self.state is not None:
            self._save(connections)
        if self.folder is None:
            if self.state is not None:
                return
            say(
                "connectorkit: start the emulator with --connections-dir DIR to have both "
                "connections written as files, the signed-in user's (emulator.json) with its "
                "token\n"
            )
            return
        from connectorkit.cli._connection_arg import write_private  # noqa: PLC0415

        self.folder.mkdir(parents=True, exist_ok=True)
        for name, connection in connections.items():
            write_private(self.folder / f"{name}.json", json.dumps(connection, indent=2) + "\n")
        here = self.folder.resolve() == Path.cwd().resolve()
        name = "emulator" if here else str(self.folder / "emulator.json")  # NAME finds NAME.json
        say(
            f"connectorkit: written to {_both(self.folder)}; try:\n"
            f"  connectorkit run list_groups --connection {name}\n"
        )

    def _save(self, connections: dict[str, dict[str, Any]]) -> None:
        """Keep the connections in the state store under their names (replacing older ones)."""
        from connectorkit.state import StoredConnections  # noqa: PLC0415

        assert self.state is not None  # noqa: S101 - only called with a store
        stored = StoredConnections(self.state)
        for name, connection in connections.items():
            stored.save(name, connection["key"], connection["values"], connection.get("token"))
        names = " and ".join(f"'{name}'" for name in sorted(connections))
        self.notice.write(
            f"connectorkit: saved as stored connections {names} in {_shown(self.state)}; "
            f"from any folder, try:\n"
            f"  connectorkit run list_groups --connection emulator{self.state_hint}\n"
        )


def _shown(state: State) -> str:
    """The store's URL without a password."""
    url = state.store.url
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if "@" in rest else url


def _open_store(url: str | None) -> State:
    """The store to save to, opened before the start: a bad URL or a missing key stops it."""
    from connectorkit.state import open_state  # noqa: PLC0415

    state = open_state(url)
    if state.store.url.startswith("memory:"):
        state.close()
        raise _UsageError(
            "a memory:// state store lives in this process only: give --save-connections "
            "a sqlite:/// or redis:// store (--state URL or CONNECTORKIT_STATE)"
        )
    return state


def run_with_connections(
    argv: list[str], start: Callable[[list[str]], int], notice: TextIO = sys.stderr
) -> int:
    """Run the emulator ``start(argv)`` with stdout tapped for its announcement."""
    from connectorkit.state import StateError  # noqa: PLC0415

    try:
        options, rest = split_options(argv)
        state = _open_store(options.state_url) if options.save else None
    except (_UsageError, StateError) as exc:
        notice.write(f"connectorkit emulator: {exc}\n")
        return 2
    hint = ""
    if options.state_url is not None:  # the other terminal must name the same store
        password = "@" in options.state_url.partition("://")[2]
        hint = " --state URL" if password else f" --state {options.state_url}"
    offer = ConnectionsOffer(rest, options.folder, notice, state=state, state_hint=hint)
    real = sys.stdout
    sys.stdout = AnnounceTap(real, offer.on_announce)
    try:
        return start(rest)
    finally:
        sys.stdout = real
        if state is not None:
            if offer.announced:  # let a save under way finish before closing the store
                offer.done.wait(timeout=30)
            state.close()
