"""``connectorkit jobs``: the push jobs in the state store — list, show, resume, forget.

For people: a table of jobs with local times, one job batch by batch, a sentence when there is
none; ``--json``: the protocol's envelope. Without a verb, the jobs are listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import configure_logging
from connectorkit.cli._voice import Voice, add_store_options
from connectorkit.core._errors import InvalidRequest

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.cli._render import Style
    from connectorkit.state import JobLedger


def register(registry: Registry) -> None:
    """Add ``jobs`` and its verbs."""
    sub = registry.add(
        "jobs",
        "push jobs: list them, show one batch by batch, resume one, forget one",
        description=(
            "Every create_rows call is a job whose batches are recorded in the state store as "
            "they land (committed, unknown, failed, not_sent). Without a verb, the jobs are "
            "listed. 'resume' pushes what is not committed yet: from the same file, for a job "
            "started with 'connectorkit push'. A job whose rows came in a request resumes by "
            "sending that request again with its job_id."
        ),
        handler=_jobs,
        examples=[
            "connectorkit jobs",
            "connectorkit jobs show 4f1c…",
            "connectorkit jobs resume 4f1c… --unknown-batches skip --wait",
            "connectorkit jobs forget 4f1c…",
        ],
    )
    add_store_options(sub)
    verbs = sub.add_subparsers(dest="verb", metavar="VERB", parser_class=type(sub))
    registry.add_verb(verbs, "list", "the jobs, newest first", examples=["connectorkit jobs list"])
    show = registry.add_verb(
        verbs,
        "show",
        "one job: its target, its rows file, its batches by status",
        examples=["connectorkit jobs show 4f1c… --json"],
    )
    resume = registry.add_verb(
        verbs,
        "resume",
        "push what a job has not committed yet, from its file",
        description=(
            "Push the batches of a job that are not committed yet, reading the rows again from "
            "the file 'connectorkit push' was given. The connection is the one the push used "
            "(its name or file), unless --connection says another. Batches whose fate is "
            "unknown need --unknown-batches: resend (their rows may be stored twice) or skip "
            "(their rows may be missing)."
        ),
        examples=[
            "connectorkit jobs resume 4f1c… --unknown-batches skip",
            "connectorkit jobs resume 4f1c… --connection emulator --wait",
        ],
    )
    forget = registry.add_verb(
        verbs, "forget", "remove a job's ledger", examples=["connectorkit jobs forget 4f1c…"]
    )
    for verb in (show, resume, forget):
        verb.add_argument("job_id", metavar="JOB_ID", help="the job (see: connectorkit jobs)")
    resume.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="the connection to use (default: the one the push used)",
    )
    resume.add_argument(
        "--unknown-batches", choices=("resend", "skip"), help="what to do with unknown batches"
    )
    resume.add_argument("--wait", action="store_true", help="wait out long pauses")
    resume.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    for verb in (verbs.choices["list"], show, resume, forget):
        add_store_options(verb, verb=True)


def _jobs(args: argparse.Namespace) -> int:
    from connectorkit.call._run import Runner  # noqa: PLC0415

    configure_logging(quiet=True)  # a resume's progress says what the runtime's log would
    voice = Voice(as_json=args.json)
    verb = args.verb or "list"
    runner = Runner(state_url=args.state)
    try:
        book = runner.jobs
        if verb == "list":
            return _list(voice, book, runner.state.store.url)
        about = book.about(args.job_id)
        if about is None:
            return voice.fail(
                InvalidRequest(
                    f"there is no job {args.job_id!r} in {runner.state.store.url}; "
                    "`connectorkit jobs` lists the jobs",
                    details=[{"field": "JOB_ID", "message": "no such job"}],
                )
            )
        if verb == "show":
            return _show(voice, book, args.job_id, about)
        if verb == "forget":
            book.forget(args.job_id)
            return voice.done({"forgot": args.job_id}, f"forgot job {args.job_id}")
    finally:
        runner.close()
    return _resume(args, about, voice)


def _list(voice: Voice, book: JobLedger, where: str) -> int:
    from connectorkit.bulk._jobs import job_summary  # noqa: PLC0415

    jobs = []
    for job_id in book.job_ids():
        about = book.about(job_id) or {}
        jobs.append({"job_id": job_id, **job_summary(about, book.batches(job_id))})
    if not jobs:
        return voice.empty([], f"no push jobs in {where}")
    jobs.sort(key=lambda j: j.get("created") or 0, reverse=True)

    def text(style: Style) -> str:
        from connectorkit.cli._render import table  # noqa: PLC0415

        rows = [
            {
                "job_id": job["job_id"],
                "started": _when(job["created"]),
                "action": job["action"],
                "state": job["state"],
                "committed": f"{_committed(job):,} rows",
                "target": _target(job["inputs"]),
            }
            for job in jobs
        ]
        return table(rows, style, right=("committed",))

    return voice.done(jobs, text)


def _show(voice: Voice, book: JobLedger, job_id: str, about: dict[str, Any]) -> int:
    from connectorkit.bulk._jobs import job_summary  # noqa: PLC0415

    batches = book.batches(job_id)
    summary = job_summary(about, batches)
    ledger = [{"batch": n, **e} for n, e in batches.items()]
    result = {"job_id": job_id, **summary, "ledger": ledger}

    def text(style: Style) -> str:
        from connectorkit.cli._render import table  # noqa: PLC0415

        lines = [
            style.bold(f"job {job_id}") + f": {summary['action']}, {summary['state']}, "
            f"started {_when(about.get('created'))}",
            f"  target  {_target(summary['inputs'])}",
        ]
        if about.get("rows_file"):
            lines.append(f"  rows    {about['rows_file']}")
        counts = [
            {"status": status, "batches": c["batches"], "rows": f"{c['rows']:,}"}
            for status, c in sorted(summary["batches"].items())
        ]
        if counts:
            lines += ["", table(counts, style, right=("batches", "rows"))]
        else:
            lines.append("  no batch has been sent yet")
        unknown = [n for n, e in batches.items() if e.get("status") == "unknown"]
        if unknown:
            shown = ", ".join(map(str, unknown[:10])) + (" …" if len(unknown) > 10 else "")  # noqa: PLR2004
            lines.append(
                f"the fate of batch(es) {shown} is unknown: resume with --unknown-batches "
                "resend (their rows may be stored twice) or skip (they may be missing)"
            )
        return "\n".join(lines)

    return voice.done(result, text)


def _resume(args: argparse.Namespace, about: dict[str, Any], voice: Voice) -> int:
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli.commands.push import push_rows  # noqa: PLC0415
    from connectorkit.core._errors import ConnectorError  # noqa: PLC0415

    if about.get("to") == "lakehouse":
        return _resume_load(args, about, voice)
    if not about.get("rows_file"):
        return voice.fail(
            InvalidRequest(
                f"job {args.job_id}'s rows came in a request, not from a file: resume it by "
                f'sending that request again with "job_id": "{args.job_id}"'
            )
        )
    connection_text = args.connection or about.get("connection")
    if not connection_text:
        return voice.fail(
            InvalidRequest(
                "say which connection to resume with: --connection NAME|FILE",
                details=[{"field": "--connection", "message": "is required for this job"}],
            )
        )
    try:
        source = connection_source(connection_text)
    except ConnectorError as exc:
        return voice.fail(exc)
    inputs = {**about.get("inputs", {}), "job_id": args.job_id}
    voice.action = str(about.get("action") or "create_rows")
    if args.unknown_batches:
        inputs["unknown_batches"] = args.unknown_batches
    return push_rows(
        str(about.get("action") or "create_rows"),
        inputs,
        source,
        str(about["rows_file"]),
        file_format=about.get("rows_format"),
        pack_dir=args.pack,
        state_url=args.state,
        wait=args.wait,
        quiet=args.quiet,
        voice=voice,
    )


def _resume_load(args: argparse.Namespace, about: dict[str, Any], voice: Voice) -> int:
    """Resume a job of ``push --to lakehouse``: follow its load, or write and load its file."""
    from connectorkit.cli._common import pack_folder  # noqa: PLC0415
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._lakehouse import ACTION, push_to_lakehouse  # noqa: PLC0415
    from connectorkit.core._errors import ConnectorError  # noqa: PLC0415
    from connectorkit.core._settings import settings  # noqa: PLC0415

    try:
        source = connection_source(args.connection or about.get("connection"))
    except ConnectorError as exc:
        return voice.fail(exc)
    voice.action = ACTION
    pack_dir = args.pack
    if pack_dir is None and settings().pack is None:
        pack_dir = pack_folder("fabric")  # the bundled pack with the action
    return push_to_lakehouse(
        about.get("inputs", {}),
        source,
        str(about.get("rows_file")),
        job_id=args.job_id,
        file_format=about.get("rows_format"),
        pack_dir=pack_dir,
        state_url=args.state,
        quiet=args.quiet,
        voice=voice,
    )


def _committed(job: dict[str, Any]) -> int:
    return int(job["batches"].get("committed", {}).get("rows", 0))


def _when(stamp: Any) -> str:
    from connectorkit.cli._render import local_time  # noqa: PLC0415

    return local_time(stamp, date=True) if isinstance(stamp, int | float) else "?"


def _target(inputs: dict[str, Any]) -> str:
    keys = ("group_id", "dataset_id", "table_name")
    return " ".join(f"{k}={inputs[k]}" for k in keys if inputs.get(k))
