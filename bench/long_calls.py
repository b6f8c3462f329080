"""Calls of more than one request, side by side: a big export, a million events, a long wait.

Each scenario starts its own emulator (a child process, its flows set with ``--flows``) and
runs the real ``connectorkit invoke`` as a child, whose peak memory and CPU come from the
kernel (``wait4``) when it exits:

- **export**: ``export_to_file`` of a file of ``--export-mb`` MiB, streamed to ``save_to``
  (target: peak memory at most 100 MiB); the file's size and SHA-256 are checked.
- **events**: ``list_activity_events`` of one day holding ``--events`` events (and a tenth of
  them first), every page, streamed (``stream: true``) and counted as they arrive (target:
  flat memory, the same peak for both, at most 100 MiB); client CPU per item.
- **long wait**: ``export_to_file`` that lasts ``--wait-minutes`` emulated minutes with tokens
  of 60 emulated minutes, on a clock ``--time-scale`` times faster (target: it succeeds, one
  token renewal, no failed poll), counted from the emulator's request log.

The scenarios run in ``--rounds`` interleaved rounds (each round runs every scenario once, so
a burst of load on the machine falls on all of them); each figure is the median of the rounds
with its spread (lowest-highest), next to its target (``MET`` or ``MISSED by``). The command
measured is a **lean install** (``pip install .`` of this checkout into a virtual environment
of its own, see ``_benchlib.lean_python``); ``--dev`` measures this interpreter's environment.

    .venv/bin/python bench/long_calls.py                      # all three, 3 rounds, ~5-8 minutes
    .venv/bin/python bench/long_calls.py --only events --events 100000 --rounds 1
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from _benchlib import connectorkit_command, lean_python, load_note

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parent.parent
COMMAND = connectorkit_command()  # replaced by the lean install's in main() unless --dev
PEAK_TARGET_MIB = 100.0
SALES = "c0ffee00-5a1e-4a1a-8a1b-000000000001"  # the emulator's seed workspace and report
SALES_REPORT = "4e907000-0000-4000-8000-000000000002"
MIB = 1024 * 1024


@contextlib.contextmanager
def emulator(*flags: str) -> Iterator[dict[str, Any]]:
    """``python -m powerbi_emulator`` in a child process; its URLs (one JSON line)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "powerbi_emulator", "--port", "0", "--quiet", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout is not None else ""
        if not line:
            raise RuntimeError("the emulator did not start")
        yield json.loads(line)
    finally:
        process.terminate()
        process.wait(timeout=30)


def connection(urls: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The emulator's service principal; the runtime fetches its own token."""
    return {
        "key": "client_credentials",
        "values": {
            "tenant_id": "emulator",
            "client_id": "connectorkit-demo",
            "client_secret": "demo-secret",
            "token_url": urls["token_url"],
            "base_url": urls["base_url"],
            **values,
        },
    }


def run_invoke(request: dict[str, Any], state: str, *, count_lines: bool = False) -> dict[str, Any]:
    """``connectorkit invoke`` as a child: its response, and the kernel's account of it."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*COMMAND, "invoke", "--state", state],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"},
    )
    if process.stdin is None or process.stdout is None:
        raise RuntimeError("no pipes to the command")
    process.stdin.write(json.dumps(request))
    process.stdin.close()
    items = 0
    last = ""
    for line in process.stdout:  # read as it comes: a streamed list never piles up here
        if count_lines and line.startswith('{"id"') and '"item"' in line[:40]:
            items += 1
        else:
            last = line
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    response = json.loads(last) if last.strip() else {"ok": False, "stderr": stderr[-2000:]}
    return {
        "response": response,
        "code": process.returncode,
        "items": items,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,  # KiB on Linux
    }


def api_log(urls: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.get(f"{urls['url']}/_emulator/requests", params={"since": 0}, timeout=30)
    response.raise_for_status()
    return list(response.json()["value"])


def export_file(args: argparse.Namespace, state: str) -> dict[str, Any]:
    """A big export streamed to disk."""
    size = args.export_mb * MIB
    flows = {"exports": {"bytes": size, "queued_seconds": 1, "seconds": 5, "poll_seconds": 1}}
    with emulator("--flows", json.dumps(flows)) as urls, tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "report.pdf"
        request = {
            "action": "export_to_file",
            "inputs": {
                "report_id": SALES_REPORT,
                "group_id": SALES,
                "format": "PDF",
                "save_to": str(target),
            },
            "connection": connection(urls),
        }
        measured = run_invoke(request, state)
        result = measured["response"].get("result") or {}
        digest = hashlib.sha256()
        with target.open("rb") as saved:
            while chunk := saved.read(MIB):
                digest.update(chunk)
        measured["checks"] = {
            "ok": measured["response"].get("ok"),
            "size": result.get("size"),
            "size_on_disk": target.stat().st_size,
            "sha256_matches": result.get("sha256") == digest.hexdigest(),
        }
    return measured


def events(args: argparse.Namespace, state: str, count: int | None = None) -> dict[str, Any]:
    """A day's activity events, every page, streamed."""
    flows = {
        "activity": {"events_per_day": count or args.events, "page_size": 10000, "per_hour": 0},
    }
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).date().isoformat()
    with emulator("--flows", json.dumps(flows)) as urls:
        request = {
            "id": "events",
            "action": "list_activity_events",
            "inputs": {
                "start_date_time": f"'{day}T00:00:00.000Z'",
                "end_date_time": f"'{day}T23:59:59.999Z'",
                "stream": True,
                "timeout": 3_600_000,
            },
            "connection": connection(urls),
        }
        measured = run_invoke(request, state, count_lines=True)
        response = measured["response"]
        measured["checks"] = {
            "ok": response.get("ok"),
            "items_counted": measured["items"],
            "items_in_result": (response.get("result") or {}).get("items"),
            "pages": (response.get("meta") or {}).get("pages"),
        }
    return measured


