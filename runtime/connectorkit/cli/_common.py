"""What the command modules share: the command registry, ``--pack``, logging, loading a pack."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from connectorkit.core._version import version

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from connectorkit.pack._definitions import Pack

__all__ = [
    "CommandParser",
    "Registry",
    "add_pack_option",
    "add_state_option",
    "configure_logging",
    "load",
    "pack_folder",
    "pack_path",
    "positive",
]


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps the description to the terminal, but keeps the examples as they are written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class CommandParser(argparse.ArgumentParser):
    """A parser whose usage errors suggest what was probably meant.

    ``--jsn`` is answered with ``did you mean --json?`` and a mistyped command or verb with the
    nearest one, under the usage of the command it was given to.
    """

    def error(self, message: str) -> NoReturn:
        """Print this parser's usage, the message and a suggestion; exit 2."""
        import difflib  # noqa: PLC0415

        hint = ""
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        choice = re.match(r"argument \S+: invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if unknown and unknown.group(1).startswith("-"):
            flag = unknown.group(1).split("=", 1)[0]
            options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
        elif choice:
            names = [n.strip(" '") for n in choice.group(2).split(",")]
            close = difflib.get_close_matches(choice.group(1), names, n=1, cutoff=0.6)
            message = f"{choice.group(1)!r} is not one of {', '.join(names)}"
            hint = f" (did you mean {close[0]}?)" if close else ""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


class Registry:
    """The top-level parser and its subcommands, which each command module adds itself to."""

    def __init__(self) -> None:
        self.parser = CommandParser(
            prog="connectorkit",
            description=(
                "Run declarative connector actions: JSON over stdin/stdout for platforms, "
                "and commands for people at a terminal."
            ),
            epilog=(
                "start here:\n"
                "  connectorkit actions                      what the pack can do\n"
                "  connectorkit docs ACTION                  one action's inputs\n"
                "  connectorkit check -c CONNECTION          does this connection work?\n"
                "  connectorkit run ACTION KEY=VALUE -c CONNECTION\n"
                "\nRun 'connectorkit COMMAND --help' for a command's options and examples."
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.parser.add_argument("--version", action="version", version=f"connectorkit {version()}")
        self._commands = self.parser.add_subparsers(
            dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
        )
        # Commands that parse their own arguments: name -> handler of the remaining argv.
        self.passthrough: dict[str, Callable[[list[str]], int]] = {}

    def add(
        self,
        name: str,
        summary: str,
        *,
        handler: Callable[[argparse.Namespace], int],
        description: str | None = None,
        examples: Sequence[str] = (),
    ) -> argparse.ArgumentParser:
        """Add a subcommand; ``handler(args)`` runs it and returns the exit code."""
        sub = self.add_verb(
            self._commands, name, summary, description=description, examples=examples
        )
        sub.set_defaults(handler=handler)
        return sub

    @staticmethod
    def add_verb(
        group: argparse._SubParsersAction[Any],
        name: str,
        summary: str,
        *,
        description: str | None = None,
        examples: Sequence[str] = (),
    ) -> argparse.ArgumentParser:
        """Add ``name`` to a group of subcommands (a command, or a command's verb).

        ``description`` is whole sentences (the summary, capitalised, when not given); its
        parser answers a mistyped option with its own usage (``usage_parser``).
        """
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
        text = description or summary[:1].upper() + summary[1:] + "."
        sub: argparse.ArgumentParser = group.add_parser(
            name,
            help=summary,
            description=text,
            epilog=epilog,
            formatter_class=_HelpFormatter,
        )
        sub.set_defaults(usage_parser=sub)
        return sub

    def add_passthrough(
        self, name: str, summary: str, *, handler: Callable[[list[str]], int]
    ) -> argparse.ArgumentParser:
        """Add a subcommand that parses its own arguments: ``handler(argv)`` gets the rest."""
        self.passthrough[name] = handler
        return self._commands.add_parser(name, help=summary, add_help=False)


def positive(text: str) -> int:
    """An argument that must be a whole number of 1 or more."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not 1 or more")
    return number


def pack_path(text: str) -> Path:
    """A pack argument: a folder (``DIR/connector.yaml`` stands for ``DIR``) or a bundled name."""
    from connectorkit.pack._files import named_pack  # noqa: PLC0415

    return named_pack(text)


def pack_folder(text: str) -> Path:
    """A pack argument that must name an existing folder (or its connector.yaml) or bundled pack."""
    path = pack_path(text)
    if not path.exists():
        from connectorkit.pack._files import bundled_pack_names  # noqa: PLC0415

        bundled = ", ".join(bundled_pack_names()) or "none"
        raise argparse.ArgumentTypeError(
            f"{text}: no such folder, nor a bundled pack (bundled: {bundled})"
        )
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a folder (give the folder of a pack)")
    return path


def add_pack_option(parser: argparse.ArgumentParser, *, must_exist: bool = True) -> None:
    """``--pack DIR``: the action pack a command works on.

    ``must_exist=False`` (invoke, serve): a missing folder is answered in JSON instead, so the
    platform sees why.
    """
    parser.add_argument(
        "--pack",
        type=pack_folder if must_exist else pack_path,
        metavar="DIR|NAME",
        help="the action pack: a folder, or the name of a pack that ships with connectorkit "
        "(default: $CONNECTORKIT_PACK, else the bundled default pack)",
    )


def add_state_option(parser: argparse.ArgumentParser) -> None:
    """``--state URL``: the store of stored connections, shared tokens, limits and push jobs."""
    parser.add_argument(
        "--state",
        metavar="URL",
        help="state store shared by workers: sqlite:///PATH, redis://…, memory:// "
        "(default: $CONNECTORKIT_STATE, else a SQLite file in the user's state folder)",
    )


def configure_logging(*, verbose: bool = False, quiet: bool = False) -> None:
    """Send the runtime's log to stderr, masked."""
    from connectorkit.core._redact import RedactingFormatter, StderrHandler  # noqa: PLC0415

    handler = StderrHandler()
    handler.setFormatter(RedactingFormatter("connectorkit: %(message)s"))
    root = logging.getLogger("connectorkit")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def load(pack_dir: Path | None) -> Pack:
    """The pack in ``pack_dir`` (default: $CONNECTORKIT_PACK, else the bundled one)."""
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    return load_pack(pack_dir)
