"""Pushes at Power BI's real limits: how close to the hourly cap, how many 429s, every row once.

The emulator enforces the service's push limits per dataset (120 POSTs a minute, 1,000,000 rows
an hour, 5 pending, 120 POSTs an hour past 250,000 rows) on a clock ``--time-scale`` times
faster than real time, and the client's rate budgets run on the same scale
(``CONNECTORKIT_LIMITS_TIME_SCALE``). Three cases, each through ``connectorkit push --wait``
of an NDJSON file and a shared SQLite state store, each against a fresh emulator:

- one worker, one dataset;
- two workers pushing halves of the rows into the same dataset at once;
- two workers, two datasets in parallel (each gets all the rows).

For each case:

- **stored / sent, duplicates, lost**: the rows the emulator holds, checked by their ``Id``
  column against the rows each file held (every row exactly once is the target);
- **429s**: POSTs the emulator answered 429 (target 0), from its request log;
- **of the cap**: how close the push came to the fastest schedule the hourly cap allows. The
  window starts empty, so the first million rows may go at once, and every further million one
  emulated hour later: N rows need at least (N - 1,000,000) / 1,000,000 hours from the first
  POST to the last. The figure is that ideal over the measured span between the first and the
  last POST of a dataset, on the emulator's own clock (target at least 97 %). ``steady`` is
  the rows stored in the whole hours after the first, over a million an hour: the rate while
  the cap binds, without the final hour a late batch may add to the span. ``whole`` is the
  same ideal over the whole command's wall time, start-up and the check of every row before the
  first POST included: on the time-scaled clock those seconds count ``--time-scale`` times over
  (at the real scale they are seconds against hours);
- **client CPU s and peak MiB**: user + system time and peak resident memory of each
  ``connectorkit push`` process (``os.wait4``).

Pick ``--time-scale`` so that the cap, not the client or the emulator, is what limits: the cap
is 1,000,000 * scale / 3600 rows a real second per dataset.

    .venv/bin/python bench/bulk_limits.py [--rows 4000000] [--time-scale 60] [--cases 1,2,3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from _benchlib import app_token, banner, connection, connectorkit_command, print_table
from _benchlib import emulator as start_emulator

GROUP = "c0ffee00-5a1e-4a1a-8a1b-000000000001"  # the emulator's seeded workspace
COLUMNS = [{"name": "Id", "dataType": "Int64"}, {"name": "Product", "dataType": "String"}]
ROWS_PER_HOUR = 1_000_000
HOUR = 3600.0


@dataclass
class Child:
    """One finished ``connectorkit push`` process."""

    code: int
    wall: float
    cpu: float
    peak_mib: float
    stdout: str
    stderr: str


def write_rows(path: Path, first: int, count: int) -> None:
    """An NDJSON file of rows ``Id`` = first … first + count - 1."""
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


# Runs in a child interpreter, so that this process never holds millions of rows: a push
# started later inherits this process's resident memory at fork, and its peak would show it.
_COUNT_CHILD = """
import json, sys
import httpx, orjson
url, dataset_id, spans = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
response = httpx.get(
    f"{url}/_emulator/datasets/{dataset_id}/tables/T/rows", timeout=600, trust_env=False
)
response.raise_for_status()
ids = [int(row["Id"]) for row in orjson.loads(response.content)["value"]]
distinct = set(ids)
sent = sum(end - start for start, end in spans)
lost = sum(1 for start, end in spans for i in range(start, end) if i not in distinct)
print(json.dumps({"stored": len(ids), "sent": sent, "dup": len(ids) - len(distinct), "lost": lost}))
"""


def stored(url: str, dataset_id: str, spans: list[tuple[int, int]]) -> dict[str, int]:
    """Rows the dataset's table holds, rows sent (``Id`` spans), duplicates, rows lost."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_CHILD, url, dataset_id, json.dumps(spans)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    counts: dict[str, int] = json.loads(done.stdout)
    return counts


def posts(url: str) -> list[dict[str, Any]]:
    """The POST rows requests of the emulator's log (all of them: the log keeps 2,000)."""
    entries = httpx.get(
        f"{url}/_emulator/requests", params={"kind": "api"}, timeout=60, trust_env=False
    ).json()["value"]
    if entries and entries[0]["seq"] > 10:  # a few token and set-up requests come first
        print(f"warning: the emulator's log starts at request {entries[0]['seq']}: some lost")
    return [e for e in entries if e["method"] == "POST" and e["path"].endswith("/rows")]


