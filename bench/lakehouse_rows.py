"""Rows into a Lakehouse table through the Fabric emulator, next to a push dataset's limits.

N rows (default 1,000,000) of 8 columns (long, string, double, long, boolean, date, timestamp,
string) are written to a CSV file, then loaded with ``connectorkit push FILE --to lakehouse``
into the emulator's seed lakehouse, twice:

- ``new table``: the first load (nothing to check: the rows make the table);
- ``append``: the same file again, every row checked against the table's columns (read from
  its Delta log) before anything is written.

For each: the client's CPU (user + system of the push process, ``os.wait4``), its peak memory
(max RSS), the wall time, and the requests the emulator saw from it (token, API, OneLake),
counted in the emulator's request log. The emulator runs in its own process; its work is not
in the client's figures. Beside them, the same rows pushed to a push dataset at Power BI's real
limits, computed rather than waited out: 1,000,000 rows an hour per dataset and 10,000 rows per
Create Rows request.

    .venv/bin/python bench/lakehouse_rows.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _benchlib import load_note, print_table

ROWS_PER_HOUR = 1_000_000  # a push dataset's rows an hour (Power BI's limit)
ROWS_PER_REQUEST = 10_000  # Create Rows' rows per request
MEMORY_TARGET_MIB = 150
SEED_WORKSPACE = "sales_workspace"
SEED_LAKEHOUSE = "sales_lakehouse"
KINDS = ("identity", "api", "onelake")


def write_rows(path: Path, count: int) -> None:
    """``count`` rows of 8 columns as CSV, with a header."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Id", "Product", "Price", "Qty", "Paid", "Day", "SoldAt", "Note"])
        for number in range(count):
            moment = start + dt.timedelta(seconds=number * 7)
            writer.writerow(
                [
                    number,
                    f"Product {number % 1000}",
                    f"{(number % 5000) / 4:.2f}",
                    number % 17,
                    "true" if number % 3 else "false",
                    moment.date().isoformat(),
                    moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "" if number % 10 else f"note {number}",
                ]
            )


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [sys.executable, "-m", "connectorkit", "emulator", "fabric", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--operation-seconds", "1", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if process.stdout is None:  # pragma: no cover - stdout=PIPE
        raise SystemExit("the emulator has no stdout")
    return process, json.loads(process.stdout.readline())


def measured(command: list[str]) -> tuple[bytes, bytes, float, float, float]:
    """Run ``command``: stdout, stderr, wall seconds, CPU seconds, peak RSS in MiB."""
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out_file, stderr=err_file)
        _, _, usage = os.wait4(process.pid, 0)  # this child's own CPU and peak memory
        wall = time.perf_counter() - started
        process.returncode = 0
        out_file.seek(0)
        err_file.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return out_file.read(), err_file.read(), wall, cpu, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from fabric_emulator import SEED_IDS  # noqa: PLC0415

    print(f"{args.rows:,} rows of 8 columns into a Lakehouse table; {load_note()}")
    with tempfile.TemporaryDirectory(prefix="bench-lakehouse-") as scratch:
        folder = Path(scratch)
        rows_file = folder / "rows.csv"
        write_rows(rows_file, args.rows)
        size = rows_file.stat().st_size
        emulator, urls = start_emulator()
        try:
            connection = {
                "key": "client_credentials",
                "values": {
                    "tenant_id": urls["tenant"],
                    "client_id": "connectorkit-demo",
                    "client_secret": "demo-secret",
                    "token_url": urls["token_url"],
                    "base_url": urls["base_url"],
                    "onelake_url": urls["onelake_url"],
                },
            }
            (folder / "fabric.json").write_text(json.dumps(connection))
            table = []
            for label in ("new table", "append (rows checked)"):
                before = max((e["seq"] for e in requests_seen(urls)), default=0)
                command = [
                    sys.executable, "-m", "connectorkit", "push", str(rows_file),
                    "--to", "lakehouse", f"workspace_id={SEED_IDS[SEED_WORKSPACE]}",
                    f"lakehouse_id={SEED_IDS[SEED_LAKEHOUSE]}", "table_name=bench",
                    "--connection", str(folder / "fabric.json"),
                    "--state", f"sqlite:///{folder / 'state.sqlite3'}", "--json", "--quiet",
                ]  # fmt: skip
                out, err, wall, cpu, peak = measured(command)
                response = json.loads(out)
                if not response.get("ok"):
                    raise SystemExit(f"{label}: the push failed: {response} {err.decode()}")
                seen = [e for e in requests_seen(urls) if e["seq"] > before]
                kinds = {
                    k: sum(e["kind"] == k for e in seen) for k in ("identity", "api", "onelake")
                }
                table.append(
                    [
                        label,
                        f"{wall:.1f} s",
                        f"{cpu:.2f} s",
                        f"{peak:.0f} MiB ({'MET' if peak <= MEMORY_TARGET_MIB else 'MISSED'})",
                        (
                            f"{len(seen)} ({kinds['identity']} token, {kinds['api']} API, "
                            f"{kinds['onelake']} OneLake)"
                        ),
                    ]
                )
            stored = httpx.get(
                f"{urls['url']}/_emulator/lakehouses/{SEED_IDS[SEED_LAKEHOUSE]}/tables/bench/rows",
                params={"top": 1},
            ).json()["rows"]
        finally:
            emulator.terminate()
            emulator.wait(15)
    hours = args.rows / ROWS_PER_HOUR
    requests = -(-args.rows // ROWS_PER_REQUEST)
    table.append(
        [
            "push dataset at its limits (computed)",
            f"{hours * 3600:,.0f} s",
            "-",
            "-",
            f"{requests} Create Rows requests",
        ]
    )
    print(f"CSV file: {size / 1e6:,.1f} MB; rows in the table afterwards: {stored:,}")
    print_table(["load", "time", "client CPU", "peak memory", "requests"], table)


def requests_seen(urls: dict[str, Any]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{urls['url']}/_emulator/requests")
    answer.raise_for_status()
    return list(answer.json()["value"])


if __name__ == "__main__":
    main()
