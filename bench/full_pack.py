"""The full Power BI pack (every swagger operation) next to the nine hand-written actions.

Builds a copy of the pack holding only the nine hand-written actions, then measures, N times
each and interleaved:

- cold ``connectorkit invoke`` of ``list_groups`` against the emulator, with a token (the pack
  cache warm, as it is after the first call), for the nine-action pack and the full one;
- ``connectorkit describe`` and ``connectorkit docs`` of each;
- ``connectorkit validate`` of each (schemas, cross-file checks and every example run), and a
  load with the pack cache off (first call after an edit).

    .venv/bin/python bench/full_pack.py [-n 15]
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
    emulator,
    print_table,
)

SEEDS = (
    "create_dataset", "create_rows", "delete_rows", "list_datasets", "list_groups",
    "list_reports", "list_tables", "raw_request", "update_table",
)  # fmt: skip


def nine_action_pack(folder: Path) -> Path:
    """A copy of the pack with only the hand-written actions."""
    folder.mkdir(parents=True)
    shutil.copy(REPO / "connector.yaml", folder / "connector.yaml")
    shutil.copytree(REPO / "connections", folder / "connections")
    shutil.copytree(REPO / "openapi", folder / "openapi")
    (folder / "actions").mkdir()
    for key in SEEDS:
        shutil.copy(REPO / "actions" / f"{key}.yaml", folder / "actions" / f"{key}.yaml")
    return folder


def timed(command: list[str], *, stdin: str = "", env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        command, input=stdin, capture_output=True, text=True, env=env, check=False
    )
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command} failed: {done.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="timed runs per command")
    args = parser.parse_args()
    command = connectorkit_command()
    with tempfile.TemporaryDirectory() as tmp, emulator() as emu:
        nine = nine_action_pack(Path(tmp) / "nine")
        cache = Path(tmp) / "cache"
        env = {**os.environ, "CONNECTORKIT_CACHE_DIR": str(cache)}
        cold = {**os.environ, "CONNECTORKIT_CACHE_DIR": ""}
        request = json.dumps(
            {"action": "list_groups", "inputs": {}, "connection": connection(emu, app_token(emu))}
        )
        count = len(list((REPO / "actions").glob("*.yaml")))
        packs = {"nine actions": nine, f"full ({count} actions)": REPO}
        jobs: dict[str, Any] = {}
        for name, root in packs.items():
            pack = ["--pack", str(root)]
            jobs[f"invoke list_groups — {name}"] = ([*command, "invoke", *pack], request, env)
            jobs[f"describe — {name}"] = ([*command, "describe", *pack], "", env)
            jobs[f"docs — {name}"] = ([*command, "docs", *pack], "", env)
        runs_of: dict[str, int] = {}
        for name, root in packs.items():
            jobs[f"validate (examples run) — {name}"] = ([*command, "validate", str(root)], "", env)
            jobs[f"describe, pack cache off — {name}"] = (
                [*command, "describe", "--pack", str(root)],
                "",
                cold,
            )
            runs_of[f"validate (examples run) — {name}"] = max(3, args.runs // 5)
            runs_of[f"describe, pack cache off — {name}"] = max(3, args.runs // 5)
        for argv, stdin, environment in jobs.values():  # warm-up: fills the pack cache
            timed(argv, stdin=stdin, env=environment)
        samples: dict[str, list[float]] = {name: [] for name in jobs}
        for round_ in range(args.runs):
            for name, (argv, stdin, environment) in jobs.items():
                if round_ < runs_of.get(name, args.runs):
                    samples[name].append(timed(argv, stdin=stdin, env=environment))
        banner(
            "The full Power BI pack next to the nine hand-written actions",
            [f"emulator: {emu.describe()}", f"{args.runs} runs (validate and cache-off: fewer)"],
        )
        rows = []
        for name, values in samples.items():
            stats = Stats.of(values)
            rows.append([name, stats.n, f"{stats.median:.0f}", f"{stats.p90:.0f}"])
        print_table(["command", "runs", "median ms", "p90 ms"], rows)


if __name__ == "__main__":
    main()
