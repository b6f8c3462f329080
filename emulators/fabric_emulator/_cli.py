"""`connectorkit emulator fabric`: the Power BI emulator's flags, Fabric's clouds and options.

It prints one JSON line with its URLs to stdout, logs to stderr, and runs until SIGINT or
SIGTERM.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fabric_emulator._cloud import FABRIC_CLOUDS
from fabric_emulator._config import FabricConfig
from powerbi_emulator import _cli as powerbi_cli

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build_parser", "main"]

PROG = "connectorkit emulator fabric"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser: the shared flags, and Fabric's."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "A local Microsoft Fabric (REST API, OneLake storage API, identity platform) for "
            "demos and tests. Prints one JSON line with its URLs to stdout, logs to stderr, and "
            "runs until SIGINT or SIGTERM."
        ),
        parents=[powerbi_cli.build_parser()],
        conflict_handler="resolve",  # Fabric's --cloud takes the place of Power BI's
    )
    parser.add_argument(
        "--cloud", default="public", choices=sorted(FABRIC_CLOUDS),
        help="the Fabric cloud to pose as: its hosts and token audiences (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--page-size", type=int, default=100, metavar="N",
        help="the most items a listing page holds (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--operation-seconds", type=float, default=20.0, metavar="S",
        help="emulated seconds a long-running operation takes (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--job-seconds", type=float, default=60.0, metavar="S",
        help="emulated seconds a job instance runs (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--requests-per-minute", type=int, metavar="N",
        help="answer 429 with Retry-After past N requests a minute per caller (default: no limit)",
    )  # fmt: skip
    return parser


def _config(args: argparse.Namespace) -> FabricConfig:
    # The shared flags (clients, faults, identities) are read as the Power BI emulator reads them.
    shared = powerbi_cli._config(argparse.Namespace(**{**vars(args), "cloud": "public"}))  # noqa: SLF001
    return FabricConfig(
        shared=shared,
        cloud=args.cloud,
        page_size=args.page_size,
        operation_seconds=args.operation_seconds,
        job_seconds=args.job_seconds,
        requests_per_minute=args.requests_per_minute,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; returns the exit code (0 after a signal)."""
    return powerbi_cli.run(
        argv,
        prog=PROG,
        parser=build_parser(),
        to_config=_config,
        package="fabric_emulator",
        address=lambda config: (config.shared.host, config.shared.port),
    )
