"""Per-request cost of ``connectorkit serve``, next to a plain ``httpx.Client`` loop.

One emulator (a child process by default), one service principal token obtained once. For each
concurrency C (default 1 and 4):

- ``serve --concurrency C``: one worker subprocess; after a warm-up, M list_groups requests as
  lines on its stdin. With C = 1 also closed loop (send a line, wait for its answer: the pure
  latency of one request). Pipelined: a writer thread sends all M lines as fast as the pipe
  takes them, and each answer is timestamped as it arrives (latency includes queueing).
- the baseline: the same M GETs with the same token from one ``httpx.Client`` in this process,
  in a loop (C = 1) or from C threads sharing the client, each response parsed as JSON.

The per-request overhead is the difference of the per-request times (wall time / M). CPU time
per request is taken too: the serve worker's (from /proc) and the baseline's (this process's).

With no options it runs the issue's targets on a lean install (``pip install .`` of this
checkout into its own virtual environment; ``--dev`` uses this environment instead), and prints
each next to its target:

- C = 1 against the emulator with no latency: closed loop and pipelined, vs an httpx.Client
  loop (target: serve closed loop at most x1.10 of the loop's time per request);
- C = 16 against 20 ms of latency: the share of the latency bound (16 requests per 20 ms,
  800 requests/s) serve reaches, next to 16 threads on one httpx.Client (target: at least 95 %);
- ``--stub``: the runtime's own CPU per request, ``respond()`` against a stub transport next to
  an httpx.Client GET on it (target: at most +30 us).

    .venv/bin/python bench/serve_overhead.py                     # the three targets
    .venv/bin/python bench/serve_overhead.py -m 500 --concurrency 1 4 --rounds 5 --latency MS
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from _benchlib import (
    REPO,
    Emulator,
    Stats,
    app_token,
    banner,
    before_env,
    connection,
    connectorkit_command,
    lean_python,
    load_note,
    print_table,
    profile_summary,
    stop_process,
)
from _benchlib import emulator as start_emulator

WARMUP = 20
READ_TIMEOUT_S = 60.0
WORKER_DEADLINE_S = 300.0  # a worker still running after this is killed (its reads then end)
CLOSED_LOOP_TARGET = 1.10  # serve C=1 closed loop, ms/request, at most this many times httpx's
BOUND_SHARE_TARGET = 0.95  # serve C=16 against 20 ms: at least this share of the latency bound
STUB_TARGET_US = 30.0  # the runtime's own CPU per request, over an httpx.Client GET
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One measured pass: its wall time and per-request latencies."""

    name: str
    concurrency: int
    requests: int
    walls: list[float] = field(default_factory=list)  # seconds, one per round
    latencies_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # CPU microseconds per request, per round
    failures: int = 0

    @property
    def wall(self) -> float:
        """The median round's wall time (s)."""
        return statistics.median(self.walls)

    @property
    def per_request_ms(self) -> float:
        """Wall time per request of the median round (ms)."""
        return self.wall * 1000 / self.requests

    @property
    def throughput(self) -> float:
        """Requests per second of the median round."""
        return self.requests / self.wall


def _line(emu: Emulator, token: dict[str, Any], number: int) -> bytes:
    request = {
        "id": number,
        "action": "list_groups",
        "inputs": {},
        "connection": connection(emu, token),
    }
    return (json.dumps(request) + "\n").encode()


