"""``connectorkit auth login``: sign a user in (authorization code + PKCE) and print the token.

The command builds the authorize URL (with ``state`` and an S256 PKCE challenge), opens it in a
browser or prints it, receives the redirect on ``http://127.0.0.1:PORT/callback``, checks
``state``, exchanges the code and writes the token (the contract's ``connection.token``) to
stdout. Failures are a contract-style JSON error on stdout and one readable line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import html
import json
import queue
import sys
import threading
import time
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO
from urllib.parse import parse_qsl, urlsplit

from connectorkit.core import _errors
from connectorkit.core._errors import (
    AuthError,
    ConnectorError,
    InternalError,
    InvalidConnection,
    InvalidRequest,
)
from connectorkit.core._redact import mask, remember_secrets
from connectorkit.pack._files import named_pack
from connectorkit.types._coerce import coerce

if TYPE_CHECKING:
    from connectorkit._bind import BoundConnection
    from connectorkit.pack._definitions import Pack

__all__ = ["run_login"]

DEFAULT_WAIT_S = 300.0
_TOKEN_REQUEST_TIMEOUT_S = 60.0
_PAGE_WAIT_S = 5.0  # how long the browser's page waits for the code exchange to finish
_CALLBACK_PATH = "/callback"
_SCHEMES = frozenset({"http", "https"})


_EXAMPLES = """examples:
  connectorkit auth login --set tenant_id=contoso.com --set client_id=… --set client_secret=…
  connectorkit auth login --values emulator.json     # a connection file, e.g. the emulator's
  connectorkit auth login --no-browser --values values.json > token.json"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are the contract's ``invalid_request``."""

    def error(self, message: str) -> NoReturn:
        raise InvalidRequest(f"auth login: {message}")


