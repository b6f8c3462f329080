"""Client CPU and peak memory of a big ``create_rows`` push, next to the floor set by orjson.

N rows (default 1,000,000) of 8 typed columns go through ``connectorkit invoke`` (one request on
stdin: parse, bind, check every row against its columns, encode, split, send five at a time)
to a local sink that answers 200 to every POST and does no work, so the client is all that is
measured. Beside it, interleaved over ``--rounds`` rounds:

- ``orjson floor``: ``orjson.loads`` of the same request plus ``orjson.dumps`` of its rows, in a
  child interpreter: the least CPU any Python client could spend parsing and re-encoding them;
- ``connectorkit push FILE``: the same rows from an NDJSON file;
- the same request with ``--small`` rows (10,000), where start-up dominates, and its floor;
- once, ``httpx script``: bench/httpx_baseline.py doing the same POSTs (no checks) from the
  same request file, for peak memory.

connectorkit runs from a lean install (``pip install .`` of this checkout into its own virtual
environment; ``--dev`` takes this environment instead). Each figure is printed with its target.
Then ``connectorkit push`` of NDJSON files of growing size (``--file-rows``): its peak memory
must stay flat in the number of rows.

CPU is user + system time of the child process (``os.wait4``), peak memory its max RSS.

    .venv/bin/python bench/bulk_cpu.py [--rows 1000000] [--rounds 3] [--file-rows 100000,1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

import orjson
from _benchlib import banner, connectorkit_command, lean_python, load_note, print_table

HERE = Path(__file__).resolve().parent
COLUMNS = [
    {"name": "Id", "dataType": "Int64"},
    {"name": "Product", "dataType": "String"},
    {"name": "Qty", "dataType": "Int64"},
    {"name": "Price", "dataType": "Double"},
    {"name": "Discount", "dataType": "Decimal"},
    {"name": "SoldAt", "dataType": "DateTime"},
    {"name": "Paid", "dataType": "Boolean"},
    {"name": "Region", "dataType": "String"},
]
DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
REGIONS = ("North", "South", "East", "West")
FLOOR = """
import sys, orjson
data = orjson.loads(open(sys.argv[1], "rb").read())
orjson.dumps(data["inputs"]["rows"])
"""


def make_rows(count: int) -> list[dict[str, object]]:
    """Rows that look like sales: every column set, values varied."""
    return [
        {
            "Id": i,
            "Product": f"Product {i % 977}",
            "Qty": i % 50 + 1,
            "Price": round(1 + (i % 1000) * 0.37, 2),
            "Discount": (i % 7) * 0.05,
            "SoldAt": f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:15:00Z",
            "Paid": i % 3 != 0,
            "Region": REGIONS[i % 4],
        }
        for i in range(count)
    ]


class Sink:
    """An HTTP/1.1 server on loopback that reads each request and answers 200, doing nothing."""

    def __init__(self) -> None:
        self.port = 0
        self.requests = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, limit=2**24)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                self.requests += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()


def run_child(command: list[str], stdin_path: Path | None) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of one child process."""
    started = time.perf_counter()
    with open(stdin_path or os.devnull, "rb") as stdin:  # noqa: PTH123 - plain file handle
        # Each run has its own rate budgets (a memory store): the pack's hourly cap of 1,000,000
        # rows per dataset would otherwise pause a second run against the same dataset id.
        env = {**os.environ, "CONNECTORKIT_STATE": "memory://"}
        proc = subprocess.Popen(
            command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        out = proc.stdout.read() if proc.stdout is not None else b""
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(out.decode()[:2000], file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def generate(path: Path, kind: str, count: int, port: int) -> None:
    """Write a request (``request``) or an NDJSON file of rows (``ndjson``) from a child."""
    subprocess.run(
        [sys.executable, __file__, "--generate", kind, str(path), str(count), str(port)],
        check=True,
    )


def _generate(kind: str, path: Path, count: int, port: int) -> None:
    if kind == "ndjson":
        with path.open("wb") as out:
            for start in range(0, count, 100_000):
                chunk = make_rows(min(100_000, count - start))
                out.write(b"\n".join(orjson.dumps(r) for r in chunk) + b"\n")
        return
    request = {
        "action": "create_rows",
        "inputs": {
            "dataset_id": DATASET,
            "table_name": "Sales",
            "rows": make_rows(count),
            "columns": COLUMNS,
        },
        "connection": {
            "key": "oauth2",
            "values": {
                "client_id": "bench",
                "client_secret": "bench-secret",
                "base_url": f"http://127.0.0.1:{port}/v1.0/myorg",
            },
            "token": {
                "access_token": "bench-token",
                "token_type": "Bearer",
                "expires_at": int(time.time()) + 86_400,
            },
        },
    }
    path.write_bytes(orjson.dumps(request))


# The targets, each printed next to its figure.
CPU_TO_FLOOR = 1.0  # invoke of the big request: client CPU at most the orjson floor's
PEAK_MIB = 360.0  # invoke of the big request: peak memory
PUSH_TO_INVOKE = 1.0  # push FILE (NDJSON) of the same rows: CPU at most invoke's
SMALL_TO_FLOOR = 3.0  # invoke of the small request (start-up dominates): CPU over its floor


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else ""


def _verdict(value: float, target: float, *, at_most: bool = True) -> str:
    met = value <= target if at_most else value >= target
    word = "at most" if at_most else "at least"
    return f"target {word} {target:g}: " + ("MET" if met else f"MISSED by {value / target - 1:.0%}")


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        kind, path, count, port = sys.argv[2:6]
        _generate(kind, Path(path), int(count), int(port))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the big request")
    parser.add_argument("--small", type=int, default=10_000, help="rows of the small request")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians shown")
    parser.add_argument("--file-rows", default="1000000", help="comma-separated NDJSON sizes")
    parser.add_argument(
        "--dev", action="store_true", help="time this environment instead of a lean install"
    )
    args = parser.parse_args()
    python = Path(sys.executable) if args.dev else lean_python()
    command = connectorkit_command(python)
    rounds = max(1, min(args.rounds, 20))
    banner(
        f"create_rows client cost: {args.rows:,} and {args.small:,} rows of {len(COLUMNS)} columns",
        [
            "the sink answers 200 at once: only the client's work is measured",
            (
                f"CPU is user + system time of the child; {rounds} interleaved rounds, median "
                "(min-max) shown"
            ),
            f"connectorkit: {python} ({'this environment' if args.dev else 'lean install'})",
            load_note(),
        ],
    )
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.json", Path(tmp) / "small.json"
        # Made by a child: a parent holding the rows would lend its memory to every child it
        # forks, and their peak memory would be the parent's.
        generate(big, "request", args.rows, sink.port)
        generate(small, "request", args.small, sink.port)
        ndjson = Path(tmp) / "rows.ndjson"
        generate(ndjson, "ndjson", args.rows, sink.port)
        connection = _connection_file(Path(tmp), sink.port)
        variants: dict[str, tuple[list[str], Path | None]] = {
            "orjson floor (loads + dumps)": ([sys.executable, "-c", FLOOR, str(big)], None),
            "connectorkit invoke": ([*command, "invoke"], big),
            "connectorkit push FILE (NDJSON)": (_push(command, ndjson, connection), None),
            "small: orjson floor": ([sys.executable, "-c", FLOOR, str(small)], None),
            "small: connectorkit invoke": ([*command, "invoke"], small),
        }
        samples: dict[str, list[tuple[float, float, float, int]]] = {n: [] for n in variants}
        for _ in range(rounds):  # interleaved, so that drift on the machine hits each alike
            for name, (argv, stdin) in variants.items():
                samples[name].append(run_child(argv, stdin))
        script = run_child([sys.executable, str(HERE / "httpx_baseline.py"), "create_rows"], big)
        size_mib = big.stat().st_size / 2**20
    rows = []
    for name, runs in [*samples.items(), ("hand-written httpx script (once)", [script])]:
        cpu, peak = [r[1] for r in runs], [r[2] for r in runs]
        rows.append(
            (name, f"{_median([r[0] for r in runs]):.2f}", f"{_median(cpu):.2f}", _spread(cpu),
             f"{_median(peak):.0f}", max(r[3] for r in runs))
        )  # fmt: skip
    print(f"big request: {size_mib:.0f} MiB of JSON")
    print_table(["variant", "wall s", "CPU s", "CPU min-max", "peak MiB", "exit"], rows)

    def cpu(name: str) -> float:
        return _median([r[1] for r in samples[name]])

    invoke, floor = cpu("connectorkit invoke"), cpu("orjson floor (loads + dumps)")
    peak = _median([r[2] for r in samples["connectorkit invoke"]])
    push = cpu("connectorkit push FILE (NDJSON)")
    small = cpu("small: connectorkit invoke") / cpu("small: orjson floor")
    print()
    verdicts = [
        (f"invoke, {args.rows:,} rows: CPU x{invoke / floor:.2f} of the orjson floor",
         _verdict(invoke / floor, CPU_TO_FLOOR)),
        (f"invoke, {args.rows:,} rows: peak {peak:.0f} MiB", _verdict(peak, PEAK_MIB)),
        (f"push FILE, {args.rows:,} rows: CPU x{push / invoke:.2f} of invoke's",
         _verdict(push / invoke, PUSH_TO_INVOKE)),
        (f"invoke, {args.small:,} rows: CPU x{small:.2f} of its floor",
         _verdict(small, SMALL_TO_FLOOR)),
    ]  # fmt: skip
    for figure, verdict in verdicts:
        print(f"{figure} -> {verdict}")
    file_sizes = [int(n) for n in args.file_rows.split(",") if n]
    if file_sizes:
        push_from_files(file_sizes, command)


def _connection_file(folder: Path, port: int) -> Path:
    """The connection of the pushes: a token good for a day, the sink as the service."""
    path = folder / "connection.json"
    path.write_bytes(
        orjson.dumps(
            {
                "key": "oauth2",
                "values": {
                    "client_id": "bench",
                    "client_secret": "bench-secret",
                    "base_url": f"http://127.0.0.1:{port}/v1.0/myorg",
                },
                "token": {
                    "access_token": "bench-token",
                    "token_type": "Bearer",
                    "expires_at": int(time.time()) + 86_400,
                },
            }
        )
    )
    return path


def _push(command: list[str], rows: Path, connection: Path) -> list[str]:
    return [
        *command,
        "push",
        str(rows),
        f"dataset_id={DATASET}",
        "table_name=Sales",
        "columns=" + orjson.dumps(COLUMNS).decode(),
        "--connection",
        str(connection),
        "-q",
    ]


def push_from_files(sizes: list[int], command: list[str]) -> None:
    """Peak memory of `connectorkit push FILE` for files of growing size."""
    table = []
    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        connection = _connection_file(Path(tmp), sink.port)
        for size in sizes:
            path = Path(tmp) / f"rows-{size}.ndjson"
            generate(path, "ndjson", size, sink.port)
            wall, cpu, peak, code = run_child(_push(command, path, connection), None)
            megabytes = path.stat().st_size / 2**20
            table.append(
                (f"{size:,}", f"{megabytes:.0f}", f"{wall:.1f}", f"{cpu:.1f}", f"{peak:.0f}", code)
            )
            path.unlink()
    print()
    print("connectorkit push FILE (NDJSON), peak memory by file size:")
    print_table(["rows", "file MiB", "wall s", "CPU s", "peak MiB", "exit"], table)
    print("memory stays flat in the rows: the checked batches wait on disk past 64 MiB")


if __name__ == "__main__":
    main()
