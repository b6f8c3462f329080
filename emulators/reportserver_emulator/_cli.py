"""`connectorkit emulator reportserver`: parse the flags, serve, print the URLs as one JSON line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportserver_emulator._windows_auth import SCHEMES, User, parse_user, read_users_file

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DEFAULT_USER", "build_parser", "main"]

PROG = "connectorkit emulator reportserver"
DEFAULT_USER = "CONTOSO\\alice:Passw0rd!"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "A local Power BI Report Server (REST API v2.0 behind Windows authentication: "
            "NTLM and Negotiate, handshake per connection) for demos and tests. Prints one JSON "
            "line with its URLs to stdout, logs to stderr, runs until SIGINT or SIGTERM."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--user", action="append", default=[], metavar="DOMAIN\\NAME:PASSWORD",
        help=f"an account the server accepts (repeatable; default {DEFAULT_USER})",
    )  # fmt: skip
    parser.add_argument(
        "--users-file", type=Path, metavar="PATH",
        help="accounts, one DOMAIN\\NAME:PASSWORD per line (# comments)",
    )  # fmt: skip
    parser.add_argument(
        "--scheme", choices=sorted(SCHEMES), default="both",
        help="what WWW-Authenticate offers: Negotiate and NTLM (both, the default), one of them, "
        "Basic (RSWindowsBasic), or all three",
    )  # fmt: skip
    parser.add_argument(
        "--portal-path", default="/reports",
        help="the web portal's path; the API is under PATH/api/v2.0 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="MS",
        help="milliseconds added to every request (default 0)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    return parser


def _users(args: argparse.Namespace) -> tuple[User, ...]:
    users = [parse_user(text) for text in args.user]
    if args.users_file is not None:
        users += read_users_file(args.users_file)
    return tuple(users) or (parse_user(DEFAULT_USER),)


def _announce(urls: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(urls) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help or a usage error; argparse already wrote to stderr
        return exc.code if isinstance(exc.code, int) else 2
    try:
        users = _users(args)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    if not args.portal_path.startswith("/"):
        sys.stderr.write(f"{PROG}: error: --portal-path must start with /\n")
        return 2
    try:
        import spnego  # noqa: F401, PLC0415 - the acceptor; fail now rather than at first logon
    except ImportError:
        sys.stderr.write(
            f"{PROG}: error: pyspnego is missing: the emulator needs connectorkit's optional "
            "extra 'emulator' (see: connectorkit emulator --help)\n"
        )
        return 2
    from reportserver_emulator._server import EmulatorConfig, serve_forever  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("reportserver_emulator")
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        users=users,
        scheme=args.scheme,
        portal_path=args.portal_path,
        latency_ms=args.latency,
    )
    try:
        serve_forever(config, _announce)
    except OSError as exc:
        sys.stderr.write(f"{PROG}: error: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    return 0
