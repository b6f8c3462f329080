"""``connectorkit push``: rows from a CSV, NDJSON or JSON file (or stdin) into a batch action.

For people: progress on stderr (one bar redrawn in place on a terminal, a line per batch
elsewhere), then the result's key facts; a problem in a row is named by its line in the file.
``--json``: the protocol's envelope, as ``invoke`` prints it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.cli._progress import LiveLine
from connectorkit.cli._voice import Voice, add_json_option
from connectorkit.core._errors import ConnectorError, InvalidInput

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from connectorkit.bulk._rowsource import RowFile
    from connectorkit.cli._common import Registry
    from connectorkit.cli._connection_arg import ConnectionSource

__all__ = ["push_rows"]


def register(registry: Registry) -> None:
    """Add ``push``."""
    sub = registry.add(
        "push",
        "push the rows of a CSV, NDJSON or JSON file into a table (create_rows), as a job",
        description=(
            "Read rows from FILE (or '-' for stdin) one at a time, check them against the "
            "table's columns, and send them with create_rows: batches of at most 10,000 rows "
            "and 16 MB, five in flight, paced by the shared rate budgets. Memory stays flat "
            "however long the file. A row that does not fit is named by its line in the file. "
            "The push is a job: if it stops, 'connectorkit jobs resume JOB_ID' (or the same "
            "command with --job-id) sends only what is not yet committed. Progress goes to "
            "stderr, the result to stdout (--json: the envelope invoke prints)."
        ),
        handler=_push,
        examples=[
            "connectorkit push rows.csv dataset_id=… table_name=Sales --connection emulator",
            "gzip -dc big.ndjson.gz | connectorkit push - dataset_id=… table_name=Sales -c sales",
            "connectorkit push rows.csv dataset_id=… table_name=Sales -c emulator --json",
            "connectorkit push rows.csv --to lakehouse workspace_id=… lakehouse_id=… table_name=S",
        ],
    )
    sub.add_argument(
        "file", metavar="FILE", help="the rows: a .csv, .ndjson/.jsonl or .json file, or -"
    )
    sub.add_argument(
        "inputs", nargs="*", metavar="KEY=VALUE", help="the action's other inputs (dataset_id=…)"
    )
    sub.add_argument(
        "--action", default="create_rows", help="the batch action (default create_rows)"
    )
    sub.add_argument(
        "--to",
        choices=("dataset", "lakehouse"),
        default="dataset",
        help="dataset (default): a push dataset's table, in batches (create_rows); lakehouse: a "
        "Lakehouse table, as one file loaded by load_rows_into_table (default pack: fabric)",
    )
    sub.add_argument("--format", choices=("csv", "ndjson", "json"), help="the file's format")
    sub.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="a JSON file holding the request's connection (NAME finds ./NAME.json), or a "
        "stored connection's name (default: $CONNECTORKIT_CONNECTION)",
    )
    sub.add_argument("--job-id", help="resume this job (or name a new one)")
    sub.add_argument(
        "--unknown-batches",
        choices=("resend", "skip"),
        help="when resuming: what to do with batches whose fate is unknown",
    )
    sub.add_argument(
        "--wait",
        action="store_true",
        help="wait out a long pause (hourly cap, long Retry-After) instead of returning",
    )
    add_json_option(sub)
    add_state_option(sub)
    add_pack_option(sub)
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    # KEY=VALUE inputs may also come after the options (push FILE --connection X top=1).
    sub.set_defaults(loose_positionals="inputs")


def _push(args: argparse.Namespace) -> int:
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._inputs import parse_assignments  # noqa: PLC0415

    configure_logging(quiet=True)  # the progress says what the runtime's log would
    if args.to == "lakehouse":
        return _to_lakehouse(args)
    voice = Voice(as_json=args.json, quiet=args.quiet, action=args.action)
    try:
        pack = load(args.pack)
        inputs = parse_assignments(pack.actions.get(args.action), args.inputs)
        source = connection_source(args.connection)
    except ConnectorError as exc:
        return voice.fail(exc)
    if args.job_id:
        inputs["job_id"] = args.job_id
    if args.unknown_batches:
        inputs["unknown_batches"] = args.unknown_batches
    return push_rows(
        args.action,
        inputs,
        source,
        args.file,
        file_format=args.format,
        pack_dir=args.pack,
        state_url=args.state,
        wait=args.wait,
        quiet=args.quiet,
        voice=voice,
    )


def _to_lakehouse(args: argparse.Namespace) -> int:
    from connectorkit.cli._common import pack_folder  # noqa: PLC0415
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._inputs import parse_assignments  # noqa: PLC0415
    from connectorkit.cli._lakehouse import ACTION, push_to_lakehouse  # noqa: PLC0415
    from connectorkit.core._settings import settings  # noqa: PLC0415

    voice = Voice(as_json=args.json, quiet=args.quiet, action=ACTION)
    pack_dir = args.pack
    if pack_dir is None and settings().pack is None:
        pack_dir = pack_folder("fabric")
    try:
        pack = load(pack_dir)
        inputs = parse_assignments(pack.actions.get(ACTION), args.inputs)
        source = connection_source(args.connection)
    except ConnectorError as exc:
        return voice.fail(exc)
    return push_to_lakehouse(
        inputs,
        source,
        args.file,
        job_id=args.job_id,
        file_format=args.format,
        pack_dir=pack_dir,
        state_url=args.state,
        quiet=args.quiet,
        voice=voice,
    )


def push_rows(
    action: str,
    inputs: Mapping[str, Any],
    source: ConnectionSource,
    path: str,
    *,
    file_format: str | None = None,
    pack_dir: Path | None = None,
    state_url: str | None = None,
    wait: bool = False,
    quiet: bool = False,
    voice: Voice | None = None,
) -> int:
    """Push the rows of ``path`` with ``action``; say how it went; the exit code."""
    from connectorkit.bulk._rowsource import FileRows, RowFile  # noqa: PLC0415
    from connectorkit.call._entry import call  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415

    voice = voice or Voice()
    try:
        pack = load(pack_dir)
    except ConnectorError as exc:
        return voice.fail(exc)
    if source.connection is None:
        return voice.fail(
            InvalidInput(
                "say which connection to push with: --connection NAME|FILE",
                details=[{"field": "--connection", "message": "is required"}],
            )
        )
    with tempfile.TemporaryDirectory(prefix="connectorkit-push-") as spool:
        if path == "-":  # kept in a file meanwhile, which the rows are read from
            path = str(Path(spool) / "stdin")
            with Path(path).open("wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        elif not Path(path).is_file():
            return voice.fail(
                InvalidInput(
                    f"no such file: {path}", details=[{"field": "FILE", "message": "not found"}]
                )
            )
        # The job remembers the connection's name or file (never its values), for `jobs resume`.
        reference = str(source.file.resolve()) if source.file is not None else source.name
        rows_file = RowFile(path, file_format)  # type: ignore[arg-type]
        rows = FileRows(rows_file, note={"connection": reference} if reference else {})
        job_inputs: dict[str, Any] = dict(inputs)
        request = {"action": action, "inputs": job_inputs, "connection": dict(source.connection)}
        # Without --wait the push is this process's one call: a memory ledger dies with it.
        runner = Runner(state_url=state_url, single_call=not wait)
        watch = _Watcher(live=sys.stderr.isatty(), quiet=quiet, label=action)
        response: dict[str, Any] = {}
        try:
            while True:
                response = call(request, pack, runner, rows=rows, watch=watch)
                error = response.get("error") or {}
                if not (wait and error.get("type") == "rate_limited" and error.get("job_id")):
                    break
                pause = float(error.get("retry_after") or 1.0)
                watch.pause(f"paused: the next batch may go in {pause:.0f} s (Ctrl-C stops)")
                runner.sleep(pause)
                job_inputs["job_id"] = error["job_id"]
        finally:
            runner.close()
            watch.close(response.get("result"))
        if response.get("token") and source.save_token(response["token"]):
            voice.note(f"the new token is saved in {source.file}")
        if not response.get("ok"):
            return _failed(voice, response, rows_file)
    return _done(voice, response, watch)


def _done(voice: Voice, response: dict[str, Any], watch: _Watcher) -> int:
    from connectorkit.cli._render import meta_text, result_text  # noqa: PLC0415

    if voice.as_json:
        return voice.envelope(response, 0)
    code = voice.done(response.get("result"), lambda style: result_text(response["result"], style))
    rate = watch.rate
    meta = response.get("meta") or {}
    said = meta_text(meta) if meta else ""
    if rate is not None:
        said = f"{rate:,.0f} rows/s, " + said
    voice.note(said)
    return code


def _failed(voice: Voice, response: dict[str, Any], rows_file: RowFile) -> int:
    """The error, its rows named by their line in the file as well as their position."""
    import re  # noqa: PLC0415

    from connectorkit.bulk._rowsource import line_numbers  # noqa: PLC0415
    from connectorkit.core._errors import EXIT_CODES  # noqa: PLC0415

    error = dict(response["error"])
    details = [dict(d) for d in error.get("details") or [] if isinstance(d, dict)]
    positions = {
        int(m.group(1))
        for d in details
        if "line" not in d and (m := re.match(r"rows\[(\d+)\]", str(d.get("field", ""))))
    }
    lines = line_numbers(rows_file, positions) if positions else {}
    for detail in details:
        found = re.match(r"rows\[(\d+)\]", str(detail.get("field", "")))
        if found and "line" not in detail and int(found.group(1)) in lines:
            detail["line"] = lines[int(found.group(1))]
    if details:
        error["details"] = details
    code = EXIT_CODES.get(str(error.get("type")), 3)
    if voice.as_json:
        return voice.envelope({**response, "error": error}, code)
    name = Path(rows_file.path).name if rows_file.path != "-" else "stdin"
    for detail in details:
        if "line" in detail:
            column = str(detail.get("field", "")).partition("].")[2]
            detail["field"] = f"{name} line {detail['line']}" + (f", {column}" if column else "")
    return voice.failed({**error, "details": details}, code)


class _Watcher:
    """Progress on stderr: one bar redrawn in place on a terminal, a line per batch elsewhere.

    The bar's last frame and the summary after it use the same numbers: the last report.
    """

    def __init__(self, *, live: bool, quiet: bool, label: str) -> None:
        self.quiet = quiet
        self.label = label
        self.last: Mapping[str, Any] | None = None
        self._line = LiveLine(sys.stderr, live=live)
        self._started = time.monotonic()

    @property
    def rate(self) -> float | None:
        """Rows committed per second, as the last report said."""
        return float(self.last["rate"]) if self.last else None

    def __call__(self, progress: Mapping[str, Any]) -> None:
        self.last = progress
        if not self.quiet:
            self._draw(progress)

    def pause(self, text: str) -> None:
        """A note between frames (the bar is taken off its line first)."""
        self._line.note(text)

    def close(self, result: Any) -> None:
        """Leave the last frame (with the final numbers) on its own line."""
        if self._line.drawn and self.last is not None:
            final = dict(self.last)
            if isinstance(result, dict) and isinstance(result.get("committed"), int):
                final["committed"] = result["committed"]
                final["in_flight"] = 0
            self._draw(final)
            self._line.end()

    def _frame(self, progress: Mapping[str, Any]) -> str:
        committed, total = int(progress["committed"]), progress.get("total")
        of = f" of {total:,}" if total else ""
        share = f" ({committed / total:.0%})" if total else ""
        elapsed = time.monotonic() - self._started
        return (
            f"{self.label}: {committed:,}{of} rows committed{share}, "
            f"{progress['rate']:,.0f} rows/s, {progress['in_flight']} in flight, {elapsed:.1f} s"
        )

    def _draw(self, progress: Mapping[str, Any]) -> None:
        committed, total = int(progress["committed"]), progress.get("total")
        self._line.show(self._frame(progress), committed / total if total else None)