class Worker:
    """A ``connectorkit serve`` subprocess with helpers to talk to it line by line."""

    def __init__(
        self, concurrency: int, before: Path | None = None, python: Path | None = None
    ) -> None:
        # ``before``: another checkout, whose runtime/ and pack run instead of the installed one.
        command = (
            connectorkit_command(python)
            if before is None
            else [sys.executable, "-m", "connectorkit"]
        )
        env = None
        if before is not None:
            env = before_env(before)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*command, "serve", "--quiet", "--concurrency", str(concurrency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
            env=env,
        )
        assert self.proc.stdin is not None  # noqa: S101
        assert self.proc.stdout is not None  # noqa: S101
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        self._watchdog = threading.Timer(WORKER_DEADLINE_S, self.proc.kill)
        self._watchdog.daemon = True
        self._watchdog.start()

    def ask(self, line: bytes) -> dict[str, Any]:
        """Send one line, wait for its answer (an empty dict if the worker is gone)."""
        try:
            self.stdin.write(line)
            self.stdin.flush()
        except OSError:
            return {}
        return self.answer()

    def answer(self) -> dict[str, Any]:
        """The next answer line, decoded (an empty dict at EOF)."""
        text = self.stdout.readline()
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return {"not_json": text[:200].decode(errors="replace")}

    def cpu_s(self) -> float:
        """The worker's CPU time so far (user + system, all its threads), from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    def close(self) -> None:
        """EOF on stdin; the worker drains and exits (killed if it hangs)."""
        self._watchdog.cancel()
        stop_process(self.proc)


def _ok(answer: dict[str, Any], number: int) -> bool:
    return bool(answer.get("ok")) and answer.get("id") == number


def _serve_closed_loop(worker: Worker, lines: list[bytes], run: Run) -> None:
    cpu = worker.cpu_s()
    started = time.perf_counter()
    for number, line in enumerate(lines):
        sent = time.perf_counter()
        answer = worker.ask(line)
        run.latencies_ms.append((time.perf_counter() - sent) * 1000)
        run.failures += not _ok(answer, number)
        if not answer:
            break
    run.walls.append(time.perf_counter() - started)
    run.cpu_us.append((worker.cpu_s() - cpu) * 1e6 / len(lines))


def _serve_pipelined(worker: Worker, lines: list[bytes], run: Run) -> None:
    sent_at = [0.0] * len(lines)

    def write() -> None:
        try:
            for number, line in enumerate(lines):
                sent_at[number] = time.perf_counter()
                worker.stdin.write(line)
                worker.stdin.flush()
        except OSError:  # the worker died; the reader sees EOF
            return

    cpu = worker.cpu_s()
    started = time.perf_counter()
    writer = threading.Thread(target=write, name="bench-writer", daemon=True)
    writer.start()
    for number in range(len(lines)):
        answer = worker.answer()
        run.latencies_ms.append((time.perf_counter() - sent_at[number]) * 1000)
        run.failures += not _ok(answer, number)
        if not answer:
            break
    run.walls.append(time.perf_counter() - started)
    run.cpu_us.append((worker.cpu_s() - cpu) * 1e6 / len(lines))
    writer.join(READ_TIMEOUT_S)


def _httpx_pass(
    client: httpx.Client, url: str, headers: dict[str, str], *, concurrency: int, run: Run
) -> None:
    count = run.requests

    def one(_: int) -> float:
        sent = time.perf_counter()
        response = client.get(url, headers=headers)
        body = response.json()
        elapsed = (time.perf_counter() - sent) * 1000
        if response.status_code != 200 or "value" not in body:
            run.failures += 1
        return elapsed

    cpu = time.process_time()  # this process does nothing else meanwhile
    started = time.perf_counter()
    if concurrency == 1:
        samples = [one(i) for i in range(count)]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            samples = list(pool.map(one, range(count)))
    run.walls.append(time.perf_counter() - started)
    run.cpu_us.append((time.process_time() - cpu) * 1e6 / count)
    run.latencies_ms += samples


def _measure(  # noqa: C901, PLR0917 - one loop over every pass, knobs from main
    emu: Emulator,
    token: dict[str, Any],
    count: int,
    levels: list[int],
    rounds: int,
    before: Path | None = None,
    python: Path | None = None,
) -> tuple[list[Run], dict[int, float]]:
    runs: list[Run] = []
    startup: dict[int, float] = {}
    warm = [_line(emu, token, -1 - i) for i in range(WARMUP)]
    lines = [_line(emu, token, i) for i in range(count)]
    url = f"{emu.base_url}/groups"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for level in levels:
        closed = Run("serve, closed loop", level, count)
        piped = Run("serve, pipelined", level, count)
        base = Run("httpx.Client" + (" loop" if level == 1 else f" x{level} threads"), level, count)
        worker = Worker(level, python=python)
        old = Worker(level, before) if before is not None else None
        old_closed = Run("before: serve, closed loop", level, count)
        old_piped = Run("before: serve, pipelined", level, count)
        try:
            for number, line in enumerate(warm):
                answer = worker.ask(line)
                if number == 0:
                    startup[level] = (time.perf_counter() - worker.started) * 1000
                if not _ok(answer, -1 - number):
                    raise RuntimeError(f"serve answered {answer}")
                if old is not None and not _ok(old.ask(line), -1 - number):
                    raise RuntimeError("the --before serve did not answer")
            with httpx.Client(timeout=30.0) as client:
                for _ in range(WARMUP):
                    client.get(url, headers=headers).json()
                for _ in range(rounds):  # alternate, so that drift hits each alike
                    if level == 1:
                        _serve_closed_loop(worker, lines, closed)
                    _serve_pipelined(worker, lines, piped)
                    if old is not None:
                        if level == 1:
                            _serve_closed_loop(old, lines, old_closed)
                        _serve_pipelined(old, lines, old_piped)
                    _httpx_pass(client, url, headers, concurrency=level, run=base)
        finally:
            worker.close()
            if old is not None:
                old.close()
        runs += [r for r in (closed, piped, old_closed, old_piped, base) if r.walls]
    return runs, startup


def _report(runs: list[Run], startup: dict[int, float]) -> None:
    rows: list[list[object]] = []
    for run in runs:
        lat = Stats.of(run.latencies_ms)
        spread = (
            f"{min(run.walls) * 1000 / run.requests:.3f}-{max(run.walls) * 1000 / run.requests:.3f}"
        )
        rows.append(
            [run.name, run.concurrency, run.requests, run.per_request_ms, spread,
             run.throughput, lat.median, lat.p90, lat.p99, statistics.median(run.cpu_us),
             run.failures]
        )  # fmt: skip
    print_table(
        ["pass", "C", "M", "ms/req", "min-max", "req/s", "lat p50", "lat p90", "lat p99",
         "CPU us/req", "failed"],
        rows,
    )  # fmt: skip
    print()
    for level, ms in startup.items():
        print(f"serve --concurrency {level}: first answer {ms:.1f} ms after spawn (cold start)")
    print()
    print("per-request overhead of serve (median round, vs httpx.Client at the same concurrency):")
    for level in sorted({r.concurrency for r in runs}):
        base = next(r for r in runs if r.concurrency == level and r.name.startswith("httpx"))
        for run in runs:
            if run.concurrency != level or run.name.startswith("httpx"):
                continue
            extra = run.per_request_ms - base.per_request_ms
            ratio = run.per_request_ms / base.per_request_ms
            cpu, base_cpu = statistics.median(run.cpu_us), statistics.median(base.cpu_us)
            print(
                f"  C={level} {run.name}: {run.per_request_ms:.3f} ms/req vs "
                f"{base.per_request_ms:.3f} ms/req -> +{extra:.3f} ms/req "
                f"(x{ratio:.2f}; {run.throughput:,.0f} vs {base.throughput:,.0f} req/s); "
                f"CPU {cpu:.0f} vs {base_cpu:.0f} us/req (x{cpu / base_cpu:.2f})"
            )
            if level == 1 and run.name == "serve, closed loop":
                met = (
                    "MET"
                    if ratio <= CLOSED_LOOP_TARGET
                    else f"MISSED by {ratio / CLOSED_LOOP_TARGET - 1:.0%}"
                )
                print(f"    -> target: closed loop at most x{CLOSED_LOOP_TARGET:.2f}: {met}")
            if run.name.endswith("closed loop"):
                lat, base_lat = Stats.of(run.latencies_ms), Stats.of(base.latencies_ms)
                print(
                    f"  C={level} latency p50 {lat.median:.3f} vs {base_lat.median:.3f} ms -> "
                    f"+{lat.median - base_lat.median:.3f} ms per request"
                )
    print()


def _profile(emu: Emulator, token: dict[str, Any], count: int, top: int) -> None:
    """cProfile of the per-request pipeline (respond()) in this thread, warm pack and runner."""
    import cProfile  # noqa: PLC0415

    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415
    from connectorkit.protocol._protocol import respond  # noqa: PLC0415

    pack = load_pack()
    runner = Runner()
    lines = [_line(emu, token, i).decode() for i in range(count)]
    try:
        for line in lines[:WARMUP]:
            respond(pack, runner, line)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for line in lines:
            respond(pack, runner, line)
        profiler.disable()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        runner.close()
    print(
        f"-- cProfile of {count} x respond() in one thread (what serve does per line, without "
        f"its threads and pipes): {elapsed / count:.3f} ms/req under the profiler; "
        "times per request --"
    )
    profile_summary(pstats.Stats(profiler), per=count, top=top)


# Runs in a child interpreter (this tree's runtime, or --before's): serve's per-line work,
# respond(), against a stub transport, next to an httpx.Client GET on the same stub; prints the
# best round of each in µs per request as one JSON line. No network and no second process: the
# runtime's own CPU cost per request, which a loaded machine blurs much less than wall time.
_STUB_CHILD = """
import json, sys, time
import httpx
from connectorkit.http import _client as _http
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond
from connectorkit.call._run import Runner
rounds, count = int(sys.argv[1]), int(sys.argv[2])
body = json.dumps({"value": [{"id": "c0ffee00-5a1e-4a1a-8a1b-00000000000%d" % i,
    "isReadOnly": False, "name": "Workspace %d" % i} for i in range(3)]}).encode()
