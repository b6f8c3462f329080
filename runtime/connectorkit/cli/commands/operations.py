"""``connectorkit operations``: operation handles in the state store — list, show, wait, cancel.

A long-running action that was not waited for (``--no-wait``, ``wait: false``) or whose call
ran out of time leaves a handle. ``wait`` resumes it (polls it to its end and prints the
action's result, as ``run`` would), ``cancel`` asks the service to stop it, ``forget`` drops it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.operations._handles import OperationBook


def register(registry: Registry) -> None:
    """Add ``operations``."""
    sub = registry.add(
        "operations",
        "long-running operations left running: list them, show one, wait for one, cancel one",
        description=(
            "An action that starts an operation (an export, a refresh, an import, a scan) "
            "returns a handle when it is not waited for or its call runs out of time; the "
            "handle is kept in the state store, so any worker sharing the store can go on with "
            "it. 'wait' polls it to its end and prints the action's result, 'cancel' asks the "
            "service to stop it, 'forget' drops the handle."
        ),
        handler=_operations,
        examples=[
            "connectorkit operations list",
            "connectorkit operations show op_Xk3…",
            "connectorkit operations wait op_Xk3… --connection emulator --save-to report.pdf",
            "connectorkit operations cancel op_Xk3… --connection emulator",
        ],
    )
    sub.add_argument("verb", choices=("list", "show", "wait", "cancel", "forget"))
    sub.add_argument("handle", nargs="?", metavar="HANDLE")
    sub.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="wait, cancel: the connection to use (default: the stored connection the "
        "operation was started with, if it was)",
    )
    sub.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="wait: how long to wait at most"
    )
    sub.add_argument("--save-to", metavar="PATH", help="wait: where to save a file result")
    sub.add_argument(
        "--json", action="store_true", help="one JSON document, {ok, result}, instead of text"
    )
    add_state_option(sub)
    add_pack_option(sub)


def _operations(args: argparse.Namespace) -> int:
    from connectorkit.call._run import Runner  # noqa: PLC0415

    configure_logging()
    if args.verb != "list" and not args.handle:
        return _fail(f"'operations {args.verb}' needs a HANDLE")
    runner = Runner(state_url=args.state)
    try:
        book = runner.operations
        if args.verb == "list":
            return _list(book, runner, as_json=args.json)
        record = book.get(args.handle)
        if record is None:
            return _fail(f"no operation {args.handle!r} in {runner.state.store.url}")
        if args.verb == "show":
            return _show(record, as_json=args.json)
        if args.verb == "forget":
            book.forget(args.handle)
            _say(f"forgot operation {args.handle}")
            return 0
    finally:
        runner.close()
    return _resume(args, record)


def _list(book: OperationBook, runner: Any, *, as_json: bool) -> int:
    from connectorkit.operations._handles import summary  # noqa: PLC0415

    found = [summary(r, runner.wall()) for r in book.handles(runner.wall())]
    if as_json:
        _say(json.dumps({"ok": True, "result": found}))
        return 0
    if not found:
        _say(f"no operations in {runner.state.store.url}")
        return 0
    for about in found:
        percent = about.get("percent")
        shown = f"{percent:.0f}%" if isinstance(percent, int | float) else ""
        _say(
            f"{about['handle']}  {_when(about.get('started_at'))}  {about['action']:<24} "
            f"{about['status']:<10} {about.get('service_status') or '':<12} {shown}"
        )
    return 0


def _show(record: dict[str, Any], *, as_json: bool) -> int:
    from connectorkit.operations._handles import summary  # noqa: PLC0415

    if as_json:
        _say(json.dumps({"ok": True, "result": record}))
        return 0
    about = summary(record)
    _say(f"operation {record['handle']}: {record['action']}, {about['status']}")
    _say(f"  started:  {_when(record.get('created'))}")
    _say(f"  updated:  {_when(record.get('updated'))}")
    connection = record.get("connection") or {}
    _say(f"  connection: {connection.get('name') or connection.get('key')}")
    for key, value in (record.get("inputs") or {}).items():
        _say(f"  input {key} = {json.dumps(value)[:100]}")
    for number, part in enumerate(record.get("parts") or [], start=1):
        op = part.get("op") or {}
        kept = ", ".join(f"{k}={v}" for k, v in (op.get("kept") or {}).items())
        _say(
            f"  operation {number}: {op.get('status', 'not started')}"
            f" ({op.get('service_status') or '-'}, {op.get('polls', 0)} polls) {kept}"
        )
    return 0


def _resume(args: argparse.Namespace, record: dict[str, Any]) -> int:
    """Wait for or cancel the operation, through the protocol, and print as ``run`` does."""
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._render import Style  # noqa: PLC0415
    from connectorkit.cli.commands.run import progress_line, show_envelope  # noqa: PLC0415
    from connectorkit.core._errors import ConnectorError  # noqa: PLC0415

    out, err = Style.for_stream(sys.stdout), Style.for_stream(sys.stderr)
    stored = (record.get("connection") or {}).get("name")
    args.action, args.quiet, args.no_wait = record["action"], False, False
    try:
        pack = load(args.pack)
        source = connection_source(args.connection or stored)
    except ConnectorError as exc:
        envelope = {"ok": False, "action": record["action"], "error": exc.to_dict()}
        return show_envelope(envelope, exc.exit_code, args, out, err)
    verb = "cancel" if args.verb == "cancel" else "resume"
    request: dict[str, Any] = {verb: args.handle, "inputs": {}}
    if verb == "resume":
        request["inputs"]["wait"] = True
        if args.timeout:
            request["inputs"]["timeout"] = max(1, round(args.timeout * 1000))
        if args.save_to:
            request["inputs"]["save_to"] = args.save_to
    if source.connection is not None:
        request["connection"] = source.connection
    definition = pack.actions.get(record["action"])
    following = progress_line(definition, args) if verb == "resume" else None
    envelope, code = _call(pack, request, args.state, following)
    if envelope.get("token") and source.save_token(envelope["token"]):
        sys.stderr.write(f"connectorkit: the new token is saved in {source.file}\n")
    return show_envelope(envelope, code, args, out, err)


def _call(pack: Any, request: dict[str, Any], state: str | None, following: Any) -> Any:
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.protocol._protocol import respond  # noqa: PLC0415

    runner = Runner(state_url=state)
    try:
        return respond(pack, runner, json.dumps(request), watch=following)
    finally:
        runner.close()
        if following is not None:
            following.close()


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return "?"
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _fail(message: str) -> int:
    sys.stderr.write(f"connectorkit operations: {message}\n")
    return 2
