"""What the terminal commands' libraries cost to import, and what the command costs to start.

Prints, side by side, the import time of the progress-bar candidates (tqdm, which ``run``
uses, and rich.progress, if installed) and of argcomplete, each in a fresh interpreter, as
the median and minimum of N runs (the import alone, measured inside the child with
``time.perf_counter``); then the wall time from spawn to exit of ``connectorkit --version``,
``connectorkit actions`` and ``connectorkit run --help``, against ``python -c pass``. None of
these libraries is imported by ``invoke``: the last line checks that from ``-X importtime``.

    .venv/bin/python bench/cli_imports.py [-n 15] [--python OTHER_PYTHON_WITH_RICH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
HEAVY = ("tqdm", "argcomplete")  # what the terminal commands add


def import_ms(python: str, module: str, runs: int) -> list[float] | None:
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [python, "-c", CHILD.format(module=module)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return None
        times.append(float(done.stdout) * 1000)
    return times


def spawn_ms(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return times


def row(label: str, times: list[float] | None) -> None:
    if times is None:
        print(f"  {label:<42} (not installed)")
        return
    print(f"  {label:<42} median {statistics.median(times):7.1f} ms   min {min(times):7.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="runs of each measurement")
    parser.add_argument("--python", help="another interpreter to time rich.progress in")
    args = parser.parse_args()
    python = sys.executable
    command = str(Path(python).with_name("connectorkit"))
    print(f"import time in a fresh interpreter ({args.n} runs each)")
    row("tqdm (the bar `run` shows)", import_ms(python, "tqdm", args.n))
    rich = import_ms(python, "rich.progress", args.n)
    if rich is None and args.python:
        rich = import_ms(args.python, "rich.progress", args.n)
    row("rich.progress (the alternative)", rich)
    row("argcomplete (only when the shell completes)", import_ms(python, "argcomplete", args.n))
    print(f"\nspawn to exit ({args.n} runs each)")
    row("python -c pass", spawn_ms([python, "-c", "pass"], args.n))
    row("connectorkit --version", spawn_ms([command, "--version"], args.n))
    row("connectorkit run --help", spawn_ms([command, "run", "--help"], args.n))
    row("connectorkit actions", spawn_ms([command, "actions"], args.n))
    trace = subprocess.run(
        [python, "-X", "importtime", "-m", "connectorkit", "invoke"],
        input="{}",
        capture_output=True,
        text=True,
        check=False,
    ).stderr
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in trace.splitlines()}
    loaded = sorted(set(HEAVY) & names)
    print(f"\nimported by a cold `invoke`: {', '.join(loaded) or 'none of ' + ', '.join(HEAVY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
