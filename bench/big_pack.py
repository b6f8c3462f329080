"""A pack of hundreds of actions: cold ``invoke`` of one, ``describe`` and ``validate`` of all.

Copies the Power BI pack into a temporary folder and adds generated actions (each a GET with
the shared ``group_id``/``top`` inputs, a path and a query of its own) until it holds N. Then it
times, interleaved and against the emulator, a cold ``connectorkit invoke`` of ``list_groups``
with the Power BI pack as it is and with each larger one (the pack cache warm, as on a platform's
machine), and ``describe`` and ``validate`` of each, to show they grow linearly.

    .venv/bin/python bench/big_pack.py [--sizes 300,600] [-n 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _benchlib import (
    REPO,
    Stats,
    app_token,
    banner,
    connection,
    connectorkit_command,
    print_table,
)
from _benchlib import emulator as start_emulator

ACTION = """\
key: {key}
label: Generated {number}
description: A generated action, one of many, to measure how a pack's size costs.
inputs:
  - use: group_id
  - use: top
  - key: filter_{number}
    label: Filter {number}
    type: string
    max_length: 200
    comments: An OData filter for this generated endpoint.
request:
  method: GET
  path: "[/groups/{{group_id}}]/generated/{number}/items"
  query:
    $top: "{{top}}"
    $filter: "{{filter_{number}}}"
"""


def make_pack(folder: Path, size: int) -> Path:
    """The Power BI pack plus generated actions, ``size`` actions in all."""
    pack = folder / f"pack-{size}"
    for part in ("connector.yaml", "actions", "connections"):
        source = REPO / "packs" / "powerbi" / part
        if source.is_dir():
            shutil.copytree(source, pack / part)
        else:
            pack.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, pack / part)
    existing = len(list((pack / "actions").glob("*.yaml")))
    for number in range(size - existing):
        key = f"generated_{number:04d}"
        (pack / "actions" / f"{key}.yaml").write_text(
            ACTION.format(key=key, number=number), encoding="utf-8"
        )
    return pack


def timed(argv: list[str], stdin: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{argv[-1]} failed ({done.returncode}): {done.stdout[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", default="300,600", help="pack sizes besides the Power BI pack's own"
    )
    parser.add_argument("-n", type=int, default=10, help="timed runs per command")
    args = parser.parse_args()
    base = REPO / "packs" / "powerbi"
    own = len(list((base / "actions").glob("*.yaml")))
    sizes = [own, *(int(s) for s in args.sizes.split(",") if int(s) > own)]
    banner(
        "a pack of many actions",
        [f"pack sizes {sizes}; {args.n} timed runs each, interleaved; the pack cache warm"],
    )
    command = connectorkit_command()
    with tempfile.TemporaryDirectory() as tmp, start_emulator() as emu:
        folder = Path(tmp)
        packs = {size: base if size == own else make_pack(folder, size) for size in sizes}
        token = app_token(emu)
        request = json.dumps(
            {"action": "list_groups", "inputs": {}, "connection": connection(emu, token)}
        )
        env = {**os.environ, "CONNECTORKIT_CACHE_DIR": str(folder / "cache")}
        samples: dict[tuple[str, int], list[float]] = {}
        jobs: list[tuple[str, int, list[str], str]] = []
        for size, pack in packs.items():
            jobs += [
                ("invoke list_groups", size, [*command, "invoke", "--pack", str(pack)], request),
                ("describe", size, [*command, "describe", "--pack", str(pack)], ""),
                ("validate", size, [*command, "validate", str(pack)], ""),
            ]
        for _what, _size, argv, stdin in jobs:  # warm the pack cache, untimed
            timed(argv, stdin, env)
        for _ in range(args.n):
            for what, size, argv, stdin in jobs:
                samples.setdefault((what, size), []).append(timed(argv, stdin, env))
    rows: list[list[Any]] = []
    for what in ("invoke list_groups", "describe", "validate"):
        first = Stats.of(samples[(what, own)]).median
        for size in sizes:
            stats = Stats.of(samples[(what, size)])
            per_action = (stats.median - first) / (size - own) if size != own else float("nan")
            rows.append([what, size, stats.median, stats.minimum, stats.median / first, per_action])
    print_table(
        ["command", "actions", "median ms", "min ms", "x the Power BI pack", "ms per added action"],
        rows,
    )


if __name__ == "__main__":
    main()
