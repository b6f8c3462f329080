"""``connectorkit run ACTION [key=value …]``: one action from the command line, read by a person."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.core._errors import ConnectorError, InvalidInput

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.cli._connection_arg import ConnectionSource
    from connectorkit.cli._progress import Progress
    from connectorkit.pack._definitions import ActionDef, Pack

_BODIES = 2  # -vv: headers and bodies as well
_NO_CONNECTION = (
    "no connection was given: add --connection FILE (a JSON file with key, values and token, "
    "such as the emulator's emulator.json) or --connection NAME"
)

EXAMPLES = [
    "connectorkit run list_groups --connection emulator",
    "connectorkit run list_datasets top=5 group_id=c0ffee00-5a1e-4a1a-8a1b-000000000001",
    (
        "connectorkit run create_dataset dataset_name=Sales table_name=Sales "
        """'columns=[{"name": "Product", "dataType": "String"}]'"""
    ),
    "connectorkit run create_rows dataset_id=… table_name=Sales rows=@rows.json",
    "connectorkit run list_groups --connection conn.json --json | jq .result",
]


def register(registry: Registry) -> None:
    """Add ``run``."""
    sub = registry.add(
        "run",
        "run one action with inputs as KEY=VALUE arguments; print a readable result",
        handler=_run,
        description=(
            "Run one action of the pack. Inputs are KEY=VALUE arguments, converted by the "
            "type the action declares: numbers, true/false, JSON for lists and objects, "
            "KEY=@FILE for a file's content (JSON for lists and objects). The result is shown "
            "as a table or as key facts, errors in plain words naming the field; --json prints "
            "the contract's response envelope instead, with the same exit codes as invoke "
            "(0 ok, 1 the service failed, 2 a bad input or connection, 3 a defect)."
        ),
        examples=EXAMPLES,
    )
    sub.add_argument("action", metavar="ACTION", help="the action (see: connectorkit actions)")
    sub.add_argument(
        "assignments",
        nargs="*",
        metavar="KEY=VALUE",
        help="an input; KEY=@FILE reads the value from a file",
    )
    sub.add_argument(
        "--inputs", metavar="FILE", help="a JSON object of inputs ('-': stdin); KEY=VALUE wins"
    )
    sub.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="a JSON file holding the request's connection (key, values, token; NAME finds "
        "./NAME.json), or a stored connection's name; a renewed token is saved back to it. "
        "Default: $CONNECTORKIT_CONNECTION",
    )
    sub.add_argument(
        "--json", action="store_true", help="print the contract's response envelope (as invoke)"
    )
    sub.add_argument(
        "--no-wait",
        action="store_true",
        help="an action that starts an operation: return its handle at once instead of "
        "waiting (then: connectorkit operations wait HANDLE)",
    )
    sub.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: one line per HTTP request on stderr; -vv: headers and bodies too (masked)",
    )
    sub.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    add_pack_option(sub)
    add_state_option(sub)
    sub.set_defaults(loose_positionals="assignments")
    _add_completers(sub)


def _add_completers(sub: argparse.ArgumentParser) -> None:
    from connectorkit.cli._completion import (  # noqa: PLC0415
        action_completer,
        connection_completer,
        input_completer,
    )

    completers = {
        "action": action_completer,
        "assignments": input_completer,
        "connection": connection_completer,
    }
    for action in sub._actions:  # noqa: SLF001 - argparse keeps its arguments there
        if action.dest in completers:
            action.completer = completers[action.dest]  # type: ignore[attr-defined]


def _run(args: argparse.Namespace) -> int:
    from connectorkit.cli._render import Style  # noqa: PLC0415

    out, err = Style.for_stream(sys.stdout), Style.for_stream(sys.stderr)
    try:
        pack = load(args.pack)
        request, source = _request(pack, args)
    except ConnectorError as exc:
        envelope = {"ok": False, "action": args.action, "error": exc.to_dict()}
        return show_envelope(envelope, exc.exit_code, args, out, err)
    definition = pack.actions.get(args.action)
    progress = _progress(definition, request["inputs"], args)
    following = progress_line(definition, args)
    # The runtime's own notes (token fetched, batch committed) only when asked for with -v.
    configure_logging(quiet=args.verbose == 0 or args.quiet)
    try:
        envelope, code = _call(pack, request, args, progress, following)
    finally:
        if following is not None:
            following.close()
    hint = (
        _NO_CONNECTION
        if source.connection is None and _kind(envelope) == "invalid_connection"
        else None
    )
    if envelope.get("token") and source.save_token(envelope["token"]):
        sys.stderr.write(f"connectorkit: the new token is saved in {source.file}\n")
    code = show_envelope(envelope, code, args, out, err, hint)
    _still_running(envelope, args)
    return code


def progress_line(definition: ActionDef | None, args: argparse.Namespace) -> Any:
    """A progress line for an action that takes a while (an operation, pages), unless quiet."""
    multistep = definition.multistep if definition is not None else None
    if multistep is None or args.quiet or args.json:
        return None
    if multistep.long_running is None and multistep.pages is None:
        return None
    from connectorkit.cli._progress import OperationProgress  # noqa: PLC0415

    return OperationProgress(args.action, stream=sys.stderr, live=_on_terminal(sys.stderr))


def _still_running(envelope: dict[str, Any], args: argparse.Namespace) -> None:
    """After a call that left its operation running: how to follow it."""
    result = envelope.get("result")
    if args.json or args.quiet or not isinstance(result, dict):
        return
    operation = result.get("operation")
    if result.get("status") == "running" and isinstance(operation, dict):
        handle = operation.get("handle")
        sys.stderr.write(
            f"connectorkit: the operation goes on; wait for it with: connectorkit operations "
            f"wait {handle}" + (" --connection …" if not args.connection else "") + "\n"
        )


def _request(pack: Pack, args: argparse.Namespace) -> tuple[dict[str, Any], ConnectionSource]:
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._inputs import parse_assignments, read_inputs_file  # noqa: PLC0415

    definition = pack.actions.get(args.action)
    inputs = read_inputs_file(args.inputs) if args.inputs else {}
    inputs.update(parse_assignments(definition, args.assignments))
    if args.verbose >= _BODIES and definition is not None and definition.input("debug_request"):
        inputs["debug_request"] = True
    if args.no_wait:
        if definition is None or definition.input("wait") is None:
            raise InvalidInput(
                f"--no-wait: the action '{args.action}' starts no operation to leave running",
                details=[{"field": "--no-wait", "message": "only for long-running actions"}],
            )
        inputs["wait"] = False
    source = connection_source(args.connection)
    request: dict[str, Any] = {"action": args.action, "inputs": inputs}
    if source.connection is not None:
        request["connection"] = source.connection
    return request, source


def _progress(
    definition: ActionDef | None,
    inputs: dict[str, Any],
    args: argparse.Namespace,
) -> Progress | None:
    """A bar for an action sent in several batches, when stderr is a terminal."""
    batch = definition.request.batch if definition is not None else None
    if batch is None or args.quiet:
        return None
    items = inputs.get(batch.input)
    if not isinstance(items, list) or len(items) <= batch.size:
        return None
    from connectorkit.cli._progress import Progress  # noqa: PLC0415

    return Progress(
        math.ceil(len(items) / batch.size),
        label=f"{args.action}: {len(items)} {batch.input}",
        unit="batches",
        stream=sys.stderr,
        live=_on_terminal(sys.stderr),
    )


def _call(
    pack: Pack,
    request: dict[str, Any],
    args: argparse.Namespace,
    progress: Progress | None,
    following: Any = None,
) -> tuple[dict[str, Any], int]:
    from connectorkit.call._entry import call  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.cli._trace import RequestTrace  # noqa: PLC0415
    from connectorkit.http._client import new_client  # noqa: PLC0415
    from connectorkit.protocol._protocol import exit_code  # noqa: PLC0415

    definition = pack.actions.get(args.action)
    client = new_client()
    RequestTrace(
        sys.stderr,
        verbose=args.verbose >= 1,
        progress=progress,
        batch_method=definition.request.method if definition is not None else None,
    ).install(client)
    runner = Runner(http=client, state_url=args.state)
    try:
        response = call(request, pack, runner, watch=following)
        return response, exit_code(response)
    finally:
        runner.close()
        if progress is not None:
            progress.close()


def show_envelope(  # noqa: PLR0917 - the one place that prints, given everything it prints
    envelope: dict[str, Any],
    code: int,
    args: argparse.Namespace,
    out: Any,
    err: Any,
    hint: str | None = None,
) -> int:
    """Print a response: the envelope (``--json``), or the result or error for people."""
    from connectorkit.cli._render import error_text, meta_text, result_text  # noqa: PLC0415

    if args.json:
        from connectorkit.protocol._protocol import dump_response  # noqa: PLC0415

        sys.stdout.write(dump_response(envelope))
    elif envelope.get("ok"):
        sys.stdout.write(result_text(envelope.get("result"), out) + "\n")
        sys.stdout.flush()  # before the note on stderr, so that they show in this order
        if not args.quiet and envelope.get("meta"):
            sys.stderr.write(err.dim(f"connectorkit: {meta_text(envelope['meta'])}") + "\n")
    else:
        action = args.action if envelope["error"].get("type") != "unknown_action" else None
        sys.stderr.write(error_text(envelope["error"], err, hint=hint, action=action) + "\n")
    sys.stdout.flush()
    return code


def _kind(envelope: dict[str, Any]) -> str | None:
    error = envelope.get("error")
    return str(error.get("type")) if isinstance(error, dict) else None


def _on_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal, where a line is redrawn in place.

    Not a pipe, even when ``$COLUMNS`` gives it a width to fit.
    """
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
