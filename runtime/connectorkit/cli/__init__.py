# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this marker in the console script's module)
"""The ``connectorkit`` command: argument parsing and wiring, one module per command.

Each command lives in ``connectorkit.cli.commands.<name>`` (a dash in the name becomes an
underscore) and defines ``register(registry)``, which adds its parser and handler. A run imports
only the module of the command it was given; ``--help``, an unknown command and shell completion
import them all.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pkgutil
import sys
from typing import TYPE_CHECKING, NoReturn

from connectorkit.cli._common import Registry, configure_logging

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = ["main", "run"]

_COMMANDS = "connectorkit.cli.commands"

# Kept under the names the cold-start benchmark uses.
_configure_logging = configure_logging


def _command_modules(name: str | None) -> list[str]:
    """The command modules to import: just ``name``'s when it has one, else every one."""
    if name and not name.startswith(("-", "_")):
        module = f"{_COMMANDS}.{name.replace('-', '_')}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise  # the command exists but something it needs does not
        else:
            return [module]
    from connectorkit.cli import commands  # noqa: PLC0415

    return sorted(
        f"{_COMMANDS}.{info.name}"
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    )


def _parser(name: str | None = None) -> tuple[argparse.ArgumentParser, Registry]:
    """The parser, with the commands it needs for ``name`` (all of them when None)."""
    registry = Registry()
    for module in _command_modules(name):
        importlib.import_module(module).register(registry)
    return registry.parser, registry


def _first_command(args: Sequence[str]) -> str | None:
    return args[0] if args and not args[0].startswith("-") else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``connectorkit`` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    completing = "_ARGCOMPLETE" in os.environ  # the shell asks for completions
    name = None if completing else _first_command(args_list)
    parser, registry = _parser(name)
    if completing:
        from connectorkit.cli._completion import autocomplete  # noqa: PLC0415

        autocomplete(parser)
    if not args_list:  # a bare `connectorkit`: what there is to do
        parser.print_help(sys.stderr)
        return 2
    if name in registry.passthrough:  # these parse their own options
        return registry.passthrough[name](args_list[1:])
    args, extra = parser.parse_known_args(args_list)
    # A command taking KEY=VALUE arguments takes them after its options too (run -v top=1).
    loose = getattr(args, "loose_positionals", None)
    if extra and loose and not any(e.startswith("-") for e in extra):
        getattr(args, loose).extend(extra)
    elif extra:  # answered by the usage of the command (or verb) that was given them
        usage = getattr(args, "usage_parser", None) or parser
        usage.error(f"unrecognized arguments: {' '.join(extra)}")
    return int(args.handler(args))


def run() -> NoReturn:
    """The console script: :func:`main`, then exit without the interpreter's teardown.

    Everything the command had to say is flushed first; skipping the teardown (collecting every
    object of a 100,000-row push, one by one) saves tens of milliseconds per call.
    """
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130  # interrupted: no traceback, the usual shell code for SIGINT
    except SystemExit as exc:  # argparse's usage errors and --help
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
    for stream in (sys.stdout, sys.stderr):
        # A reader that went away, or a closed stream: nothing more can be said anyway.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)
