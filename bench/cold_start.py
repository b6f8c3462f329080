"""Cold start of ``connectorkit invoke`` next to a hand-written httpx script and a bare python.

Measured on a lean install (``pip install .`` of this checkout into a virtual environment of
its own, as a user installs it; ``--dev`` takes this interpreter's environment instead). Starts
an emulator, obtains one service principal token from it (client credentials), then runs, N
times each and interleaved:

- ``python -c pass``                       the interpreter alone
- ``python -c "import httpx"``             the one dependency a hand-written script needs
- ``python bench/httpx_baseline.py``       the same GET /groups with the same token, by hand
- ``connectorkit invoke``                  list_groups with that token (no token fetch)

and, unless ``--no-fetch``, the same two again without a token (client credentials: POST the
token endpoint, then GET). Then it shows where start-up goes: the top imports of
``python -X importtime -m connectorkit invoke``, and the steps of one invoke timed one by one
in a fresh interpreter (bench/_coldphases.py). ``--profile`` adds a cProfile of one invoke.

Each figure is the median of the interleaved runs, with its spread; CPU time (user + system of
the child) next to wall time. The ratio of the median wall times of ``invoke`` and the script
(token given) is held to the target (at most x1.10). The import check fails loudly (``!!``)
when a module that does not belong on a plain call's path (``tests/coldpath.py``) is imported.

    .venv/bin/python bench/cold_start.py [-n 20] [--dev] [--in-process-emulator] [--profile]
"""

from __future__ import annotations

import argparse
import collections
import json
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _benchlib import (
    REPO,
    Emulator,
    Stats,
    app_token,
    banner,
    before_env,
    connection,
    connectorkit_command,
    installed_bytecode,
    lean_python,
    load_note,
    print_table,
    profile_summary,
)
from _benchlib import emulator as start_emulator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests"))  # the plain call's import path, which a test holds too
from coldpath import imported, off_the_path  # noqa: E402

RUN_TIMEOUT_S = 60.0
TARGET = 1.10  # cold invoke (token given) at most this many times the hand-written script
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


@dataclass
class Variant:
    """One command to time: argv, what it reads on stdin, and its samples."""

    name: str
    argv: list[str]
    stdin: str = ""
    check: str = ""  # text the stdout must contain for the run to count as a success
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system ms of the child
    failures: int = 0
    last_error: str = ""
    env: dict[str, str] | None = None


