"""``connectorkit jobs``: the push jobs in the state store — list, show, resume, forget."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.state import JobLedger


def register(registry: Registry) -> None:
    """Add ``jobs``."""
    sub = registry.add(
        "jobs",
        "push jobs: list them, show one batch by batch, resume one, forget one",
        description=(
            "Every create_rows call is a job whose batches are recorded in the state store as "
            "they land (committed, unknown, failed, not_sent). 'resume' pushes what is not "
            "committed yet: from the same file for a job started with 'connectorkit push'; a "
            "job whose rows came in a request resumes by sending that request again with its "
            "job_id."
        ),
        handler=_jobs,
        examples=[
            "connectorkit jobs list",
            "connectorkit jobs show 4f1c…",
            "connectorkit jobs resume 4f1c… --unknown-batches skip --wait",
        ],
    )
    sub.add_argument("verb", choices=("list", "show", "resume", "forget"))
    sub.add_argument("job_id", nargs="?", metavar="JOB_ID")
    sub.add_argument("--connection", metavar="NAME|FILE", help="resume: the connection to use")
    sub.add_argument("--unknown-batches", choices=("resend", "skip"), help="resume: see push")
    sub.add_argument("--wait", action="store_true", help="resume: wait out long pauses")
    sub.add_argument("--json", action="store_true", help="list/show: JSON instead of text")
    add_state_option(sub)
    add_pack_option(sub)


def _jobs(args: argparse.Namespace) -> int:
    from connectorkit.call._run import Runner  # noqa: PLC0415

    configure_logging()
    if args.verb != "list" and not args.job_id:
        return _fail(f"'jobs {args.verb}' needs a JOB_ID")
    runner = Runner(state_url=args.state)
    try:
        book = runner.jobs
        if args.verb == "list":
            return _list(book, as_json=args.json)
        about = book.about(args.job_id)
        if about is None:
            return _fail(f"no job {args.job_id!r} in {runner.state.store.url}")
        if args.verb == "show":
            return _show(book, args.job_id, about, as_json=args.json)
        if args.verb == "forget":
            book.forget(args.job_id)
            _say(f"forgot job {args.job_id}")
            return 0
    finally:
        runner.close()
    return _resume(args, about)


def _list(book: JobLedger, *, as_json: bool) -> int:
    from connectorkit.bulk._jobs import job_summary  # noqa: PLC0415

    jobs = []
    for job_id in book.job_ids():
        about = book.about(job_id) or {}
        jobs.append({"job_id": job_id, **job_summary(about, book.batches(job_id))})
    if as_json:
        _say(json.dumps(jobs, indent=2))
        return 0
    if not jobs:
        _say("no push jobs")
        return 0
    for job in jobs:
        committed = job["batches"].get("committed", {}).get("rows", 0)
        _say(
            f"{job['job_id']}  {_when(job['created'])}  {job['action']}  {job['state']:<16}"
            f"  {committed:,} rows committed  {_target(job['inputs'])}"
        )
    return 0


def _show(book: JobLedger, job_id: str, about: dict[str, Any], *, as_json: bool) -> int:
    from connectorkit.bulk._jobs import job_summary  # noqa: PLC0415

    batches = book.batches(job_id)
    summary = job_summary(about, batches)
    if as_json:
        ledger = [{"batch": n, **e} for n, e in batches.items()]
        _say(json.dumps({"job_id": job_id, **summary, "ledger": ledger}, indent=2))
        return 0
    started = _when(about.get("created"))
    _say(f"job {job_id}: {summary['action']}, {summary['state']}, started {started}")
    _say(f"  target: {_target(summary['inputs'])}")
    if about.get("rows_file"):
        _say(f"  rows:   {about['rows_file']}")
    for status, counts in sorted(summary["batches"].items()):
        _say(f"  {status:<10} {counts['batches']:>6} batches  {counts['rows']:>12,} rows")
    unknown = [n for n, e in batches.items() if e.get("status") == "unknown"]
    if unknown:
        _say(
            "  the fate of batches "
            + ", ".join(map(str, unknown[:10]))
            + " is unknown: resume with --unknown-batches resend (may store twice) or skip "
            "(may miss rows)"
        )
    return 0


def _resume(args: argparse.Namespace, about: dict[str, Any]) -> int:
    from connectorkit.cli.commands.push import push_rows  # noqa: PLC0415

    if not about.get("rows_file"):
        return _fail(
            f"job {args.job_id}'s rows came in a request: resume it by sending that request "
            f'again with "job_id": "{args.job_id}"'
        )
    connection_text = args.connection or about.get("connection")
    if not connection_text:
        return _fail("say which connection to resume with: --connection NAME|FILE")
    from connectorkit.cli.commands.push import _connection  # noqa: PLC0415

    connection = _connection(connection_text)
    if isinstance(connection, str):
        return _fail(connection)
    inputs = {**about.get("inputs", {}), "job_id": args.job_id}
    if args.unknown_batches:
        inputs["unknown_batches"] = args.unknown_batches
    return push_rows(
        str(about.get("action") or "create_rows"),
        inputs,
        connection,
        str(about["rows_file"]),
        file_format=about.get("rows_format"),
        pack_dir=args.pack,
        state_url=args.state,
        wait=args.wait,
        connection_ref=connection_text,
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return "?"
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _target(inputs: dict[str, Any]) -> str:
    keys = ("group_id", "dataset_id", "table_name")
    return " ".join(f"{k}={inputs[k]}" for k in keys if inputs.get(k))


def _fail(message: str) -> int:
    sys.stderr.write(f"connectorkit jobs: {message}\n")
    return 2
