"""``invoke`` and ``serve``: the contract's JSON over stdin/stdout."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.core._errors import ConnectorError, InvalidRequest
from connectorkit.core._settings import settings

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from connectorkit.call._run import Runner
    from connectorkit.cli._common import Registry
    from connectorkit.pack._definitions import Pack

__all__ = ["add_protocol_command"]

# The last request `invoke` decoded: the command's process ends with os._exit, so holding it here
# spares freeing its objects one by one (a third of a second for a million rows).
_KEPT: list[Any] = []


def add_protocol_command(
    registry: Registry, name: str, summary: str, examples: list[str]
) -> argparse.ArgumentParser:
    """Add ``invoke`` or ``serve`` with the options they share."""
    sub = registry.add(name, summary, handler=_run_protocol, examples=examples)
    add_pack_option(sub, must_exist=False)
    sub.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub.add_argument("-q", "--quiet", action="store_true", help="only warnings on stderr")
    add_state_option(sub)
    return sub


def _run_protocol(args: argparse.Namespace) -> int:
    from connectorkit.protocol._protocol import invoke, serve  # noqa: PLC0415

    configure_logging(verbose=args.verbose, quiet=args.quiet)
    made: list[Runner] = []

    def pack_and_runner() -> tuple[Pack | ConnectorError, Runner]:
        from connectorkit.call._run import Runner  # noqa: PLC0415 - the HTTP stack, after the request

        pack: Pack | ConnectorError
        try:
            pack = load(_existing_pack(args.pack))
        except ConnectorError as exc:
            pack = exc  # still answer in JSON, so the platform sees why
        made.append(Runner(state_url=args.state))
        return pack, made[0]

    # Bytes, so that a request that is not UTF-8 is answered in JSON instead of crashing the read.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)  # a text stand-in (tests) is read as text
    try:
        if args.command == "invoke":
            # The pack and the runner are made once the request is decoded: a big request's
            # text is then parsed (and dropped) before they take any memory.
            _KEPT.clear()
            return invoke(pack_and_runner, None, stdin, sys.stdout, keep=_KEPT)
        return serve(*pack_and_runner(), stdin, sys.stdout, concurrency=args.concurrency)
    finally:
        for runner in made:
            runner.close()


def _existing_pack(given: Path | None) -> Path | None:
    """``given`` (or ``$CONNECTORKIT_PACK``) if it holds a pack: naming none is the caller's error.

    A folder without ``connector.yaml`` is a wrong argument (``invalid_request``, exit 2); a pack
    that is there but broken stays a defect of the deployment (``internal_error``, exit 3).
    """
    from connectorkit.pack._files import PACK_ENV, default_pack_root  # noqa: PLC0415

    if given is None and not settings().pack:
        return None  # the bundled pack
    folder = given if given is not None else default_pack_root()
    if (folder / "connector.yaml").is_file():
        return folder
    option = "--pack" if given is not None else f"${PACK_ENV}"
    said = "no such folder" if not folder.exists() else "no connector.yaml there"
    raise InvalidRequest(
        f"{option} {folder}: {said}: not an action pack",
        details=[{"field": option, "message": f"{said}: not an action pack"}],
    )