def _run_once(variant: Variant) -> float:
    """Run once; the wall time (ms). The child's CPU time is added to ``variant.cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        variant.argv,
        input=variant.stdin,
        env=variant.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=REPO,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1000
    # Every child this process reaped so far: the difference is this run's (the emulator, a
    # child too, is reaped only at the end).
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    variant.cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    if done.returncode != 0 or variant.check not in done.stdout:
        variant.failures += 1
        variant.last_error = f"exit {done.returncode}: {(done.stdout + done.stderr)[-300:]}"
    return elapsed


def _request(emu: Emulator, token: dict[str, Any] | None) -> str:
    return json.dumps(
        {"id": "bench", "action": "list_groups", "inputs": {}, "connection": connection(emu, token)}
    )


def _before(root: Path) -> dict[str, str]:
    """The environment that runs the connectorkit of another checkout (its runtime/ first)."""
    return before_env(root)


def _variants(
    emu: Emulator,
    token: dict[str, Any],
    python: Path,
    *,
    fetch: bool,
    before: Path | None = None,
) -> list[Variant]:
    py = str(python)
    invoke = [*connectorkit_command(python), "invoke", "--quiet"]
    baseline = [py, str(HERE / "httpx_baseline.py"), "list_groups"]
    with_token = _request(emu, token)
    variants = [
        Variant("python -c pass", [py, "-c", "pass"]),
        Variant('python -c "import httpx"', [py, "-c", "import httpx"]),
        Variant("httpx script, token given", baseline, with_token, '"ok":true'),
        Variant("connectorkit invoke, token given", invoke, with_token, '"ok":true'),
    ]
    if before is not None:
        old = [py, "-m", "connectorkit", "invoke", "--quiet"]
        variants.append(
            Variant(
                "before: connectorkit invoke, token given",
                old,
                with_token,
                '"ok":true',
                env=_before(before),
            )
        )
    if fetch:
        without = _request(emu, None)
        variants += [
            Variant("httpx script, fetches token", baseline, without, '"ok":true'),
            Variant("connectorkit invoke, fetches token", invoke, without, '"ok":true'),
        ]
    return variants


def _measure(variants: list[Variant], runs: int, warmup: int) -> None:
    for _ in range(warmup):
        for variant in variants:
            _run_once(variant)
    for variant in variants:
        variant.failures = 0
        variant.cpu.clear()
    for _ in range(runs):  # interleaved, so that drift on the machine hits every variant alike
        for variant in variants:
            variant.samples.append(_run_once(variant))


def _peak_memory(variants: list[Variant], runs: int = 3) -> None:
    """The peak resident memory of each command that talks HTTP (``/usr/bin/time -f %M``)."""
    timer = Path("/usr/bin/time")
    if not timer.is_file():
        print("(peak memory: /usr/bin/time is not installed)\n")
        return
    rows: list[list[object]] = []
    for variant in variants:
        if not variant.check:
            continue
        peaks = []
        for _ in range(runs):
            done = subprocess.run(
                [str(timer), "-f", "%M", *variant.argv],
                input=variant.stdin,
                env=variant.env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                cwd=REPO,
                check=False,
            )
            last = done.stderr.strip().splitlines()[-1:] or ["nan"]
            peaks.append(float(last[0]) / 1024 if last[0].isdigit() else float("nan"))
        rows.append([variant.name, statistics.median(peaks)])
    print_table(["command", "peak RSS MiB (median of 3)"], rows)
    print()


def _report_runs(variants: list[Variant]) -> None:
    by_name = {v.name: v for v in variants}
    base = Stats.of(by_name["python -c pass"].samples).median
    rows: list[list[object]] = []
    for variant in variants:
        stats, cpu = Stats.of(variant.samples), Stats.of(variant.cpu)
        rows.append(
            [variant.name, stats.median, f"{stats.minimum:.1f}-{stats.p90:.1f}",
             stats.median - base, cpu.median, f"{cpu.minimum:.1f}-{cpu.p90:.1f}",
             variant.failures]
        )  # fmt: skip
    print_table(
        ["command", "wall ms", "wall min-p90", "- pass", "CPU ms", "CPU min-p90", "failed"], rows
    )
    for variant in variants:
        if variant.failures:
            print(
                f"  ! {variant.name}: {variant.failures} failed run(s); last: {variant.last_error}"
            )
    print()
    old = by_name.get("before: connectorkit invoke, token given")
    new = by_name.get("connectorkit invoke, token given")
    script = by_name.get("httpx script, token given")
    if old is not None and new is not None and script is not None:
        base = Stats.of(script.samples).median
        before, after = Stats.of(old.samples).median, Stats.of(new.samples).median
        print(
            f"before vs after (token given): x{before / base:.2f} -> x{after / base:.2f} "
            f"the httpx script ({before:.1f} -> {after:.1f} ms median)"
        )
    for suffix in ("token given", "fetches token"):
        ours = by_name.get(f"connectorkit invoke, {suffix}")
        theirs = by_name.get(f"httpx script, {suffix}")
        if ours is None or theirs is None:
            continue
        a, b = Stats.of(ours.samples), Stats.of(theirs.samples)
        ca, cb = Stats.of(ours.cpu), Stats.of(theirs.cpu)
        ratio = a.median / b.median
        verdict = ""
        if suffix == "token given":
            met = "MET" if ratio <= TARGET else f"MISSED by {ratio / TARGET - 1:.0%}"
            verdict = f" -> target <= x{TARGET:.2f}: {met}"
        print(
            f"connectorkit invoke vs httpx script ({suffix}): wall +{a.median - b.median:.1f} ms "
            f"median (x{ratio:.2f}){verdict}; CPU x{ca.median / cb.median:.2f} "
            f"(+{ca.median - cb.median:.1f} ms)"
        )
    print()


def _importtime(request: str, top: int, python: Path) -> None:
    argv = [str(python), "-X", "importtime", "-m", "connectorkit", "invoke", "--quiet"]
    done = None
    for _ in range(2):  # the first run may write .pyc files
        done = subprocess.run(
            argv, input=request, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            cwd=REPO, check=False,
        )  # fmt: skip
    assert done is not None  # noqa: S101
    strays = off_the_path(imported(done.stderr))
    if strays:
        print("!!" * 40)
        print(f"!! {len(strays)} module(s) off a plain call's path were imported:")
        print("!!   " + ", ".join(strays))
        print("!! (tests/coldpath.py lists the path; tests/test_cold_start.py fails on this too)")
        print("!!" * 40)
    else:
        print("import check: nothing off a plain call's path (tests/coldpath.py) was imported")
    print()
    entries: list[tuple[int, int, int, str]] = []  # self us, cumulative us, depth, module
    for line in done.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            entries.append((int(own), int(cumulative), (len(indent) - 1) // 2, name))
    if not entries:
        print("(no -X importtime output)\n")
        return
    total_us = sum(e[1] for e in entries if e[2] == 0)
    print(
        f"-- imports of `python -X importtime -m connectorkit invoke`: {len(entries)} modules, "
        f"{total_us / 1000:.1f} ms in total (sum of top-level cumulative times) --"
    )
    print("top-level imports by cumulative time (each includes what it imports first):")
    firsts = sorted((e for e in entries if e[2] == 0), key=lambda e: -e[1])[:top]
    print_table(
        ["module", "cumulative ms", "self ms", "% of imports"],
        [[n, c / 1000, s / 1000, 100 * c / total_us] for s, c, _, n in firsts],
    )
    print()
    print("by distribution (sum of self times of its modules):")
    packages: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for own, _, _, name in entries:
        root = name.split(".")[0]
        packages[root] += own
        counts[root] += 1
    print_table(
        ["package", "self ms", "modules", "% of imports"],
        [[p, us / 1000, counts[p], 100 * us / total_us] for p, us in packages.most_common(top)],
    )
    print()


def _phases(request: str, runs: int, python: Path) -> None:
    samples: dict[str, list[float]] = collections.defaultdict(list)
    order: list[str] = []
    error = ""
    for _ in range(runs):
        done = subprocess.run(
            [str(python), str(HERE / "_coldphases.py")], input=request, capture_output=True,
            text=True, timeout=RUN_TIMEOUT_S, cwd=REPO, check=False,
        )  # fmt: skip
        try:
            data = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            error = (done.stdout + done.stderr)[-300:]
            continue
        if "error" in data:
            error = data["error"]
            continue
        for name, ms in data["phases"]:
            if name not in samples:
                order.append(name)
            samples[name].append(ms)
    if not order:
        print(f"(step breakdown unavailable: {error})\n")
        return
    medians = {name: statistics.median(samples[name]) for name in order}
    counted = sum(ms for name, ms in medians.items() if not name.startswith("(extra)"))
    groups = {
        "imports": sum(ms for n, ms in medians.items() if n.startswith("import")),
        "pack load": sum(ms for n, ms in medians.items() if n.startswith("pack:")),
        "Runner()": medians.get("Runner()", 0),
        "decode + call + response": sum(
            ms
            for n, ms in medians.items()
            if n.startswith(("read stdin", "call:", "envelope", "runner.close"))
        ),
    }
    print(
        f"-- one invoke step by step in a fresh interpreter (bench/_coldphases.py), median of "
        f"{runs} runs: {counted:.1f} ms after interpreter start-up --"
    )
    print_table(
        ["step", "median ms", "% of steps"],
        [
            [n, ms, "" if n.startswith("(extra)") else 100 * ms / counted]
            for n, ms in medians.items()
        ],
    )
    print()
    print_table(["group", "ms", "%"], [[g, ms, 100 * ms / counted] for g, ms in groups.items()])
    print()


def _profile(request: str, top: int, python: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "invoke.prof"
        argv = [str(python), "-m", "cProfile", "-o", str(out), "-m", "connectorkit", "invoke"]
        subprocess.run(
            [*argv, "--quiet"], input=request, capture_output=True, text=True,
            timeout=RUN_TIMEOUT_S, cwd=REPO, check=False,
        )  # fmt: skip
        if not out.is_file():
            print("(no profile written)\n")
            return
        print(
            "-- cProfile of one `connectorkit invoke` (list_groups), ms; a function's cumulative "
            "time includes the imports it triggers --"
        )
        profile_summary(pstats.Stats(str(out)), per=1, top=top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per command first")
    parser.add_argument("--no-fetch", action="store_true", help="skip the token-fetching pair")
    parser.add_argument("--top", type=int, default=15, help="rows of the import tables")
    parser.add_argument("--phase-runs", type=int, default=5, help="runs of the step breakdown")
    parser.add_argument(
        "--in-process-emulator", action="store_true",
        help="run the emulator in a thread of this process instead of a child process",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one invoke")
    parser.add_argument(
        "--dev", action="store_true",
        help="time this interpreter's environment (with its dev tools) instead of a lean install",
    )  # fmt: skip
    parser.add_argument(
        "--before", type=Path, metavar="DIR",
        help="also time the connectorkit of another checkout (e.g. a `git worktree` of an "
        "older commit), run from its runtime/ with its own pack",
    )  # fmt: skip
    args = parser.parse_args(argv)
    runs, warmup = max(1, min(args.runs, 1000)), max(0, min(args.warmup, 100))

    python = Path(sys.executable) if args.dev else lean_python()
    modules, compiled = installed_bytecode(python)
    with start_emulator(in_process=args.in_process_emulator) as emu:
        token = app_token(emu)
        variants = _variants(emu, token, python, fetch=not args.no_fetch, before=args.before)
        banner(
            "cold start: connectorkit invoke (list_groups) vs a hand-written httpx script",
            [
                (
                    f"emulator {emu.describe()}, no latency; one service principal token obtained "
                    "once via client credentials"
                ),
                (
                    f"{runs} timed runs per command (after {warmup} untimed), interleaved; "
                    "wall time of the whole subprocess (spawn to exit) as seen by this process, "
                    "CPU time (user + system) of the child"
                ),
                (
                    f"interpreter: {python} ({'this environment' if args.dev else 'lean install'}"
                    f"; bytecode for {compiled} of {modules} runtime modules)"
                ),
                load_note(),
            ],
        )
        _measure(variants, runs, warmup)
        _report_runs(variants)
        _peak_memory(variants)
        request = _request(emu, token)
        _importtime(request, args.top, python)
        _phases(request, max(1, min(args.phase_runs, 100)), python)
        if args.profile:
            _profile(request, max(args.top, 25), python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
