"""How a command speaks: to people by default, the protocol's envelope with ``--json``.

For people, a result goes to stdout as text (tables, key facts, local times; a sentence when
there is nothing), notes go to stderr, and an error is said once, on stderr, with what to
change. With ``--json``, stdout holds exactly one JSON document — ``{"ok": true, "result": …}``
or ``{"ok": false, "error": …}``, as ``invoke`` prints — and the exit code is the same.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from connectorkit.cli._render import Style, error_text

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from connectorkit.core._errors import ConnectorError

__all__ = ["Voice", "add_json_option", "add_store_options"]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: the envelope on stdout instead of text for people."""
    parser.add_argument(
        "--json",
        action="store_true",
        help='print the protocol\'s envelope ({"ok": …, "result"|"error": …}) for scripts',
    )


def add_store_options(parser: argparse.ArgumentParser, *, verb: bool = False) -> None:
    """``--state``, ``--pack``, ``--json`` of a command with verbs: before the verb or after it.

    A verb's copies (``verb=True``) keep no default, so they never overwrite the command's.
    """
    from connectorkit.cli._common import (  # noqa: PLC0415
        add_pack_option,
        add_state_option,
        pack_folder,
    )

    if not verb:
        add_state_option(parser)
        add_pack_option(parser)
        add_json_option(parser)
        return
    import argparse  # noqa: PLC0415

    parser.add_argument("--state", metavar="URL", default=argparse.SUPPRESS, help="as above")
    parser.add_argument(
        "--pack", metavar="DIR|NAME", type=pack_folder, default=argparse.SUPPRESS, help="as above"
    )
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="as above")


class Voice:
    """The output of one command: ``as_json`` picks the envelope, else text for people."""

    def __init__(
        self, *, as_json: bool = False, quiet: bool = False, action: str | None = None
    ) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.action = action  # named in the advice of an input error
        self.out = Style.for_stream(sys.stdout)
        self.err = Style.for_stream(sys.stderr)

    def done(self, result: Any, text: str | Callable[[Style], str]) -> int:
        """Success: ``result`` in the envelope, or ``text`` (made with stdout's style)."""
        if self.as_json:
            return self.envelope({"ok": True, "result": result}, 0)
        shown = text(self.out) if callable(text) else text
        sys.stdout.write(shown + ("" if shown.endswith("\n") else "\n"))
        sys.stdout.flush()
        return 0

    def empty(self, result: Any, sentence: str) -> int:
        """Nothing to list: the empty ``result``, or a sentence saying so (never silence)."""
        return self.done(result, sentence)

    def fail(self, error: ConnectorError, *, hint: str | None = None) -> int:
        """An error, said once: the envelope on stdout, or words on stderr; its exit code."""
        return self.failed(error.to_dict(), error.exit_code, hint=hint)

    def failed(self, error: Mapping[str, Any], code: int, *, hint: str | None = None) -> int:
        """As :meth:`fail`, for an error already in the envelope's shape."""
        if self.as_json:
            return self.envelope({"ok": False, "error": dict(error)}, code)
        sys.stdout.flush()
        sys.stderr.write(error_text(error, self.err, hint=hint, action=self.action) + "\n")
        return code

    def envelope(self, envelope: Mapping[str, Any], code: int) -> int:
        """Write ``envelope`` as strict JSON on stdout; return ``code``."""
        from connectorkit.protocol._protocol import dump_response  # noqa: PLC0415

        sys.stdout.write(dump_response(dict(envelope)))
        sys.stdout.flush()
        return code

    def note(self, text: str) -> None:
        """A note for people on stderr (``connectorkit: …``), unless quiet."""
        if not self.quiet:
            sys.stderr.write(self.err.dim(f"connectorkit: {text}") + "\n")
            sys.stderr.flush()
