"""``connectorkit check``: does this connection work? Each step tests one thing and names the fix.

The steps, in order: the connection's values (bound as a call binds them), the token (fetched or
renewed at ``token_url``, or the one held, once the service accepted it), and the pack's
cheapest authorised call at ``base_url``. What each step reports comes from what really went
over the wire (:mod:`connectorkit.cli._wire`), so a token that was not used is never called
valid, and a host that does not answer is told apart from one that refuses.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.core._errors import ConnectorError

if TYPE_CHECKING:
    import argparse

    from connectorkit._bind import BoundConnection
    from connectorkit.call._run import Runner
    from connectorkit.cli._common import Registry
    from connectorkit.cli._render import Style
    from connectorkit.cli._wire import Exchange, Wire
    from connectorkit.pack._definitions import CheckDef, Pack

_DEFAULT_TIMEOUT_S = 30
_NOT_FOUND = frozenset({404, 405, 410})


def register(registry: Registry) -> None:
    """Add ``check``."""
    sub = registry.add(
        "check",
        "test a connection step by step and say which value to change",
        handler=_check,
        description=(
            "Test a connection one step at a time: its values, a token from token_url, and the "
            "pack's cheapest authorised call at base_url. Each step says what it found; the "
            "first one that fails says which value to change (token_url, base_url, tenant_id, "
            "the secret, a permission) or that the network is in the way. While it waits for an "
            "answer, it shows what it is waiting for. Exit codes are invoke's: 0 it works, 1 "
            "the service or the identity platform failed or refused, 2 the connection is "
            "incomplete."
        ),
        examples=[
            "connectorkit check --connection emulator-sp",
            "connectorkit check --connection conn.json --timeout 10",
            "connectorkit check --connection sales --json",
        ],
    )
    sub.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="a JSON file with key, values and token (NAME finds ./NAME.json), or a stored "
        "connection's name (default: $CONNECTORKIT_CONNECTION)",
    )
    from connectorkit.cli._completion import connection_completer  # noqa: PLC0415

    sub._actions[-1].completer = connection_completer  # type: ignore[attr-defined]  # noqa: SLF001
    sub.add_argument(
        "--timeout",
        type=float,
        default=_DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"the longest the whole check may take (default {_DEFAULT_TIMEOUT_S})",
    )
    sub.add_argument("--json", action="store_true", help="print the call's response envelope")
    sub.add_argument(
        "-v", "--verbose", action="count", default=0, help="one line per HTTP request (-vv: bodies)"
    )
    add_pack_option(sub)
    add_state_option(sub)


def _check(args: argparse.Namespace) -> int:
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._render import Style, error_text  # noqa: PLC0415

    style = Style.for_stream(sys.stdout)
    configure_logging(quiet=args.verbose == 0)
    try:
        pack = load(args.pack)
        source = connection_source(args.connection)
    except ConnectorError as exc:
        sys.stderr.write(error_text(exc.to_dict(), Style.for_stream(sys.stderr)) + "\n")
        return exc.exit_code
    if pack.check is None:
        sys.stderr.write(
            f"connectorkit: the pack '{pack.key}' declares no check (a `check:` block in "
            "connector.yaml naming its cheapest authorised action)\n"
        )
        return 2
    inputs = {**pack.check.inputs, "timeout": max(int(args.timeout * 1000), 1)}
    if args.verbose > 1:
        inputs["debug_request"] = True
    request: dict[str, Any] = {"action": pack.check.action, "inputs": inputs}
    if source.connection is not None:
        request["connection"] = source.connection
    runner = Runner(state_url=args.state)
    try:
        bound, problem = _bind(pack, runner, source.connection)
        envelope, code, wire = (
            _call(pack, runner, request, bound, verbose=args.verbose > 0)
            if problem is None
            else (_refused(pack.check.action, problem), problem.exit_code, None)
        )
    finally:
        runner.close()
    if args.json:
        from connectorkit.protocol._protocol import dump_response  # noqa: PLC0415

        sys.stdout.write(dump_response(envelope))
    else:
        label = _label(pack, source.connection, bound)
        lines = [f"checking connection {label} from {source.describe()}"]
        lines += _credential_lines(bound)
        given = source.connection is not None
        defaults = _defaults(pack, source.connection, bound)
        report = Report(pack.check, bound, wire, envelope, style, given=given, defaults=defaults)
        lines += report.lines()
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()  # before the note on stderr, so that they show in this order
    if envelope.get("token") and source.save_token(envelope["token"]):
        sys.stderr.write(f"connectorkit: the new token is saved in {source.file}\n")
    return code


def _bind(
    pack: Pack, runner: Runner, connection: dict[str, Any] | None
) -> tuple[BoundConnection | None, ConnectorError | None]:
    """The connection as a call binds it (a stored one read from the store), or why not."""
    from connectorkit._bind import bind_connection  # noqa: PLC0415

    raw = connection or {}
    try:
        if "name" in raw:
            from connectorkit.call._named import resolve_stored  # noqa: PLC0415

            raw = resolve_stored(runner.state, raw)
        return bind_connection(pack, raw), None
    except ConnectorError as exc:
        return None, exc


def _credential_lines(bound: BoundConnection | None) -> list[str]:
    """What the connection signs with, so that a person can compare it with the app's.

    A certificate's subject, thumbprints and expiry; nothing when the connection has none, or
    it cannot be read (the report then says why).
    """
    if bound is None:
        return []
    definition = bound.definition
    assertion = definition.client_assertion
    federated = assertion is not None and assertion.federated
    if definition.token_endpoint_auth_method != "private_key_jwt" or federated:  # noqa: S105
        return []
    from connectorkit.auth._assertion import load_certificate  # noqa: PLC0415

    try:
        return [f"  · certificate: {load_certificate(bound.values).describe()}"]
    except ConnectorError:
        return []


def _refused(action: str, problem: ConnectorError) -> dict[str, Any]:
    return {"ok": False, "action": action, "error": problem.to_dict()}


def _call(
    pack: Pack,
    runner: Runner,
    request: dict[str, Any],
    bound: BoundConnection | None,
    *,
    verbose: bool,
) -> tuple[dict[str, Any], int, Wire]:
    from connectorkit.cli._trace import RequestTrace  # noqa: PLC0415
    from connectorkit.cli._wire import Wire  # noqa: PLC0415
    from connectorkit.protocol._protocol import respond  # noqa: PLC0415

    token_url = bound.values.get("token_url") if bound is not None else None
    wire = Wire(
        sys.stderr,
        token_url=token_url if isinstance(token_url, str) else None,
        live=sys.stderr.isatty(),
    )
    wire.install(runner.http)
    RequestTrace(sys.stderr, verbose=verbose).install(runner.http)
    try:
        envelope, code = respond(pack, runner, json.dumps(request))
    finally:
        wire.close()
    return envelope, code, wire


def _label(pack: Pack, connection: dict[str, Any] | None, bound: BoundConnection | None) -> str:
    """The connection's key (and a stored one's name) as a person reads it."""
    if bound is not None:
        return f"'{bound.definition.key}'"
    if connection is not None and "name" in connection and "key" not in connection:
        return f"'{connection['name']}'"
    return f"'{(connection or {}).get('key') or pack.default_connection}'"


class Report:
    """The lines a person reads: one per step, ✓ ✗ or ·, then what to change."""

    def __init__(
        self,
        check: CheckDef,
        bound: BoundConnection | None,
        wire: Wire | None,
        envelope: dict[str, Any],
        style: Style,
        *,
        given: bool = True,
        defaults: dict[str, str] | None = None,
    ) -> None:
        self.check = check
        self.given = given
        self.defaults = defaults or {}
        self.bound = bound
        self.exchanges = wire.exchanges if wire is not None else []
        self.envelope = envelope
        self.error: dict[str, Any] = envelope.get("error") or {}
        self.style = style
        self.ok, self.bad, self.skip = style.green("✓"), style.red("✗"), style.dim("·")
        self.advice: str | None = None

    def lines(self) -> list[str]:
        """Every step's line, the advice of the one that failed, and the verdict."""
        lines = [self._values(), *self._details()]
        if self.bound is not None:
            token = self._token()
            if token:
                lines.append(token)
            if self.advice is None or self._calls():
                lines.append(self._call())
        if self.advice:
            lines.append(f"  → {self.advice}")
        if self.envelope.get("ok"):
            lines.append(self.style.bold("the connection works"))
        else:
            kind = self.error.get("type", "error")
            lines.append(self.style.bold(f"the connection does not work ({kind})"))
        return lines

    # -- the steps -------------------------------------------------------------------------

    def _values(self) -> str:
        if self.bound is not None:
            return f"  {self.ok} values are complete"
        self.advice = (
            "fill in or correct the values named above (see: connectorkit docs)"
            if self.given
            else "no connection was given: add --connection FILE (such as the emulator's "
            "emulator.json) or --connection NAME (a stored connection)"
        )
        return f"  {self.bad} values: {self.error.get('message', '')}"

    def _token(self) -> str | None:
        token_requests = [e for e in self.exchanges if e.is_token]
        if self._token_missing():
            self.advice = _SIGN_IN
            return f"  {self.bad} token: {self.error.get('message', '')}"
        if not token_requests:
            return self._held_token()
        last = token_requests[-1]
        if last.status is not None and 200 <= last.status < 300:  # noqa: PLR2004
            return f"  {self.ok} token: a new one, {_until(self.envelope.get('token'))}"
        if last.status is None:
            return self._no_answer(last, "token_url")
        if last.status in _NOT_FOUND or not self.error.get("oauth_error"):
            self.advice = (
                f"check token_url: {last.url} answered {last.status} {last.reason}, so it is "
                "not the identity platform's token endpoint" + self._default_of("token_url")
            )
            return (
                f"  {self.bad} token: token_url answered {last.status} {last.reason}: no token "
                "endpoint there"
            )
        self.advice = self._pack_advice() or (
            "the identity platform refused the credentials: check client_id and "
            "client_secret, and tenant_id"
        )
        return f"  {self.bad} token: {self.error.get('message', '')}"

    def _held_token(self) -> str | None:
        token = self.bound.token if self.bound is not None else None
        calls = self._calls()
        if not isinstance(token, dict) and not calls:
            return None  # a connection without tokens (a password, a key): nothing to say
        if self.bound is not None and self.bound.stored:
            where = f"the token of stored connection '{self.bound.stored}'"
        elif isinstance(token, dict):
            where = "the token of the connection"
        else:
            where = "the token kept in the state store"
        expiry = f", {_until(token)}" if isinstance(token, dict) else ""
        answered = [e.status for e in calls if e.status is not None]
        if any(200 <= s < 300 or s == 403 for s in answered):  # noqa: PLR2004
            return f"  {self.ok} token: {where} was accepted{expiry}"
        if answered:
            return (
                f"  {self.skip} token: {where} was sent; the service's {answered[-1]} does not "
                "tell whether it was accepted"
            )
        return f"  {self.skip} token: not tested: {where} was not used (the service did not answer)"

    def _call(self) -> str:
        call = self._call_label()
        calls = self._calls()
        if self.envelope.get("ok"):
            return f"  {self.ok} {call}: {_result_line(self.envelope.get('result'))}"
        if not calls:
            return f"  {self.skip} {call}: not tried"
        last = calls[-1]
        if last.status is None:
            return self._no_answer(last, "base_url")
        if last.status in _NOT_FOUND:
            self.advice = (
                f"check base_url: the service has no {last.url} ({last.status} {last.reason})"
                + self._default_of("base_url")
            )
            return f"  {self.bad} {call}: base_url answered {last.status} {last.reason}"
        self.advice = self._pack_advice() or _GENERAL.get(str(self.error.get("type")))
        return f"  {self.bad} {call}: {self.error.get('message', '')}"

    def _call_label(self) -> str:
        words = [self.check.action, *(f"{k}={v}" for k, v in self.check.inputs.items())]
        return " ".join(words)

    def _no_answer(self, exchange: Exchange, value: str) -> str:
        """A request that got no answer: refused, unresolvable, or silent."""
        message = str(self.error.get("message", ""))
        if self.error.get("type") == "timeout":
            said = f"no answer from {exchange.host} ({value}) in {exchange.waited_s:.0f} s"
            self.advice = (
                f"check {value} ({exchange.host} takes the connection but never answers: is it "
                "the right host and port?), and the network: a proxy or firewall may hold the "
                "request"
            )
        else:
            said = f"cannot reach {exchange.host} ({value}): {_reason(message)}"
            self.advice = (
                f"check {value} (its host and port), and the network: DNS, a proxy "
                "(HTTPS_PROXY, NO_PROXY) or a firewall between here and it"
            )
        step = "token" if value == "token_url" else self._call_label()
        return f"  {self.bad} {step}: {said}"

    # -- helpers ---------------------------------------------------------------------------

    def _calls(self) -> list[Exchange]:
        return [e for e in self.exchanges if not e.is_token]

    def _token_missing(self) -> bool:
        fields = {d.get("field") for d in self.error.get("details") or [] if isinstance(d, dict)}
        return bool(fields) and all(str(f).startswith("connection.token") for f in fields)

    def _details(self) -> list[str]:
        if self.bound is not None:
            return []
        return [
            f"      {d['field']}: {d.get('message', '')}"
            for d in self.error.get("details") or []
            if isinstance(d, dict) and "field" in d
        ]

    def _pack_advice(self) -> str | None:
        said = " ".join(
            str(self.error.get(k) or "")
            for k in ("code", "oauth_error", "oauth_error_description", "message")
        )
        grant = self.bound.definition.grant if self.bound is not None else None
        for advice in self.check.advice:
            if advice.match in said and advice.grant in {None, grant}:
                return " ".join(advice.say.split())
        return None

    def _default_of(self, key: str) -> str:
        """``; the pack's default is URL`` when the connection gives ``key`` another value."""
        default = self.defaults.get(key)
        if self.bound is None or default is None or default == self.bound.values.get(key):
            return ""
        return f"; the pack's default is {default}"