def long_wait(args: argparse.Namespace, state: str) -> dict[str, Any]:
    """An export longer than a token lives, on a faster clock."""
    seconds = args.wait_minutes * 60
    flows = {"exports": {"queued_seconds": 1, "seconds": seconds, "poll_seconds": 1}}
    flags = ("--time-scale", str(args.time_scale), "--token-lifetime", "3600")
    with emulator(*flags, "--flows", json.dumps(flows)) as urls:
        request = {
            "action": "export_to_file",
            "inputs": {"report_id": SALES_REPORT, "group_id": SALES, "format": "PDF"},
            # Seconds of leeway are emulated minutes here: renew when the token has expired.
            "connection": connection(urls, token_leeway=0),
        }
        measured = run_invoke(request, state)
        log = api_log(urls)
    polls = [e for e in log if e["method"] == "GET" and "/exports/" in e["path"]]
    polls = [e for e in polls if not e["path"].endswith("/file")]
    tokens = [e for e in log if e["path"].endswith("/token")]
    measured["checks"] = {
        "ok": measured["response"].get("ok"),
        "token_requests": len(tokens),
        "renewals": max(0, len(tokens) - 1),
        "polls": len(polls),
        "failed_polls": sum(1 for e in polls if (e.get("status") or 0) >= 400),
        "emulated_minutes": round(measured["wall_s"] * args.time_scale / 60, 1),
    }
    return measured


def spread(values: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest."""
    return statistics.median(values), min(values), max(values)


def figure(values: list[float], unit: str, digits: int = 1) -> str:
    median, low, high = spread(values)
    return f"{median:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def verdict(value: float, target: float, unit: str) -> str:
    return "MET" if value <= target else f"MISSED by {value - target:.1f} {unit}"


def report(name: str, runs: list[dict[str, Any]]) -> None:
    """One scenario's rounds: medians with spread, targets, checks of every round."""
    peaks = [m["peak_mib"] for m in runs]
    cpus = [m["cpu_s"] for m in runs]
    walls = [m["wall_s"] for m in runs]
    print(f"\n{name} ({len(runs)} rounds; median (lowest-highest))")
    print(f"  exit codes      {[m['code'] for m in runs]}")
    print(f"  wall            {figure(walls, 's')}")
    print(f"  client CPU      {figure(cpus, 's', 2)}")
    median_peak = spread(peaks)[0]
    target = f"target <= {PEAK_TARGET_MIB:.0f} MiB: {verdict(median_peak, PEAK_TARGET_MIB, 'MiB')}"
    print(f"  client peak RSS {figure(peaks, 'MiB')}   {target}")
    if name.startswith("events") and all(m["items"] for m in runs):
        per_item = [m["cpu_s"] / m["items"] * 1e6 for m in runs]
        print(f"  CPU per item    {figure(per_item, 'µs')}")
    for number, m in enumerate(runs, 1):
        print(f"  round {number} checks  {json.dumps(m['checks'])}")
        if not m["response"].get("ok"):
            print(f"  round {number} response: {json.dumps(m['response'])[:600]}")
    if name == "wait":
        good = all(
            m["checks"]["ok"] and m["checks"]["renewals"] == 1 and m["checks"]["failed_polls"] == 0
            for m in runs
        )
        met = "MET" if good else "MISSED"
        print(f"  target: succeeds, exactly 1 renewal, 0 failed polls: {met}")
    if name == "export":
        good = all(
            m["checks"]["ok"]
            and m["checks"]["sha256_matches"]
            and m["checks"]["size"] == m["checks"]["size_on_disk"]
            for m in runs
        )
        met = "MET" if good else "MISSED"
        print(f"  target: size and SHA-256 in the result equal the file: {met}")


def main() -> int:
    global COMMAND  # noqa: PLW0603 - chosen once, before any scenario runs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("export", "events", "wait"), action="append")
    parser.add_argument("--export-mb", type=int, default=200)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--wait-minutes", type=int, default=90)
    parser.add_argument("--time-scale", type=float, default=600.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--dev", action="store_true", help="measure this environment, not a lean install"
    )
    args = parser.parse_args()
    chosen = args.only or ["export", "events", "wait"]
    print(f"connectorkit long calls — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z, {load_note()}")
    if not args.dev:
        COMMAND = connectorkit_command(lean_python())
    print(f"command measured: {' '.join(COMMAND)}")
    scenarios = {"export": export_file, "events": events, "wait": long_wait}
    order: list[str] = []
    for name in chosen:
        if name == "events":  # a tenth first: flat memory is the same peak for both
            order.append("events/10")
        order.append(name)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
    for number in range(1, args.rounds + 1):
        for name in order:
            # A state store of its own for each run: the pack's hourly budget of activity
            # event pages (200, per tenant and store) would otherwise make a later round wait.
            with tempfile.TemporaryDirectory() as folder:
                state = f"sqlite:///{folder}/state.sqlite3"
                if name == "events/10":
                    measured = events(args, state, args.events // 10)
                else:
                    measured = scenarios[name](args, state)
                runs[name].append(measured)
                print(
                    f"round {number} {name:<10} exit {measured['code']} "
                    f"wall {measured['wall_s']:.1f} s CPU {measured['cpu_s']:.2f} s "
                    f"peak {measured['peak_mib']:.1f} MiB",
                    flush=True,
                )
    for name in order:
        report(name, runs[name])
    print(f"\nafter the run: {load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
