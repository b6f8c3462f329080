"""``connectorkit validate``: check a pack, every problem with its file and line."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from connectorkit.cli._common import pack_folder

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``validate``."""
    sub = registry.add(
        "validate",
        "check a pack and report every problem with file and line",
        handler=_validate,
        examples=["connectorkit validate packs/mypack", "connectorkit validate --json ."],
    )
    sub.add_argument(
        "dir", nargs="?", type=pack_folder, help="the pack folder (default: the bundled pack)"
    )
    sub.add_argument("--json", action="store_true", help="problems as a JSON list")


def _validate(args: argparse.Namespace) -> int:
    from connectorkit.pack._check import validate_pack  # noqa: PLC0415
    from connectorkit.pack._files import default_pack_root  # noqa: PLC0415

    root = args.dir or default_pack_root()
    problems = validate_pack(root)
    if not problems:  # a valid pack: run its examples (inputs -> the request they show)
        from connectorkit.authoring._examples import example_problems  # noqa: PLC0415
        from connectorkit.pack._load import load_pack  # noqa: PLC0415

        folder = root.parent if root.is_file() else root  # `validate path/connector.yaml`
        problems = example_problems(load_pack(folder))
    if args.json:
        print(json.dumps([p.to_dict() for p in problems], indent=2))  # noqa: T201
    elif problems:
        for problem in problems:
            print(problem)  # noqa: T201
        print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)  # noqa: T201
    else:
        print(f"{root}: ok", file=sys.stderr)  # noqa: T201
    return 1 if problems else 0
