"""``connectorkit studio``: a local page that renders every action's form from ``describe``.

The page (``static/``: plain HTML, one script, one stylesheet; nothing fetched from elsewhere)
builds each form from the catalog's JSON Schema alone, checks it in the browser, and runs the
action through the runtime on this server, against the local emulator, a stored connection of
the state store, or connection values typed on the page. The server is a small ASGI app on
uvicorn, bound to loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
from typing import TYPE_CHECKING

from connectorkit.pack._files import named_pack

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from connectorkit.pack._definitions import Pack
    from connectorkit.studio._emulator_choice import EmulatorProcess, Preset

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectorkit studio",
        description=(
            "A local web page that shows every action of a pack as the form a workflow designer "
            "gets from `describe`, and runs it. Prints one JSON line with its URL, then serves "
            "until interrupted."
        ),
        epilog=(
            "examples:\n"
            "  connectorkit studio --emulator                    # run against a local emulator\n"
            "  connectorkit studio --pack ./my-pack --port 8700  # your pack, reloaded on edits\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pack",
        type=named_pack,
        metavar="DIR|NAME",
        help="the action pack: a folder or a bundled pack's name (default: $CONNECTORKIT_PACK, "
        "else the bundled pack); "
        "the page follows edits to its files",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--emulator",
        nargs="?",
        const="start",
        metavar="URL",
        help="offer the local emulator as a connection: alone, start one for this session; "
        "with a URL, use the emulator running there",
    )
    parser.add_argument(
        "--state",
        metavar="URL",
        help="the state store whose stored connections the page offers "
        "(default: $CONNECTORKIT_STATE, else the SQLite file in the user's state folder)",
    )
    parser.add_argument(
        "--emulator-client",
        metavar="ID:SECRET",
        help="the emulator client to use with --emulator URL (default: connectorkit-demo)",
    )
    return parser


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def _emulator(
    args: argparse.Namespace, pack: Pack | None
) -> tuple[list[Preset], EmulatorProcess | None]:
    """The emulator preset asked for with ``--emulator``, and the child process if one started."""
    from connectorkit.studio._emulator_choice import (  # noqa: PLC0415
        DEFAULT_EMULATOR_CLIENT,
        EmulatorProcess,
        emulator_preset,
        endpoints_of,
    )

    if args.emulator is None:
        return [], None
    child: EmulatorProcess | None = None
    if args.emulator == "start":
        child = EmulatorProcess()
        endpoints, client = child.endpoints, child.client
    else:
        endpoints = endpoints_of(args.emulator)
        client = DEFAULT_EMULATOR_CLIENT
        if args.emulator_client:
            client_id, _, secret = args.emulator_client.partition(":")
            client = (client_id, secret)
    preset = emulator_preset(pack, endpoints, client)
    return ([] if preset is None else [preset]), child


def main(argv: Sequence[str] | None = None) -> int:
    """Run the studio until interrupted; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        import uvicorn  # noqa: PLC0415 - only the studio serves HTTP
    except ImportError:
        from connectorkit.core._install import missing_extra  # noqa: PLC0415

        # A usage error (exit 2), not a defect: the caller's environment lacks a part.
        sys.stderr.write(f"connectorkit: {missing_extra('studio', 'studio', 'uvicorn')}\n")
        return 2
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import default_pack_root  # noqa: PLC0415
    from connectorkit.studio._app import StudioApp  # noqa: PLC0415
    from connectorkit.studio._runs import RunBook  # noqa: PLC0415
    from connectorkit.studio._stored_choice import StoredPresets  # noqa: PLC0415
    from connectorkit.studio._watch import PackView  # noqa: PLC0415

    view = PackView((args.pack or default_pack_root()).resolve())
    _, pack, _, error = view.current()
    if error is not None:
        print(f"connectorkit: {error['message']} (the page shows it until fixed)", file=sys.stderr)  # noqa: T201
    presets, child = _emulator(args, pack)
    try:
        sock = _bind(args.port)
    except OSError as exc:
        print(f"connectorkit: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)  # noqa: T201
        if child is not None:
            child.stop()
        return 1
    port = sock.getsockname()[1]
    runner = Runner(state_url=args.state)
    app = StudioApp(view, RunBook(runner), presets, stored=StoredPresets(lambda: runner.state))
    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="off",
        loop="asyncio",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
    )

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # Ours instead: uvicorn would re-raise SIGTERM on exit, skipping the cleanup below.
            yield

    url = f"http://127.0.0.1:{port}/"
    print(json.dumps({"url": url}), flush=True)  # noqa: T201
    print(f"connectorkit studio: open {url} (Ctrl-C stops it)", file=sys.stderr, flush=True)  # noqa: T201
    server = _Server(config)

    def stop(_signum: int, _frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runner.close()
        sock.close()
        if child is not None:
            child.stop()
    return 0