def answer(request):
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
client = _http.new_client()
client._transport = _http._RequestTransport(httpx.MockTransport(answer))
plain = httpx.Client(transport=httpx.MockTransport(answer))
pack, runner = load_pack(), Runner(http=client)
token = "eyJ" + "x" * 1200
base = "http://127.0.0.1:9/v1.0/myorg"
connection = {"key": "client_credentials", "values": {"tenant_id": "t", "client_id": "c",
    "client_secret": "s3cret", "token_url": "http://127.0.0.1:9/t/token", "base_url": base},
    "token": {"access_token": token, "expires_at": int(time.time()) + 3600}}
line = json.dumps({"id": 1, "action": "list_groups", "inputs": {}, "connection": connection})
assert respond(pack, runner, line.encode())[0]["ok"]
headers = {"Authorization": "Bearer " + token}
line = line.encode()
jobs = {"respond": lambda: respond(pack, runner, line),
        "httpx": lambda: plain.get(base + "/groups", headers=headers).json()}
best = {k: [] for k in jobs}
for _ in range(rounds):  # alternate, so that drift hits both alike; CPU time of this thread
    for name, job in jobs.items():
        started = time.thread_time()
        for _ in range(count):
            job()
        best[name].append(time.thread_time() - started)
print(json.dumps({k: min(v) / count * 1e6 for k, v in best.items()}))
"""


def _stub(rounds: int, count: int, before: Path | None, python: Path) -> None:
    """respond() vs httpx.Client on a stub transport, this tree and --before alternately."""
    trees: list[tuple[str, dict[str, str] | None]] = [("this tree", None)]
    if before is not None:
        trees.append(
            ("before", before_env(before))
        )  # fmt: skip
    found: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for _ in range(3):  # three children each, alternating; the best of each is shown
        for name, env in trees:
            done = subprocess.run(
                [str(python), "-c", _STUB_CHILD, str(rounds), str(count)],
                capture_output=True, text=True, check=True, cwd=REPO, env=env,
            )  # fmt: skip
            found[name].append(json.loads(done.stdout))
    print(
        f"-- stub transport: {rounds} rounds of {count} requests, CPU time of the measuring "
        "thread, best round of 3 children --"
    )
    for name, results in found.items():
        ours = min(r["respond"] for r in results)
        theirs = min(r["httpx"] for r in results)
        extra = ours - theirs
        met = "MET" if extra <= STUB_TARGET_US else f"MISSED by {extra - STUB_TARGET_US:.1f} us"
        print(
            f"  {name}: respond() {ours:.1f} us/req vs httpx.Client GET {theirs:.1f} us/req -> "
            f"+{extra:.1f} us/req (x{ours / theirs:.2f}) -> target at most +{STUB_TARGET_US:.0f} "
            f"us: {met}"
        )
    print()


def _pass(  # noqa: PLR0917 - one suite's knobs
    python: Path,
    count: int,
    rounds: int,
    levels: list[int],
    latency: float,
    args: argparse.Namespace,
) -> None:
    with start_emulator(in_process=args.in_process_emulator, latency_ms=latency) as emu:
        token = app_token(emu)
        banner(
            "serve: per-request overhead of connectorkit serve vs an httpx.Client loop",
            [
                (
                    f"emulator {emu.describe()}, latency {latency:g} ms; list_groups with a "
                    "service principal token obtained once (no token fetch per request)"
                ),
                (
                    f"M={count} requests per pass, {rounds} round(s) per mode (median round shown "
                    f"with the spread of rounds, latencies pooled), {WARMUP} warm-up requests"
                ),
                (
                    "the httpx baseline runs in this process; serve runs as a subprocess whose "
                    "lines this process writes and reads"
                ),
                f"interpreter of serve: {python}",
                load_note(),
            ],
        )
        runs, startup = _measure(emu, token, count, levels, rounds, args.before, python)
        _report(runs, startup)
        if latency > 0:
            _bound_share(runs, latency)
        if args.profile:
            _profile(emu, token, count, args.top)


def _bound_share(runs: list[Run], latency_ms: float) -> None:
    """Each pass's throughput as a share of C requests per latency (what waiting allows)."""
    print(f"share of the latency bound (C requests every {latency_ms:g} ms):")
    for run in runs:
        if run.name == "serve, closed loop":
            continue
        bound = run.concurrency * 1000 / latency_ms
        share = run.throughput / bound
        line = f"  C={run.concurrency} {run.name}: {run.throughput:,.0f} of {bound:,.0f} req/s"
        line += f" = {share:.1%}"
        if run.name == "serve, pipelined" and run.concurrency == SUITE_WIDE:
            met = (
                "MET"
                if share >= BOUND_SHARE_TARGET
                else f"MISSED by {BOUND_SHARE_TARGET - share:.1%}"
            )
            line += f" -> target at least {BOUND_SHARE_TARGET:.0%}: {met}"
        print(line)
    print()


