"""Bulk ``create_rows`` throughput of ``connectorkit invoke``, next to a hand-written httpx script.

One emulator (a child process), one service principal token. Per round, each variant gets a
fresh push dataset (5 columns: String, Int64, Double, DateTime, Boolean) in a workspace and
pushes the same N rows (default 100,000) through it; the emulator must then hold N rows:

- ``connectorkit invoke``: one create_rows request on stdin; the runtime splits it into POSTs
  of 10,000 rows (the pack's batch size, Power BI's per-request maximum).
- ``httpx script``: bench/httpx_baseline.py reading the same request, doing the same POSTs.
- in-process (no interpreter start-up): ``respond()`` with a loaded pack and a warm Runner, vs
  ``json.loads`` of the same request text and the same POSTs from a warm ``httpx.Client``.

Power BI's push limits would throttle a benchmark long before the client does, so by default
the emulator's per-minute and per-hour windows are raised (``--real-limits`` keeps them; add
``--time-scale`` to make their windows pass faster). The 10,000 rows per POST stays.

    .venv/bin/python bench/bulk_rows.py [--rows 100000] [--rounds 5] [--latency MS] [--profile]
"""

from __future__ import annotations

import argparse
import json
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from _benchlib import (
    REPO,
    Emulator,
    app_token,
    banner,
    connection,
    connectorkit_command,
    print_table,
    profile_summary,
)
from _benchlib import emulator as start_emulator

HERE = Path(__file__).resolve().parent
ROWS_PER_POST = 10_000
RUN_TIMEOUT_S = 300.0
TABLE = "Sales"
COLUMNS = [
    {"name": "Product", "dataType": "String"},
    {"name": "Qty", "dataType": "Int64"},
    {"name": "Price", "dataType": "Double"},
    {"name": "SoldAt", "dataType": "DateTime"},
    {"name": "Paid", "dataType": "Boolean"},
]
# Power BI's documented push dataset limits, per dataset.
PBI_POSTS_PER_MINUTE = 120
PBI_ROWS_PER_HOUR = 1_000_000
RAISED_LIMITS = {
    "posts_per_minute": 1_000_000,
    "rows_per_hour": 1_000_000_000,
    "large_table_posts_per_hour": 1_000_000,
    "max_rows_per_table": 100_000_000,
}


@dataclass
class Variant:
    """One way of pushing the rows, and what each round measured."""

    name: str
    walls: list[float] = field(default_factory=list)  # seconds
    inner_ms: list[float] = field(default_factory=list)  # the runtime's meta.duration_ms
    failures: int = 0
    last_error: str = ""

    def rows_per_s(self, rows: int) -> float:
        """Rows per second of the median round."""
        return rows / statistics.median(self.walls)


class Service:
    """The emulator seen through plain httpx: datasets to push into, and what they hold."""

    def __init__(self, emu: Emulator, token: dict[str, Any]) -> None:
        self.emu = emu
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=RUN_TIMEOUT_S,
            trust_env=False,
        )
        groups = self._json("GET", f"{emu.base_url}/groups")["value"]
        self.group_id: str = groups[0]["id"]
        self.root = f"{emu.base_url}/groups/{self.group_id}"

    def _json(self, method: str, url: str, body: Any = None) -> Any:
        response = self.http.request(method, url, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def new_dataset(self, name: str) -> str:
        """A new push dataset with the bench table; its id."""
        body = {
            "name": name,
            "defaultMode": "Push",
            "tables": [{"name": TABLE, "columns": COLUMNS}],
        }
        return str(self._json("POST", f"{self.root}/datasets", body)["id"])

    def stored_rows(self, dataset_id: str) -> int:
        """How many rows the emulator holds in the dataset's table."""
        state = self._json("GET", f"{self.emu.url}/_emulator/state")
        for dataset in state["datasets"]:
            if dataset["id"] == dataset_id:
                return sum(int(t["rows"]) for t in dataset["tables"])
        return -1

    def drop(self, dataset_id: str) -> None:
        """Delete the dataset (frees the emulator's memory) and empty its request log."""
        self.http.delete(f"{self.root}/datasets/{dataset_id}")
        self.http.delete(f"{self.emu.url}/_emulator/requests")

    def close(self) -> None:
        """Close the client."""
        self.http.close()


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "Product": f"Product {i % 500:03d}",
            "Qty": i % 97,
            "Price": round((i % 1000) * 0.25 + 0.99, 2),
            "SoldAt": f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "Paid": i % 3 != 0,
        }
        for i in range(count)
    ]


