"""Pushes at Power BI's real limits: how close to the hourly cap, how many 429s, every row once.

The emulator enforces the service's push limits per dataset (120 POSTs a minute, 1,000,000 rows
an hour, 5 pending, 120 POSTs an hour past 250,000 rows) on a clock ``--time-scale`` times
faster than real time, and the client's rate budgets run on the same scale
(``CONNECTORKIT_LIMITS_TIME_SCALE``). Three cases, each through ``connectorkit push --wait``
of an NDJSON file and a shared SQLite state store:

- one worker, one dataset;
- two workers pushing halves of the rows into the same dataset at once;
- two workers, two datasets in parallel.

For each: rows stored (must equal rows pushed), 429s the emulator sent (target 0), and the rows
per emulated hour past the first million (which an empty window lets through at once) as a
fraction of the 1,000,000 cap (target at least 97 %). Pick ``--time-scale`` so that the cap,
not the client or the emulator, is what limits: the cap is 1,000,000 * scale / 3600 rows a
real second.

    .venv/bin/python bench/bulk_limits.py [--rows 4000000] [--time-scale 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from _benchlib import app_token, banner, connection, connectorkit_command, print_table
from _benchlib import emulator as start_emulator

GROUP = "c0ffee00-5a1e-4a1a-8a1b-000000000001"  # the emulator's seeded workspace
COLUMNS = [{"name": "Id", "dataType": "Int64"}, {"name": "Product", "dataType": "String"}]
ROWS_PER_HOUR = 1_000_000


def write_rows(path: Path, first: int, count: int) -> None:
    with path.open("wb") as out:
        for start in range(first, first + count, 100_000):
            end = min(start + 100_000, first + count)
            out.write(
                b"".join(orjson.dumps({"Id": i, "Product": f"P{i % 97}"}) + b"\n"
                         for i in range(start, end))
            )  # fmt: skip


def create_dataset(base_url: str, token: str, name: str) -> str:
    response = httpx.post(
        f"{base_url}/groups/{GROUP}/datasets",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": name, "defaultMode": "Push", "tables": [{"name": "T", "columns": COLUMNS}]},
        timeout=30,
        trust_env=False,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def stored(url: str, dataset_id: str) -> int:
    state = httpx.get(f"{url}/_emulator/state", timeout=60, trust_env=False).json()
    dataset = next(d for d in state["datasets"] if d["id"] == dataset_id)
    return int(dataset["tables"][0]["rows"])


def throttled(url: str) -> int:
    log = httpx.get(f"{url}/_emulator/requests", timeout=60, trust_env=False).json()
    entries = log["value"]
    return sum(1 for e in entries if e.get("status") == 429)


def run_case(
    name: str, plan: list[tuple[str, Path]], env: dict[str, str], conn: Path
) -> tuple[float, list[int]]:
    """Start one `connectorkit push` per (dataset, file) at once; wall time and exit codes."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                *connectorkit_command(),
                "push",
                str(path),
                f"dataset_id={dataset_id}",
                "table_name=T",
                f"group_id={GROUP}",
                "--connection",
                str(conn),
                "--wait",
                "-q",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for dataset_id, path in plan
    ]
    codes = []
    for proc in procs:
        out, err = proc.communicate()
        codes.append(proc.returncode)
        if proc.returncode != 0:
            print(f"{name}: exit {proc.returncode}: {out.decode()[:500]} {err.decode()[-500:]}")
    return time.perf_counter() - started, codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--time-scale", type=float, default=60.0)
    args = parser.parse_args()
    banner(
        f"create_rows at the emulator's real push limits: {args.rows:,} rows a case",
        [f"clocks {args.time_scale:g}x faster: an hour lasts {3600 / args.time_scale:.1f} s"],
    )
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        half = args.rows // 2
        write_rows(folder / "all.ndjson", 0, args.rows)
        write_rows(folder / "first.ndjson", 0, half)
        write_rows(folder / "second.ndjson", half, args.rows - half)
        cases = {
            "1 worker, 1 dataset": [("a", "all")],
            "2 workers, 1 dataset": [("a", "first"), ("a", "second")],
            "2 workers, 2 datasets": [("a", "all"), ("b", "all")],
        }
        for case, layout in cases.items():
            with start_emulator(time_scale=args.time_scale) as emu:
                token = app_token(emu)
                conn = folder / "connection.json"
                conn.write_text(json.dumps(connection(emu, token)))
                datasets = {key: create_dataset(emu.base_url, token["access_token"], key)
                            for key, _ in layout}  # fmt: skip
                env = {
                    **os.environ,
                    "CONNECTORKIT_STATE": f"sqlite:///{folder / (case + '.sqlite3')}",
                    "CONNECTORKIT_LIMITS_TIME_SCALE": str(args.time_scale),
                    "NO_PROXY": "127.0.0.1",
                }
                plan = [(datasets[key], folder / f"{part}.ndjson") for key, part in layout]
                wall, codes = run_case(case, plan, env, conn)
                pushed = dict.fromkeys(datasets, 0)
                for key, part in layout:
                    pushed[key] += args.rows if part == "all" else half
                kept = {key: stored(emu.url, datasets[key]) for key in datasets}
                hours = wall * args.time_scale / 3600
                # The first hour's million may go at once (the window starts empty); the cap
                # is met when every hour after it carries a million more.
                rows_per_hour = (max(pushed.values()) - ROWS_PER_HOUR) / hours
                table.append((
                    case,
                    ", ".join(f"{kept[k]:,}/{pushed[k]:,}" for k in datasets),
                    throttled(emu.url),
                    f"{wall:.1f}",
                    f"{rows_per_hour / ROWS_PER_HOUR:.1%}",
                    ",".join(map(str, codes)),
                ))  # fmt: skip
    print_table(
        ["case", "rows stored/pushed", "429s", "wall s", "of the hourly cap", "exits"], table
    )
    print("targets: every row stored once, 0 429s, at least 97 % of 1,000,000 rows an hour")


if __name__ == "__main__":
    sys.exit(main())
