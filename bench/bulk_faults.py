"""Faults in the middle of a push, then a resume of the same job: what is stored, doubled, lost.

Each case is a real ``connectorkit push`` of an NDJSON file (``--rows`` rows, batches of
10,000, five in flight, ``max_retry_count=3``) into a fresh push dataset of a fresh emulator
in a child process, with a SQLite state store, a fault injected by the emulator's control API
(or a SIGKILL of the push), and then ``connectorkit jobs resume JOB_ID`` with the same store.
Where the fault leaves a batch whose fate is unknown, the resume runs once with
``--unknown-batches skip`` and once with ``resend``, each from a fresh start.

The faults (each fires on the ``--nth`` POST of rows to arrive, by a seeded draw):

- ``drop after commit``: the service stores the batch, then the connection ends unanswered;
- ``drop before commit``: the connection ends before the service looked at the batch;
- ``500``: the service answers 500 without storing the batch; the client cannot know that
  (plain retries do not re-send a POST; ``500, retry all`` adds ``retry_on_all_errors=true``,
  which does);
- ``503``: the same with 503, which says the request was not acted on;
- ``stall past timeout``: the service holds the request past the call's time budget
  (``timeout``), then stores the batch;
- ``429, Retry-After 3600``: longer than the call may wait: the push pauses (``rate_limited``)
  and is resumed at once (the fault fired once; a real caller comes back after the hour);
- ``SIGKILL``: the push process is killed once the service holds ``--kill-at`` rows, with
  requests in flight.

Printed per case and choice: the first run's outcome; **sent** (rows in every POST the service
received, re-sends and refused ones included; every POST carries 10,000 rows), **stored**,
**dup** (rows stored more than once), **lost** (rows never stored), **POSTs**, and the wall
time of the push and of the resume. The ideal is stored = total, 0 duplicates, 0 lost, with one
POST per batch plus one per batch the service did not store. ``skip`` reaches it exactly when the
service had stored the unknown batch, ``resend`` exactly when it had not: the client cannot
tell which, so the choice is the caller's.

Clocks (the emulator's and the client's rate budgets) run ``--time-scale`` times faster, so that
a killed worker's pending slots free in about a second instead of two minutes.

    .venv/bin/python bench/bulk_faults.py [--rows 200000] [--nth 6] [--kill-at 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from _benchlib import app_token, banner, connection, connectorkit_command, print_table
from _benchlib import emulator as start_emulator

GROUP = "c0ffee00-5a1e-4a1a-8a1b-000000000001"  # the emulator's seeded workspace
COLUMNS = [{"name": "Id", "dataType": "Int64"}, {"name": "Product", "dataType": "String"}]
BATCH = 10_000
RATE = 0.5  # the fault's draw: it fires on the nth matching request (see fires_on)


@dataclass
class Case:
    """One fault and how the first run is set up."""

    name: str
    fault: dict[str, Any] | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    kill: bool = False
    latency_ms: float = 0.0
    settle_s: float = 0.0  # wait this long after the first run (a stall ending at the service)


@dataclass
class Outcome:
    """One case run to the end with one choice for unknown batches."""

    case: str
    first: str
    choice: str
    sent: int
    stored: int
    dup: int
    lost: int
    posts: int
    push_s: float
    resume_s: float
    resume: str


def fires_on(nth: int, rate: float = RATE) -> int:
    """A fault seed whose draws spare the first nth - 1 matching requests and hit the nth."""
    for seed in range(100_000):
        draws = random.Random(seed)  # noqa: S311 - mirrors the emulator's fault RNG
        if all(draws.random() >= rate for _ in range(nth - 1)) and draws.random() < rate:
            return seed
    raise SystemExit(f"no seed fires first on request {nth}")


def cases(nth: int) -> list[Case]:
    on_rows = {"method": "POST", "path": "/rows$", "count": 1, "rate": RATE, "seed": fires_on(nth)}
    return [
        Case("drop after commit", {"action": "drop_after", **on_rows}),
        Case("drop before commit", {"action": "drop_before", **on_rows}),
        Case("500", {"action": "status", "status": 500, **on_rows}),
        Case(
            "500, retry all",
            {"action": "status", "status": 500, **on_rows},
            {"retry_on_all_errors": True},
        ),
        Case("503", {"action": "status", "status": 503, **on_rows}),
        Case(
            "stall past timeout",
            {"action": "stall", "stall_ms": 12_000, **on_rows},
            {"timeout": 8_000},
            settle_s=12.5,
        ),
        Case(
            "429, Retry-After 3600",
            {"action": "status", "status": 429, "retry_after": 3600, **on_rows},
        ),
        Case("SIGKILL", kill=True, latency_ms=300.0, settle_s=1.5),
    ]


def write_rows(path: Path, count: int) -> None:
    with path.open("wb") as out:
        out.write(
            b"".join(orjson.dumps({"Id": i, "Product": f"P{i % 97}"}) + b"\n" for i in range(count))
        )


def create_dataset(base_url: str, token: str) -> str:
    response = httpx.post(
        f"{base_url}/groups/{GROUP}/datasets",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "name": "faults",
            "defaultMode": "Push",
            "tables": [{"name": "T", "columns": COLUMNS}],
        },
        timeout=30,
        trust_env=False,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def control(url: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, f"{url}/_emulator/{path}", json=body, timeout=120, trust_env=False
    )
    response.raise_for_status()
    return response.json() if response.content else None


def stored_ids(url: str, dataset_id: str) -> list[int]:
    rows = control(url, "GET", f"datasets/{dataset_id}/tables/T/rows")["value"]
    return [int(row["Id"]) for row in rows]


def summary(stdout: str) -> tuple[str, dict[str, Any]]:
    """A short account of one command's envelope: its outcome and batch statuses."""
    try:
        envelope = json.loads(stdout)
    except ValueError:
        return "no JSON on stdout", {}
    if envelope.get("ok"):
        result = envelope["result"]
        return f"ok, {result['committed']:,} committed", envelope
    error = envelope["error"]
    statuses: dict[str, int] = {}
    for batch in error.get("details") or []:
        if "status" in batch:
            statuses[batch["status"]] = statuses.get(batch["status"], 0) + 1
    shown = " ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    return f"{error['type']} ({shown})" if shown else str(error["type"]), envelope