def _defaults(
    pack: Pack, raw: dict[str, Any] | None, bound: BoundConnection | None
) -> dict[str, str]:
    """What ``token_url`` and ``base_url`` would be if the connection did not give them."""
    from connectorkit._bind import bind_connection  # noqa: PLC0415

    values = (raw or {}).get("values")
    if bound is None or not isinstance(values, dict):
        return {}
    found: dict[str, str] = {}
    for key in ("token_url", "base_url"):
        given = {k: v for k, v in values.items() if k != key}
        try:
            default = bind_connection(pack, {"key": bound.definition.key, "values": given})
        except ConnectorError:
            continue
        if isinstance(default.values.get(key), str):
            found[key] = str(default.values[key])
    return found


_SIGN_IN = (
    'sign in: `connectorkit auth login --values FILE` prints a token; put it under "token" '
    "in the connection file"
)
_GENERAL = {
    "rate_limited": "the identity works, but the service is throttling it: try again later",
    "auth_error": "the service refused the token: check the app's permissions (scopes, consent)",
    "http_error": "the service refused the call: see its message above",
}


def _reason(message: str) -> str:
    """Why a connection failed, in words: refused, a name that does not resolve, or as said."""
    lowered = message.lower()
    if "refused" in lowered:
        return "connection refused (nothing listens on that port)"
    if any(w in lowered for w in ("name or service not known", "nodename", "getaddrinfo")):
        return "the name does not resolve (DNS)"
    return message.rsplit(": ", 1)[-1] if ": " in message else message


def _until(token: Any) -> str:
    expires = token.get("expires_at") if isinstance(token, dict) else None
    if not isinstance(expires, int | float):
        return "with no expiry given"
    from connectorkit.cli._render import local_time  # noqa: PLC0415

    minutes = round((expires - time.time()) / 60)
    left = f"in {minutes} min" if minutes < 120 else f"in {minutes // 60} h"  # noqa: PLR2004
    return f"valid until {local_time(expires)} ({left})"


def _result_line(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("value"), list):
        count = result.get("@odata.count", len(result["value"]))
        return f"the service answered ({count} visible)"
    return "the service answered"
