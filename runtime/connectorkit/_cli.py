"""The ``connectorkit`` command: argument parsing and wiring, nothing else."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from connectorkit import __version__
from connectorkit._errors import ConnectorError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connectorkit._definitions import Pack

__all__ = ["main", "run"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectorkit",
        description="Run declarative connector actions with JSON over stdin/stdout.",
    )
    parser.add_argument("--version", action="version", version=f"connectorkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_pack(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--pack",
            type=Path,
            help="action pack folder (default: $CONNECTORKIT_PACK, else the bundled Power BI pack)",
        )
        return sub

    for name, help_text in (
        ("invoke", "read one JSON request from stdin, write one JSON response to stdout"),
        ("serve", "a long-lived worker: one JSON request per line in, one response per line out"),
    ):
        sub = with_pack(name, help_text)
        sub.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
        sub.add_argument("-q", "--quiet", action="store_true", help="only warnings on stderr")
        if name == "serve":
            sub.add_argument(
                "--concurrency", type=int, default=4, help="requests run at once (default 4)"
            )
    with_pack("describe", "the catalog (connections, actions, inputs as JSON Schema) as JSON")
    with_pack("docs", "the pack's reference as Markdown")
    validate = commands.add_parser(
        "validate", help="check a pack and report every problem with file and line"
    )
    validate.add_argument(
        "dir", nargs="?", type=Path, help="the pack folder (default: the bundled pack)"
    )
    validate.add_argument("--json", action="store_true", help="problems as a JSON list")
    commands.add_parser(
        "emulator", help="a local Power BI service (see: connectorkit emulator -h)", add_help=False
    )
    commands.add_parser(
        "import-openapi",
        help="write actions from an OpenAPI document (see: connectorkit import-openapi -h)",
        add_help=False,
    )
    commands.add_parser(
        "new", help="scaffold: `new pack DIR` or `new action KEY`", add_help=False
    )
    commands.add_parser(
        "auth",
        help="OAuth 2.0: `auth login` obtains a token (see: connectorkit auth login -h)",
        add_help=False,
    )
    return parser


def _configure_logging(*, verbose: bool = False, quiet: bool = False) -> None:
    from connectorkit._redact import RedactingFormatter  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("connectorkit: %(message)s"))
    root = logging.getLogger("connectorkit")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def _load(pack_dir: Path | None) -> Pack:
    from connectorkit._load import load_pack  # noqa: PLC0415

    return load_pack(pack_dir)


def _run_protocol(args: argparse.Namespace) -> int:
    from connectorkit._protocol import invoke, serve  # noqa: PLC0415
    from connectorkit._run import Runner  # noqa: PLC0415

    _configure_logging(verbose=args.verbose, quiet=args.quiet)
    pack: Pack | ConnectorError
    try:
        pack = _load(args.pack)
    except ConnectorError as exc:
        pack = exc  # still answer in JSON, so the platform sees why
    runner = Runner()
    # Bytes, so that a request that is not UTF-8 is answered in JSON instead of crashing the read.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)  # a text stand-in (tests) is read as text
    try:
        if args.command == "invoke":
            return invoke(pack, runner, stdin, sys.stdout)
        return serve(pack, runner, stdin, sys.stdout, concurrency=max(1, args.concurrency))
    finally:
        runner.close()


def _validate(args: argparse.Namespace) -> int:
    from connectorkit._load import default_pack_root  # noqa: PLC0415
    from connectorkit._validate import validate_pack  # noqa: PLC0415

    root = args.dir or default_pack_root()
    problems = validate_pack(root)
    if args.json:
        print(json.dumps([p.to_dict() for p in problems], indent=2))  # noqa: T201
    elif problems:
        for problem in problems:
            print(problem)  # noqa: T201
        print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)  # noqa: T201
    else:
        print(f"{root}: ok", file=sys.stderr)  # noqa: T201
    return 1 if problems else 0


def _catalog(args: argparse.Namespace) -> int:
    from connectorkit._catalog import describe, docs_markdown  # noqa: PLC0415

    try:
        pack = _load(args.pack)
    except ConnectorError as exc:
        print(f"connectorkit: {exc.message}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    if args.command == "describe":
        print(json.dumps(describe(pack), indent=2, ensure_ascii=False))  # noqa: T201
    else:
        sys.stdout.write(docs_markdown(pack))
    return 0


def _emulator(argv: list[str]) -> int:
    import importlib.util  # noqa: PLC0415

    # The emulator imports its server lazily, so ask for it up front rather than fail mid-start.
    if importlib.util.find_spec("uvicorn") is None and not {"-h", "--help"} & set(argv):
        print(  # noqa: T201
            "connectorkit: the emulator needs its extra: pip install 'connectorkit[emulator]'",
            file=sys.stderr,
        )
        return 3
    from connectorkit.emulator import main as emulator_main  # noqa: PLC0415

    return int(emulator_main(argv))


def _auth(argv: list[str]) -> int:
    if argv[:1] != ["login"]:
        print("connectorkit: usage: connectorkit auth login [options]", file=sys.stderr)  # noqa: T201
        return 2
    from connectorkit._login import run_login  # noqa: PLC0415

    _configure_logging()
    return int(run_login(argv[1:], stdout=sys.stdout, stderr=sys.stderr))


def _import_openapi(argv: list[str]) -> int:
    from connectorkit._openapi._command import main as import_main  # noqa: PLC0415

    return import_main(argv)


def _new(argv: list[str]) -> int:
    from connectorkit._scaffold import main as new_main  # noqa: PLC0415

    return new_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``connectorkit`` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    # These two parse their own options.
    passthrough = {
        "emulator": _emulator,
        "auth": _auth,
        "import-openapi": _import_openapi,
        "new": _new,
    }
    if args_list[:1] and args_list[0] in passthrough:
        return passthrough[args_list[0]](args_list[1:])
    args = _parser().parse_args(args_list)
    if args.command in {"invoke", "serve"}:
        return _run_protocol(args)
    if args.command == "validate":
        return _validate(args)
    return _catalog(args)


def run() -> NoReturn:
    """The console script: :func:`main`, then exit without the interpreter's teardown.

    Everything the command had to say is flushed first; skipping the teardown (collecting every
    object of a 100,000-row push, one by one) saves tens of milliseconds per call.
    """
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130  # interrupted: no traceback, the usual shell code for SIGINT
    for stream in (sys.stdout, sys.stderr):
        # A reader that went away, or a closed stream: nothing more can be said anyway.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)