def _request_text(
    emu: Emulator, token: dict[str, Any], group_id: str, dataset_id: str, rows: list[Any]
) -> str:
    inputs = {"group_id": group_id, "dataset_id": dataset_id, "table_name": TABLE, "rows": rows}
    request = {
        "id": "bulk",
        "action": "create_rows",
        "inputs": inputs,
        "connection": connection(emu, token),
    }
    return json.dumps(request, separators=(",", ":"))


def _subprocess(argv: list[str], text: str) -> tuple[float, dict[str, Any], str]:
    started = time.perf_counter()
    done = subprocess.run(
        argv, input=text.encode(), capture_output=True, timeout=RUN_TIMEOUT_S, cwd=REPO,
        check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    out = done.stdout.decode(errors="replace")
    try:
        answer = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {}
    return (
        wall,
        answer,
        f"exit {done.returncode}: {(out + done.stderr.decode(errors='replace'))[-400:]}",
    )


class InProcess:
    """Warm, in-process versions of both: no interpreter start-up, no pipe."""

    def __init__(self) -> None:
        from connectorkit.call._run import Runner  # noqa: PLC0415
        from connectorkit.pack._load import load_pack  # noqa: PLC0415

        self.pack = load_pack()
        self.runner = Runner()
        self.client = httpx.Client(timeout=RUN_TIMEOUT_S)

    def runtime(self, text: str) -> tuple[float, dict[str, Any]]:
        """The runtime's whole pipeline for one request text, encoding the response included."""
        from connectorkit.protocol._protocol import respond  # noqa: PLC0415

        started = time.perf_counter()
        answer, _ = respond(self.pack, self.runner, text)
        json.dumps(answer)
        return time.perf_counter() - started, answer

    def httpx(self, text: str) -> tuple[float, dict[str, Any]]:
        """The hand-written loop, from the same request text."""
        started = time.perf_counter()
        request = json.loads(text)
        inputs, values = request["inputs"], request["connection"]["values"]
        headers = {"Authorization": f"Bearer {request['connection']['token']['access_token']}"}
        url = (
            f"{values['base_url']}/groups/{inputs['group_id']}/datasets/{inputs['dataset_id']}"
            f"/tables/{quote(inputs['table_name'], safe='')}/rows"
        )
        rows = inputs["rows"]
        for start in range(0, len(rows), ROWS_PER_POST):
            chunk = rows[start : start + ROWS_PER_POST]
            self.client.post(url, json={"rows": chunk}, headers=headers).raise_for_status()
        return time.perf_counter() - started, {"ok": True, "result": {"rows": len(rows)}}

    def close(self) -> None:
        """Close both clients."""
        self.runner.close()
        self.client.close()


def _round(
    service: Service,
    *,
    token: dict[str, Any],
    rows: list[Any],
    variants: dict[str, Variant],
    warm: InProcess | None,
    number: int,
) -> None:
    invoke = [*connectorkit_command(), "invoke", "--quiet"]
    script = [sys.executable, str(HERE / "httpx_baseline.py"), "create_rows"]
    order = list(variants)
    if number % 2:
        order.reverse()  # alternate, so that drift and warm caches favour neither
    for name in order:
        variant = variants[name]
        dataset_id = service.new_dataset(f"bench {name} {number}")
        text = _request_text(service.emu, token, service.group_id, dataset_id, rows)
        try:
            if name == "connectorkit invoke":
                wall, answer, error = _subprocess(invoke, text)
            elif name == "httpx script":
                wall, answer, error = _subprocess(script, text)
            elif warm is not None and name.startswith("in-process connectorkit"):
                (wall, answer), error = warm.runtime(text), ""
            elif warm is not None:
                (wall, answer), error = warm.httpx(text), ""
            else:
                continue
            stored = service.stored_rows(dataset_id)
            good = answer.get("ok") and answer.get("result", {}).get("rows") == len(rows)
            if not good or stored != len(rows):
                variant.failures += 1
                variant.last_error = error or json.dumps(answer)[:400]
                variant.last_error += f" (emulator holds {stored} rows)"
            variant.walls.append(wall)
            if "duration_ms" in answer.get("meta", {}):
                variant.inner_ms.append(float(answer["meta"]["duration_ms"]))
        finally:
            service.drop(dataset_id)


def _report(variants: dict[str, Variant], count: int, latency: float) -> None:
    base = variants["httpx script"]
    base_warm = variants.get("in-process httpx.Client")
    rows: list[list[object]] = []
    for variant in variants.values():
        if not variant.walls:
            continue
        wall_ms = statistics.median(variant.walls) * 1000
        ref = base if not variant.name.startswith("in-process") else base_warm or base
        ref_ms = statistics.median(ref.walls) * 1000
        inner = statistics.median(variant.inner_ms) if variant.inner_ms else float("nan")
        rows.append(
            [variant.name, wall_ms, min(variant.walls) * 1000, variant.rows_per_s(count),
             wall_ms - ref_ms, wall_ms / ref_ms, inner, variant.failures]
        )  # fmt: skip
    print_table(
        [
            "variant",
            "median ms",
            "best ms",
            "rows/s",
            "vs httpx ms",
            "x httpx",
            "meta ms",
            "failed",
        ],
        rows,
    )
    print("('vs httpx' compares each variant with the httpx variant of the same kind; 'meta ms'")
    print(" is the runtime's own meta.duration_ms: the HTTP part of the call, after bind)")
    for variant in variants.values():
        if variant.failures:
            print(f"  ! {variant.name}: {variant.failures} failed round(s)")
            print(f"    last: {variant.last_error}")
    print()
    ours = variants["connectorkit invoke"].rows_per_s(count)
    theirs = base.rows_per_s(count)
    burst = PBI_POSTS_PER_MINUTE * ROWS_PER_POST / 60
    sustained = PBI_ROWS_PER_HOUR / 3600
    print("next to Power BI's own ceiling per push dataset:")
    print_table(
        ["ceiling", "rows/s", "connectorkit invoke is", "httpx script is"],
        [
            [f"Power BI burst: {PBI_POSTS_PER_MINUTE} POSTs/min x {ROWS_PER_POST:,} rows", burst,
             f"x{ours / burst:.1f}", f"x{theirs / burst:.1f}"],
            [f"Power BI sustained: {PBI_ROWS_PER_HOUR:,} rows/hour", sustained,
             f"x{ours / sustained:.0f}", f"x{theirs / sustained:.0f}"],
        ],
    )  # fmt: skip
    seconds = PBI_ROWS_PER_HOUR / burst
    print(
        f"(at the burst rate the hourly budget is spent after {seconds:.0f} s: Power BI, not the "
        f"client, sets the pace of any bulk load above {PBI_ROWS_PER_HOUR:,} rows)"
    )
    if latency:
        posts = -(-count // ROWS_PER_POST)
        print(
            f"(with --latency {latency:g}: {posts} sequential POSTs spend at least "
            f"{posts * latency:,.0f} ms waiting on the emulator)"
        )
    print()


def _profile(service: Service, token: dict[str, Any], rows: list[Any], top: int) -> None:
    """Where one in-process create_rows request spends its time, step by step and by profile."""
    import cProfile  # noqa: PLC0415

    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415
    from connectorkit.protocol import _protocol  # noqa: PLC0415

    pack = load_pack()
    runner = Runner()
    try:
        dataset_id = service.new_dataset("bench warm-up")
        text = _request_text(service.emu, token, service.group_id, dataset_id, rows[:100])
        _protocol.respond(pack, runner, text)  # builds the models, opens the connection
        service.drop(dataset_id)
        _steps(service, token, rows, pack, runner)
        dataset_id = service.new_dataset("bench profile")
        text = _request_text(service.emu, token, service.group_id, dataset_id, rows)
        profiler = cProfile.Profile()
        profiler.enable()
        _protocol.respond(pack, runner, text)
        profiler.disable()
        service.drop(dataset_id)
    finally:
        runner.close()
    print(f"-- cProfile of one in-process create_rows of {len(rows):,} rows (ms per call) --")
    profile_summary(pstats.Stats(profiler), per=1, top=top)


def _steps(
    service: Service, token: dict[str, Any], rows: list[Any], pack: Any, runner: Any
) -> None:
    """The request's steps timed one by one (no profiler), plus what bind and encoding cost."""
    from connectorkit import _bind  # noqa: PLC0415
    from connectorkit.protocol import _protocol  # noqa: PLC0415

    dataset_id = service.new_dataset("bench steps")
    text = _request_text(service.emu, token, service.group_id, dataset_id, rows)
    steps: list[tuple[str, float]] = []
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps.append((name, (now - mark) * 1000))
        mark = now

    request = _protocol.take_request(text).request
    lap(f"take_request: the request decoded into the contract ({len(text) / 1e6:.1f} MB)")
    action = _bind.bind_action(pack, request.action, request.inputs)
    lap(f"bind_action: validation of {len(rows):,} rows")
    bound = _bind.bind_connection(pack, request.connection.as_dict())
    lap("bind_connection")
    outcome = runner.run(action, bound)
    lap(f"runner.run: {outcome.meta.get('requests')} POSTs (JSON encode + HTTP + emulator)")
    service.drop(dataset_id)
    total = sum(ms for _, ms in steps)
    print(f"-- one in-process create_rows of {len(rows):,} rows, step by step --")
    print_table(["step", "ms", "%"], [[name, ms, 100 * ms / total] for name, ms in steps])
    print()
    posts = -(-len(rows) // ROWS_PER_POST)
    chunk = {"rows": rows[:ROWS_PER_POST]}
    spaced = json.dumps(chunk, ensure_ascii=False, allow_nan=False)
    compact = json.dumps(chunk, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    details = [
        [f"encode {posts} bodies as the runtime does (default separators)",
         _ms(lambda: json.dumps(chunk, ensure_ascii=False, allow_nan=False), posts)],
        [(f"one body: {len(spaced.encode()):,} bytes; compact separators: "
         f"{len(compact.encode()):,} bytes"), float("nan")],
    ]  # fmt: skip
    try:
        from connectorkit.types._compile import compile_spec, spec_of  # noqa: PLC0415

        definition = action.definition.input("rows")
        assert definition is not None  # noqa: S101
        check = compile_spec(spec_of(definition)).check
        details += [
            ["bind: the compiled rows validator alone", _ms(lambda: check(rows), 1)],
            ["a type check of every row instead", _ms(lambda: _all_dicts(rows), 1)],
        ]
    except (AttributeError, TypeError) as exc:  # the runtime has moved on
        details.append([f"(bind split unavailable: {exc})", float("nan")])
    print_table(["inside those steps (best of 3)", "ms"], details)
    print()


def _all_dicts(rows: list[Any]) -> bool:
    return all(type(row) is dict for row in rows)


def _ms(work: Any, times: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(times):
            work()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per push (default 100000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant; median shown")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS", help="emulator latency")
    parser.add_argument(
        "--real-limits", action="store_true",
        help="keep Power BI's per-minute and per-hour push limits in the emulator",
    )  # fmt: skip
    parser.add_argument(
        "--time-scale", type=float, default=1.0, metavar="F",
        help="run the emulator's clock F times faster (rate windows pass F times sooner)",
    )  # fmt: skip
    parser.add_argument("--no-in-process", action="store_true", help="skip the warm variants")
    parser.add_argument("--profile", action="store_true", help="add steps + cProfile of one push")
    parser.add_argument("--top", type=int, default=20, help="rows of the profile")
    args = parser.parse_args(argv)
    count = max(1, min(args.rows, 5_000_000))
    rounds = max(1, min(args.rounds, 20))
    limits = None if args.real_limits else RAISED_LIMITS

    with start_emulator(latency_ms=args.latency, time_scale=args.time_scale, limits=limits) as emu:
        token = app_token(emu)
        service = Service(emu, token)
        limit_note = (
            "Power BI's real limits (120 POSTs/min, 1M rows/hour per dataset)"
            if args.real_limits
            else "raised rate limits (POSTs/min, rows/hour, large-table POSTs/hour, rows/table: "
            + ", ".join(f"{k}={v:,}" for k, v in RAISED_LIMITS.items())
            + ") so that they do not dominate; 10,000 rows per POST as in Power BI"
        )
        banner(
            f"bulk create_rows: {count:,} rows in one request vs a hand-written httpx script",
            [
                (
                    f"emulator {emu.describe()}, latency {args.latency:g} ms, time scale "
                    f"{args.time_scale:g}, {limit_note}"
                ),
                (
                    f"{rounds} round(s) per variant, each into a fresh push dataset (5 columns); "
                    "subprocess times are spawn to exit, start-up included"
                ),
            ],
        )
        rows = _rows(count)
        names = ["connectorkit invoke", "httpx script"]
        warm = None if args.no_in_process else InProcess()
        if warm is not None:
            names += ["in-process connectorkit respond()", "in-process httpx.Client"]
        variants = {name: Variant(name) for name in names}
        try:
            for number in range(rounds):
                _round(service, token=token, rows=rows, variants=variants, warm=warm, number=number)
        finally:
            if warm is not None:
                warm.close()
        _report(variants, count, args.latency)
        if args.profile:
            _profile(service, token, rows, args.top)
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