def ledger(env: dict[str, str], job: str) -> str:
    """The job's batches by status, as ``jobs show`` tells (for a push that was killed)."""
    shown = subprocess.run(
        [*connectorkit_command(), "jobs", "show", job, "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    statuses: dict[str, int] = {}
    for entry in json.loads(shown.stdout)["ledger"]:
        statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
    return "killed (" + " ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ")"


def run(
    command: list[str], env: dict[str, str], *, kill_when: Any = None
) -> tuple[float, int, str]:
    """Run ``command``; SIGKILL it as soon as ``kill_when()`` is true. (wall s, exit, stdout)."""
    started = time.perf_counter()
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        if kill_when is not None:
            deadline = time.monotonic() + 120
            while proc.poll() is None and not kill_when():
                if time.monotonic() > deadline:
                    raise SystemExit("the push never reached the kill point")
                time.sleep(0.02)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    wall = time.perf_counter() - started
    if not out.strip() and proc.returncode != -signal.SIGKILL:
        print(f"exit {proc.returncode}: {err.decode()[-1500:]}", file=sys.stderr)
    return wall, proc.returncode, out.decode()


def one(case: Case, choice: str | None, args: argparse.Namespace, folder: Path) -> Outcome:
    """The case from a fresh emulator to the end of the resume (``choice`` for unknown ones)."""
    scale = args.time_scale
    rows_file = folder / "rows.ndjson"
    with start_emulator(
        time_scale=scale, latency_ms=case.latency_ms, token_lifetime=3600 * scale
    ) as emu:
        token = app_token(emu)
        conn = folder / "connection.json"
        conn.write_text(json.dumps(connection(emu, token)))
        dataset_id = create_dataset(emu.base_url, token["access_token"])
        state = folder / f"{case.name.replace(' ', '_').replace(',', '')}-{choice}.sqlite3"
        state.unlink(missing_ok=True)
        env = {
            **os.environ,
            "CONNECTORKIT_STATE": f"sqlite:///{state}",
            "CONNECTORKIT_LIMITS_TIME_SCALE": str(scale),
            "NO_PROXY": "127.0.0.1",
        }
        if case.fault is not None:
            control(emu.url, "POST", "faults", case.fault)
        inputs = {"max_retry_count": 3, **case.inputs}
        job = "bench-job"
        command = [
            *connectorkit_command(), "push", str(rows_file), f"dataset_id={dataset_id}",
            "table_name=T", f"group_id={GROUP}",
            *(f"{k}={json.dumps(v)}" for k, v in inputs.items()),
            "--connection", str(conn), "--job-id", job, "-q",
        ]  # fmt: skip

        def enough() -> bool:
            held = control(emu.url, "GET", "state")
            dataset = next(d for d in held["datasets"] if d["id"] == dataset_id)
            return int(dataset["tables"][0]["rows"]) >= args.kill_at

        push_s, _, out = run(command, env, kill_when=enough if case.kill else None)
        first, _ = summary(out) if out else (ledger(env, job), {})
        time.sleep(case.settle_s)
        control(emu.url, "DELETE", "faults")
        resume_command = [*connectorkit_command(), "jobs", "resume", job]
        if choice is not None:
            resume_command += ["--unknown-batches", choice]
        resume_s, _, resumed = run(resume_command, env)
        resume, _ = summary(resumed)
        ids = stored_ids(emu.url, dataset_id)
        log = control(emu.url, "GET", "requests?kind=api")["value"]
        posts = [e for e in log if e["method"] == "POST" and e["path"].endswith("/rows")]
        for entry in posts:  # the arithmetic of "sent" below holds only for full batches
            if entry.get("rows") not in (None, BATCH):
                raise SystemExit(f"a POST of {entry['rows']} rows: use a multiple of {BATCH}")
        distinct = set(ids)
        return Outcome(
            case=case.name,
            first=first,
            choice=choice or "-",
            sent=BATCH * len(posts),
            stored=len(ids),
            dup=len(ids) - len(distinct),
            lost=sum(1 for i in range(args.rows) if i not in distinct),
            posts=len(posts),
            push_s=push_s,
            resume_s=resume_s,
            resume=resume,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="a multiple of 10,000")
    parser.add_argument("--nth", type=int, default=6, help="the POST of rows that is faulted")
    parser.add_argument("--kill-at", type=int, default=60_000, help="rows stored at the SIGKILL")
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    if args.rows % BATCH:
        parser.error(f"--rows must be a multiple of {BATCH}")
    banner(
        f"create_rows under faults, then jobs resume: {args.rows:,} rows, "
        f"{args.rows // BATCH} batches, the fault on POST {args.nth}",
        [f"clocks {args.time_scale:g}x faster; max_retry_count=3; five batches in flight"],
    )
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_rows(folder / "rows.ndjson", args.rows)
        for case in cases(args.nth):
            if args.only and args.only not in case.name:
                continue
            outcome = one(case, "skip", args, folder)
            outcomes = [outcome]
            if "unknown" in outcome.first or case.kill:
                outcomes.append(one(case, "resend", args, folder))
            else:
                outcome.choice = "-"
            table.extend(
                (o.case, o.first, o.choice, f"{o.sent:,}", f"{o.stored:,}", f"{o.dup:,}",
                 f"{o.lost:,}", "yes" if o.dup == o.lost == 0 else "no", o.posts,
                 f"{o.push_s:.1f}", f"{o.resume_s:.1f}", o.resume)
                for o in outcomes
            )  # fmt: skip
    print_table(
        ["fault", "first run", "unknown", "sent", "stored", "dup", "lost", "once", "POSTs",
         "push s", "resume s", "resume"],
        table,
    )  # fmt: skip
    batches = args.rows // BATCH
    print()
    print(
        f"ideal: stored {args.rows:,}, dup 0, lost 0; POSTs {batches} plus one per batch the "
        f"service did not store (sent {args.rows:,} plus {BATCH:,} a re-sent batch)"
    )


if __name__ == "__main__":
    sys.exit(main())
