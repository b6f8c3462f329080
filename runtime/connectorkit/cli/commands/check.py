"""``connectorkit check``: does this connection work? Says what works and what to change."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.core._errors import ConnectorError

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.cli._render import Style
    from connectorkit.pack._definitions import CheckDef, Pack


def register(registry: Registry) -> None:
    """Add ``check``."""
    sub = registry.add(
        "check",
        "test a connection: get a token and make the pack's cheapest authorised call",
        handler=_check,
        description=(
            "Test a connection: check its values, get (or renew) a token, and make the "
            "cheapest call that needs one, as the pack declares it. Says what works and, when "
            "something fails, what to change (wrong secret, missing scope, wrong tenant or "
            "cloud, service principal not allowed). Exit codes as invoke: 0 it works, 1 the "
            "service or the identity platform refused, 2 the connection is incomplete."
        ),
        examples=[
            "connectorkit check --connection emulator-sp",
            "connectorkit check --connection conn.json --json",
        ],
    )
    sub.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="a JSON file with key, values, token (NAME finds ./NAME.json), or a stored "
        "connection's name (default: $CONNECTORKIT_CONNECTION)",
    )
    from connectorkit.cli._completion import connection_completer  # noqa: PLC0415

    sub._actions[-1].completer = connection_completer  # type: ignore[attr-defined]  # noqa: SLF001
    sub.add_argument("--json", action="store_true", help="print the call's response envelope")
    sub.add_argument(
        "-v", "--verbose", action="count", default=0, help="one line per HTTP request (-vv: bodies)"
    )
    add_pack_option(sub)
    add_state_option(sub)


def _check(args: argparse.Namespace) -> int:
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
    request = {
        "action": pack.check.action,
        "inputs": {**pack.check.inputs, **({"debug_request": True} if args.verbose > 1 else {})},
    }
    if source.connection is not None:
        request["connection"] = source.connection
    envelope, code = _call(pack, request, verbose=args.verbose > 0, state_url=args.state)
    if args.json:
        from connectorkit.protocol._protocol import dump_response  # noqa: PLC0415

        sys.stdout.write(dump_response(envelope))
    else:
        label, grant = _connection(pack, source.connection)
        lines = [f"checking connection {label} from {source.describe()}"]
        lines += _report(pack.check, envelope, grant, style)
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()  # before the note on stderr, so that they show in this order
    if envelope.get("token") and source.save_token(envelope["token"]):
        sys.stderr.write(f"connectorkit: the new token is saved in {source.file}\n")
    return code


def _call(
    pack: Pack, request: dict[str, Any], *, verbose: bool, state_url: str | None
) -> tuple[dict[str, Any], int]:
    from connectorkit.call._entry import call  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.cli._trace import RequestTrace  # noqa: PLC0415
    from connectorkit.http._client import new_client  # noqa: PLC0415
    from connectorkit.protocol._protocol import exit_code  # noqa: PLC0415

    client = new_client()
    RequestTrace(sys.stderr, verbose=verbose).install(client)
    runner = Runner(http=client, state_url=state_url)
    try:
        response = call(request, pack, runner)
        return response, exit_code(response)
    finally:
        runner.close()


def _connection(pack: Pack, connection: dict[str, Any] | None) -> tuple[str, str | None]:
    """The label and grant of the connection the request names (a stored one: its name)."""
    if connection is not None and "name" in connection and "key" not in connection:
        return f"'{connection['name']}'", None
    key = (connection or {}).get("key") or pack.default_connection
    definition = pack.connections.get(key) if isinstance(key, str) else None
    if definition is None:
        return f"'{key}'", None
    return f"'{definition.key}'", definition.grant


def _report(
    check: CheckDef, envelope: dict[str, Any], grant: str | None, style: Style
) -> list[str]:
    """What a person reads: one line per step, ✓ or ✗, then what to change."""
    ok, bad = style.green("✓"), style.red("✗")
    lines: list[str] = []
    error = envelope.get("error")
    call = f"{check.action} " + " ".join(f"{k}={v}" for k, v in check.inputs.items())
    if error is None:
        lines.append(f"  {ok} connection values are complete")
        lines.append(f"  {ok} token: {_token_line(envelope)}")
        lines.append(f"  {ok} {call.strip()}: {_result_line(envelope.get('result'))}")
        lines.append(style.bold("the connection works"))
        return lines
    kind = error.get("type")
    step = _failed_step(error)
    if step == "values":
        lines.append(f"  {bad} connection values: {error.get('message')}")
    else:
        lines.append(f"  {ok} connection values are complete")
        if step == "token":
            lines.append(f"  {bad} token: {error.get('message')}")
        else:
            lines.append(f"  {ok} token: {_token_line(envelope)}")
            lines.append(f"  {bad} {call.strip()}: {error.get('message')}")
    lines += [
        f"      {d['field']}: {d.get('message', '')}"
        for d in error.get("details") or []
        if isinstance(d, dict) and "field" in d
    ]
    advice = _advice(check, error, grant)
    if advice:
        lines.append(f"  → {advice}")
    lines.append(style.bold(f"the connection does not work ({kind})"))
    return lines


def _failed_step(error: dict[str, Any]) -> str:
    """Which step failed: the values, the token, or the call itself."""
    fields = {d.get("field") for d in error.get("details") or [] if isinstance(d, dict)}
    if fields == {"connection.token"}:
        return "token"
    if error.get("type") in {"invalid_connection", "invalid_request"}:
        return "values"
    if error.get("type") == "auth_error" and error.get("oauth_error") is not None:
        return "token"
    message = str(error.get("message", ""))
    if error.get("type") in {"network_error", "timeout"} and "token" in message:
        return "token"
    return "call"


def _advice(check: CheckDef, error: dict[str, Any], grant: str | None) -> str | None:
    """The pack's advice for the first ``match`` the error carries, else a general hint."""
    said = " ".join(
        str(error.get(k) or "")
        for k in ("code", "oauth_error", "oauth_error_description", "message")
    )
    for advice in check.advice:
        if advice.match in said and advice.grant in {None, grant}:
            return " ".join(advice.say.split())
    if _failed_step(error) == "token" and error.get("type") == "invalid_connection":
        return _SIGN_IN
    return _GENERAL.get(str(error.get("type")))


_SIGN_IN = (
    'sign in: `connectorkit auth login --values FILE` prints a token; put it under "token" '
    "in the connection file"
)
_GENERAL = {
    "invalid_connection": "fill in or correct the values named above (see: connectorkit docs)",
    "network_error": "the host could not be reached: check token_url and base_url, and the "
    "network or proxy",
    "timeout": "the service did not answer in time: check base_url and the network",
    "rate_limited": "the identity works, but the service is throttling it: try again later",
    "auth_error": "the credentials were refused: check client_id, client_secret and tenant_id",
}


def _token_line(envelope: dict[str, Any]) -> str:
    token = envelope.get("token")
    if not token:
        return "the stored one is still valid"
    import time  # noqa: PLC0415

    expires = token.get("expires_at")
    when = time.strftime("%H:%M UTC", time.gmtime(expires)) if isinstance(expires, int) else "later"
    return f"a new one, valid until {when}"


def _result_line(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("value"), list):
        count = result.get("@odata.count", len(result["value"]))
        return f"the service answered ({count} visible)"
    return "the service answered"