def _parser() -> _Parser:
    parser = _Parser(
        prog="connectorkit auth login",
        description=(
            "Sign in through the browser (OAuth 2.0 authorization code with PKCE) and print the "
            "token as JSON on stdout, ready to pass as connection.token."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--pack", type=named_pack, metavar="DIR|NAME",
        help="a pack folder, or a bundled pack's name (default: the bundled one)")  # fmt: skip
    add("--connection", metavar="KEY", help="default: the pack's authorization-code connection")
    add("--values", metavar="FILE",
        help="JSON of connection values, or a whole connection file ('-': stdin)")  # fmt: skip
    add("--set", metavar="KEY=VALUE", action="append", default=[], dest="assignments",
        help="one connection value; repeatable, wins over --values")  # fmt: skip
    add("--no-browser", action="store_true", help="only print the sign-in URL (on stderr)")
    add("--port", type=int, default=0, help="port of http://127.0.0.1:PORT/callback (0: any free)")
    add("--timeout", type=float, default=DEFAULT_WAIT_S, metavar="SECONDS",
        help=f"how long to wait for the sign-in (default {DEFAULT_WAIT_S:.0f})")  # fmt: skip
    add("--save", metavar="NAME", help="keep values and token (sealed) in the state store as NAME")
    add("--state", metavar="URL", help="the state store for --save (default: $CONNECTORKIT_STATE)")
    return parser


def run_login(argv: list[str], *, stdout: TextIO, stderr: TextIO) -> int:
    """Run ``connectorkit auth login`` with ``argv``; return the exit code (as ``invoke``'s)."""
    parser = _parser()
    if {"-h", "--help"} & set(argv):
        stdout.write(parser.format_help())
        return 0
    try:
        options = parser.parse_args(argv)
        token = _login(options, stdin=sys.stdin, stderr=stderr)
        if options.save:
            stdout.write(json.dumps(_save(options, token)) + "\n")
            stdout.flush()
            return 0
    except ConnectorError as exc:
        return _fail(exc, stdout, stderr)
    except KeyboardInterrupt:
        return _fail(InvalidRequest("auth login: cancelled"), stdout, stderr)
    except Exception as exc:  # noqa: BLE001 - the contract allows no traceback, only JSON
        defect = InternalError(f"auth login failed: {type(exc).__name__}: {exc}")
        return _fail(defect, stdout, stderr)
    stdout.write(json.dumps(token, indent=2) + "\n")
    stdout.flush()
    return 0


def _save(options: argparse.Namespace, token: dict[str, Any]) -> dict[str, Any]:
    """Keep the signed-in connection in the state store; what to print instead of the token."""
    from connectorkit.state import StateError, StoredConnections, open_state  # noqa: PLC0415

    try:
        state = open_state(options.state)
        try:
            StoredConnections(state).save(options.save, options.key, options.given, token)
        finally:
            state.close()
    except (StateError, ValueError) as exc:
        raise InvalidRequest(f"auth login --save: {exc}") from None
    return {
        "ok": True,
        "saved": options.save,
        "key": options.key,
        "expires_at": token.get("expires_at"),
        "has_refresh_token": bool(token.get("refresh_token")),
    }


def _fail(exc: ConnectorError, stdout: TextIO, stderr: TextIO) -> int:
    error = json.loads(mask(json.dumps(exc.to_dict())))
    stdout.write(json.dumps({"ok": False, "error": error}) + "\n")
    stdout.flush()
    stderr.write(f"connectorkit: {mask(exc.message)}\n")
    return exc.exit_code


# -- connection values --------------------------------------------------------------------------


def _read_values(options: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if options.values:
        try:
            if options.values == "-":
                values = json.loads(stdin.read())
            else:
                values = json.loads(Path(options.values).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidRequest(f"auth login: cannot read --values: {exc.strerror}") from None
        except ValueError:
            raise InvalidRequest("auth login: --values is not valid JSON") from None
        if not isinstance(values, dict):
            raise InvalidRequest("auth login: --values must hold a JSON object")
        if isinstance(values.get("values"), dict):  # a whole connection (key, values, token)
            if isinstance(values.get("key"), str) and not options.connection:
                options.connection = values["key"]
            values = dict(values["values"])
    for assignment in options.assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"auth login: --set needs KEY=VALUE, got '{key}'")
        values[key.strip()] = value
    return values


def _typed(pack: Pack, key: str, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Turn ``--set`` strings into the declared types of integer/number/boolean values."""
    kinds = {v.key: v.type for v in pack.connections[key].values}
    typed = dict(values)
    for name in given:
        with contextlib.suppress(ValueError):  # left as text: binding names the field
            typed[name] = coerce(typed[name], kinds.get(name))
    return typed


def _choose_connection(pack: Pack, wanted: str | None) -> str:
    if wanted:
        definition = pack.connections.get(wanted)
        if definition is None:
            raise InvalidConnection(
                f"the pack '{pack.key}' has no connection '{wanted}'",
                details=[
                    {"field": "connection.key", "message": f"one of: {', '.join(pack.connections)}"}
                ],
            )
        if definition.grant != "authorization_code":
            raise InvalidConnection(
                f"connection '{wanted}' uses the {definition.grant} grant and needs no sign-in: "
                "the runtime fetches its token itself"
            )
        return wanted
    candidates = [k for k, c in pack.connections.items() if c.grant == "authorization_code"]
    if not candidates:
        raise InvalidConnection(f"the pack '{pack.key}' has no authorization-code connection")
    return pack.default_connection if pack.default_connection in candidates else candidates[0]


def _bind(options: argparse.Namespace, stdin: TextIO) -> BoundConnection:
    from connectorkit._bind import bind_connection  # noqa: PLC0415 - only a sign-in binds
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    pack = load_pack(options.pack)
    key = _choose_connection(pack, options.connection)
    values = _read_values(options, stdin)
    given = {a.partition("=")[0].strip() for a in options.assignments}
    values = _typed(pack, key, values, given & set(values))
    # --save keeps what was given (not the defaults, which a newer pack may change).
    options.key, options.given = key, values
    return bind_connection(pack, {"key": key, "values": values})


# -- the loopback receiver ----------------------------------------------------------------------


class _Receiver(ThreadingHTTPServer):
    """Waits on 127.0.0.1 for the one redirect that carries this login's ``state``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, state: str, notice: TextIO) -> None:
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.state = state
        self.notice = notice
        self.arrivals: queue.Queue[dict[str, str]] = queue.Queue()
        self.outcome: tuple[bool, str] | None = None
        self.finished = threading.Event()
        self.page_sent = threading.Event()
        self.taken = threading.Lock()

    @property
    def redirect_uri(self) -> str:
        """The ``redirect_uri`` of this login, with the port actually bound."""
        return f"http://127.0.0.1:{self.server_address[1]}{_CALLBACK_PATH}"

    def finish(self, *, ok: bool, message: str) -> None:
        """Let the browser's page say how the exchange went."""
        self.outcome = (ok, message)
        self.finished.set()


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _Receiver
    timeout = 10  # a browser's idle pre-connection must not hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's names
        """Log nothing: the request line carries the authorization code."""

    def do_GET(self) -> None:
        """Take the redirect: check ``state``, hand the code over, report the outcome."""
        url = urlsplit(self.path)
        if url.path != _CALLBACK_PATH:
            self._page(404, "Not found", "This address only receives the sign-in redirect.")
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if not hmac.compare_digest(params.get("state", "").encode(), self.server.state.encode()):
            self.server.notice.write(
                "connectorkit: refused a redirect whose state does not match this login\n"
            )
            self._page(400, "Sign-in refused", "This response does not belong to this login.")
            return
        if not self.server.taken.acquire(blocking=False):
            self._page(409, "Already signed in", "This login has already received its answer.")
            return
        self.server.arrivals.put(params)
        if not self.server.finished.wait(_PAGE_WAIT_S + _TOKEN_REQUEST_TIMEOUT_S):
            self.server.outcome = (False, "The sign-in took too long; see the terminal.")
        ok, message = self.server.outcome or (False, "See the terminal.")
        self._page(200 if ok else 400, "Signed in" if ok else "Sign-in failed", message)
        self.server.page_sent.set()

    def _page(self, status: int, title: str, text: str) -> None:
        body = (
            "<!doctype html><meta charset=utf-8><title>connectorkit</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


# -- the login ----------------------------------------------------------------------------------


def _login(options: argparse.Namespace, *, stdin: TextIO, stderr: TextIO) -> dict[str, Any]:
    from connectorkit.auth._oauth import (  # noqa: PLC0415 - authlib only when signing in
        authorization_url,
        new_pkce_pair,
        new_state,
    )

    if not 0 <= options.port <= 65535:  # noqa: PLR2004 - the TCP port range
        raise InvalidRequest("auth login: --port must be between 0 and 65535")
    if options.timeout <= 0:
        raise InvalidRequest("auth login: --timeout must be positive")
    if options.save:
        from connectorkit.state import StoredConnections  # noqa: PLC0415

        try:
            StoredConnections.check_name(options.save)
        except ValueError as exc:
            raise InvalidRequest(f"auth login --save: {exc}") from None
    connection = _bind(options, stdin)
    values = connection.values
    for key in ("authorize_url", "token_url", "client_id"):
        value = values.get(key)
        scheme = urlsplit(str(value or "")).scheme
        problem = (
            "is missing" if not value
            else "must be an http(s) URL" if key != "client_id" and scheme not in _SCHEMES
            else None
        )  # fmt: skip
        if problem:
            raise InvalidConnection(
                f"connection value '{key}' {problem}",
                details=[{"field": f"connection.values.{key}", "message": problem}],
            )
    state = new_state()
    verifier, challenge = new_pkce_pair()
    # The command is short-lived: what it remembers stays masked until it exits.
    remember_secrets([verifier])
    try:
        receiver = _Receiver(options.port, state, stderr)
    except OSError as exc:
        raise InvalidRequest(
            f"auth login: cannot listen on 127.0.0.1:{options.port}: {exc.strerror}"
        ) from None
    server = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05})
    server.start()
    try:
        url = authorization_url(
            str(values["authorize_url"]),
            str(values["client_id"]),
            receiver.redirect_uri,
            values.get("scopes"),
            state,
            challenge,
        )
        _show(url, receiver.redirect_uri, stderr, open_browser=not options.no_browser)
        params = _await_redirect(receiver, options.timeout)
        try:
            token = _exchange(connection, params, receiver.redirect_uri, verifier)
        except ConnectorError as exc:
            receiver.finish(ok=False, message=f"{exc.message}. See the terminal for details.")
            raise
        receiver.finish(ok=True, message="You can close this tab and return to the terminal.")
    finally:
        if receiver.finished.is_set():
            receiver.page_sent.wait(_PAGE_WAIT_S)
        receiver.shutdown()
        receiver.server_close()
        server.join()
    _report(token, stderr)
    return token


def _show(url: str, redirect_uri: str, stderr: TextIO, *, open_browser: bool) -> None:
    stderr.write(f"connectorkit: waiting for the sign-in redirect on {redirect_uri}\n")
    stderr.write("connectorkit: open this URL in a browser to sign in:\n")
    stderr.write(url + "\n")
    stderr.flush()
    if open_browser and not webbrowser.open(url):
        stderr.write("connectorkit: no browser could be opened; open the URL above yourself\n")


def _await_redirect(receiver: _Receiver, wait_s: float) -> dict[str, str]:
    try:
        params = receiver.arrivals.get(timeout=wait_s)
    except queue.Empty:
        raise _errors.TimeoutError(
            f"auth login: no sign-in arrived within {wait_s:.0f} s", timeout_ms=round(wait_s * 1000)
        ) from None
    if params.get("error"):
        receiver.finish(ok=False, message=f"The sign-in was not completed ({params['error']}).")
        raise AuthError(
            f"the sign-in was refused: {params['error']}",
            oauth_error=params["error"],
            oauth_error_description=params.get("error_description") or None,
        )
    if not params.get("code"):
        receiver.finish(ok=False, message="The redirect carried no authorization code.")
        raise AuthError("the sign-in redirect carried no authorization code")
    remember_secrets([params["code"]])
    return params


def _exchange(
    connection: BoundConnection, params: dict[str, str], redirect_uri: str, verifier: str
) -> dict[str, Any]:
    import httpx  # noqa: PLC0415 - only the exchange needs it

    from connectorkit.auth._oauth import OAuthClient, fetch_token  # noqa: PLC0415

    values = connection.values
    definition = connection.definition
    signer, credential = None, ""
    if definition.token_endpoint_auth_method == "private_key_jwt":  # noqa: S105
        from connectorkit.auth._assertion import assertion_signer  # noqa: PLC0415

        signer, credential = assertion_signer(
            definition.client_assertion, values, str(values["client_id"])
        )
        if signer is None:
            raise InvalidConnection(
                f"connection '{definition.key}' presents a federated token: a person's sign-in "
                "needs a client secret or a certificate"
            )
    client = OAuthClient(
        token_url=str(values["token_url"]),
        client_id=str(values["client_id"]),
        client_secret=values.get("client_secret") or None,
        scope=values.get("scopes") or None,
        auth_method=definition.token_endpoint_auth_method,
        signer=signer,
        credential=credential,
    )
    grant = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    with httpx.Client(timeout=_TOKEN_REQUEST_TIMEOUT_S) as http:
        return fetch_token(http, client, grant, timeout=_TOKEN_REQUEST_TIMEOUT_S)


def _report(token: dict[str, Any], stderr: TextIO) -> None:
    expires_at = token.get("expires_at")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at))
        if isinstance(expires_at, int)
        else "an unknown time"
    )
    stderr.write(
        f"connectorkit: signed in; the access token expires at {when}. Store the JSON on stdout "
        "and pass it as connection.token.\n"
    )
    if not token.get("refresh_token"):
        stderr.write(
            "connectorkit: warning: no refresh token was issued (add offline_access to the "
            "scopes), so you will have to sign in again when the access token expires\n"
        )