def emulated(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


def steady(ok: list[dict[str, Any]], first: float, ideal_h: float) -> str:
    """Rows stored in the whole emulated hours after the first one, as a fraction of the cap.

    The first hour's million goes at once; each later hour may carry a million more. A batch
    that misses its hour (a 429's rows stay charged to the client's window for an hour) moves
    the end of the push a whole hour later, which the span shows and this does not.
    """
    hours = int(ideal_h)
    if hours < 1:
        return "-"
    rows = sum(
        int(e.get("rows") or 0) for e in ok if 1 <= (emulated(e["time"]) - first) / HOUR < hours + 1
    )
    return f"{rows / (hours * ROWS_PER_HOUR):.1%}"


def why_throttled(
    entry: dict[str, Any], entries: list[dict[str, Any]], first: float, scale: float
) -> str:
    """When a 429 came, with the two counts the service judged it by (from the request log).

    A request is logged when it arrives; the service counts its rows when it has stored them,
    ``duration_ms`` (real) later.
    """
    at = emulated(entry["time"])

    def done(other: dict[str, Any]) -> float:
        return emulated(other["time"]) + float(other["duration_ms"]) / 1000 * scale

    stored = sum(
        int(e.get("rows") or 0) for e in entries if e["status"] == 200 and at - HOUR < done(e) <= at
    )
    pending = sum(1 for e in entries if e is not entry and emulated(e["time"]) <= at < done(e))
    return (
        f"429 at hour {(at - first) / HOUR:.3f}: {stored:,} rows stored in the hour before it "
        f"arrived, {pending} other requests in flight"
    )


def run_case(
    plan: list[tuple[str, Path]], env: dict[str, str], conn: Path, out: Path, extra: list[str]
) -> list[Child]:
    """Start one `connectorkit push` per (dataset, file) at once; wait for each (os.wait4)."""
    started = time.perf_counter()
    procs = []
    for number, (dataset_id, path) in enumerate(plan):
        command = [*connectorkit_command(), "push", str(path), f"dataset_id={dataset_id}",
                   "table_name=T", f"group_id={GROUP}", *extra, "--connection", str(conn),
                   "--wait"]  # fmt: skip
        stdout = (out / f"{number}.out").open("wb")
        stderr = (out / f"{number}.err").open("wb")
        with stdout, stderr:
            procs.append(subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr))
    children = []
    for number, proc in enumerate(procs):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        children.append(
            Child(
                code=proc.returncode,
                wall=time.perf_counter() - started,
                cpu=usage.ru_utime + usage.ru_stime,
                peak_mib=usage.ru_maxrss / 1024,
                stdout=(out / f"{number}.out").read_text(encoding="utf-8", errors="replace"),
                stderr=(out / f"{number}.err").read_text(encoding="utf-8", errors="replace"),
            )
        )
    return children