SUITE_WIDE = 16  # the concurrency of the latency target
SUITE_LATENCY_MS = 20.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--requests", type=int, help="requests per pass (default 500)")
    parser.add_argument("--concurrency", type=int, nargs="+", help="levels to try (e.g. 1 4)")
    parser.add_argument("--rounds", type=int, default=5, help="passes per mode; median is shown")
    parser.add_argument("--latency", type=float, metavar="MS", help="emulator latency")
    parser.add_argument(
        "--in-process-emulator", action="store_true",
        help="run the emulator in a thread of this process (it then competes with the baseline)",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="add a cProfile of respond()")
    parser.add_argument(
        "--before", type=Path, metavar="DIR",
        help="also run the serve of another checkout (its runtime/ and pack) in the same rounds",
    )  # fmt: skip
    parser.add_argument("--top", type=int, default=25, help="rows of the profile")
    parser.add_argument(
        "--stub", action="store_true",
        help="only the runtime's CPU per request: respond() vs httpx.Client on a stub transport",
    )  # fmt: skip
    parser.add_argument(
        "--dev", action="store_true",
        help="run this interpreter's environment instead of a lean install",
    )  # fmt: skip
    args = parser.parse_args(argv)
    python = Path(sys.executable) if args.dev else lean_python()
    rounds = max(1, min(args.rounds, 50))
    if args.stub:
        count = max(1, min(args.requests or 500, 100_000))
        _stub(rounds, count, args.before, python)
        return 0
    if args.concurrency is None and args.latency is None:  # the suite of the three targets
        count = max(1, min(args.requests or 500, 100_000))
        _pass(python, count, rounds, [1], 0.0, args)
        # Every request waits 20 ms; enough of them that filling and draining the 16 slots
        # (one latency each) is a small part of a pass.
        _pass(python, max(count, 2000), rounds, [SUITE_WIDE], SUITE_LATENCY_MS, args)
        _stub(rounds, count, args.before, python)
        return 0
    count = max(1, min(args.requests or 500, 100_000))
    levels = [max(1, min(c, 64)) for c in args.concurrency or [1, 4]]
    _pass(python, count, rounds, levels, args.latency or 0.0, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