def main() -> None:  # noqa: PLR0915 - one linear report
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--cases", default="1,2,3", help="which cases to run (1, 2, 3)")
    parser.add_argument(
        "--retries", type=int, default=0, help="max_retry_count of each push (default 0)"
    )
    args = parser.parse_args()
    scale = args.time_scale
    extra = [f"max_retry_count={args.retries}"] if args.retries else []
    ideal_h = max(args.rows - ROWS_PER_HOUR, 0) / ROWS_PER_HOUR
    banner(
        f"create_rows at the emulator's real push limits: {args.rows:,} rows into each dataset",
        [
            (
                f"clocks {scale:g}x faster: an hour lasts {HOUR / scale:.1f} s; the cap allows "
                f"the last POST {ideal_h:g} emulated hours after the first "
                f"({ideal_h * HOUR / scale:.1f} s)"
            ),
            (
                f"extra push options: {' '.join(extra) or 'none'}; "
                f"CONNECTORKIT_TIMEOUT_MS={os.environ.get('CONNECTORKIT_TIMEOUT_MS', 'unset')}"
            ),
        ],
    )
    table = []
    timelines = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        half = args.rows // 2
        write_rows(folder / "all.ndjson", 0, args.rows)
        write_rows(folder / "first.ndjson", 0, half)
        write_rows(folder / "second.ndjson", half, args.rows - half)
        span = {"all": (0, args.rows), "first": (0, half), "second": (half, args.rows)}
        cases = {
            "1": ("1 worker, 1 dataset", [("a", "all")]),
            "2": ("2 workers, 1 dataset", [("a", "first"), ("a", "second")]),
            "3": ("2 workers, 2 datasets", [("a", "all"), ("b", "all")]),
        }
        for key in args.cases.split(","):
            case, layout = cases[key.strip()]
            # Tokens live an hour of real time: a lifetime shorter than the client's renewal
            # leeway would make it fetch a token before every request.
            with start_emulator(time_scale=scale, token_lifetime=HOUR * scale) as emu:
                token = app_token(emu)
                conn = folder / "connection.json"
                conn.write_text(json.dumps(connection(emu, token)))
                datasets = {name: create_dataset(emu.base_url, token["access_token"], name)
                            for name, _ in layout}  # fmt: skip
                env = {
                    **os.environ,
                    "CONNECTORKIT_STATE": f"sqlite:///{folder / (key + '.sqlite3')}",
                    "CONNECTORKIT_LIMITS_TIME_SCALE": str(scale),
                    "NO_PROXY": "127.0.0.1",
                }
                plan = [(datasets[name], folder / f"{part}.ndjson") for name, part in layout]
                out = folder / f"case{key}"
                out.mkdir()
                children = run_case(plan, env, conn, out, extra)
                for child in children:
                    if child.code != 0:
                        print(f"{case}: exit {child.code}: {child.stdout[:800]}")
                        print(child.stderr[-1500:])
                log = posts(emu.url)
                for name, dataset_id in datasets.items():
                    kept = stored(emu.url, dataset_id, [span[p] for n, p in layout if n == name])
                    mine = [e for e in log if f"/datasets/{dataset_id}/" in e["path"]]
                    ok = [e for e in mine if e["status"] == 200]
                    throttled = [e for e in mine if e["status"] == 429]
                    first = min(emulated(e["time"]) for e in mine)
                    last = max(emulated(e["time"]) for e in ok)
                    span_h = (last - first) / HOUR
                    wall = max(c.wall for c in children)
                    table.append((
                        f"{case}: {name}",
                        f"{kept['stored']:,}/{kept['sent']:,}",
                        kept["dup"],
                        kept["lost"],
                        len(mine),
                        len(throttled),
                        f"{span_h:.2f}",
                        f"{ideal_h / span_h:.1%}" if span_h and ideal_h else "-",
                        steady(ok, first, ideal_h),
                        f"{wall:.1f}",
                        f"{ideal_h * HOUR / scale / wall:.1%}" if ideal_h else "-",
                        " ".join(f"{c.cpu:.1f}" for c in children),
                        " ".join(f"{c.peak_mib:.0f}" for c in children),
                        ",".join(str(c.code) for c in children),
                    ))  # fmt: skip
                    hours: dict[int, int] = {}
                    for e in ok:
                        hour = int((emulated(e["time"]) - first) // HOUR)
                        hours[hour] = hours.get(hour, 0) + int(e.get("rows") or 0)
                    late = [why_throttled(e, mine, first, scale) for e in throttled]
                    timelines.append((f"{case}: {name}", hours, late))
    print_table(
        ["case: dataset", "stored/sent", "dup", "lost", "POSTs", "429s", "span h",
         "of the cap", "steady", "wall s", "whole", "client CPU s", "client peak MiB", "exits"],
        table,
    )  # fmt: skip
    print()
    print("rows stored in each emulated hour after a dataset's first POST; when the 429s came")
    for name, hours, late in timelines:
        counts = ", ".join(f"h{h}: {n:,}" for h, n in sorted(hours.items()))
        print(f"  {name}: {counts}")
        for line in late:
            print(f"    {line}")
    print()
    print(
        "targets: every row stored once, 0 429s, at least 97 % of the cap "
        "(1,000,000 rows an hour per dataset)"
    )


if __name__ == "__main__":
    sys.exit(main())
