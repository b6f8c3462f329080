"""``connectorkit push --to lakehouse``: a file of rows into a Lakehouse table, as a job.

The load is one job of the state store's ledger (one batch: the whole file), so that it
resumes in any process after a stop, even a SIGKILL: the same command with ``--job-id`` (or
``connectorkit jobs resume``) goes on from where the job is.

- The rows are written to the lakehouse's files under the job's own name (``JOB_ID.csv``) by the
  pack's ``load_rows_into_table`` with ``wait: false``, which starts Load Table and hands back
  the operation's handle; the handle is filed in the job at once, and the operation followed.
- Resuming a job whose load has a handle (filed in the job, or found among the state store's
  operations by the job's id) follows that operation: its rows are never loaded twice. A job
  stopped while its file was being written writes the same file again from the start, then
  loads it. A job whose load succeeded says so and sends nothing.

A CSV file is sent as it is; NDJSON and JSON rows are first written as CSV in a temporary
folder (two passes over the file: its columns, then its rows), so memory stays flat.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import load
from connectorkit.cli._progress import LiveLine
from connectorkit.cli._voice import Voice
from connectorkit.core._errors import ConnectorError, InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.cli._connection_arg import ConnectionSource
    from connectorkit.operations._handles import OperationBook
    from connectorkit.pack._definitions import Pack

__all__ = ["ACTION", "push_to_lakehouse"]

ACTION = "load_rows_into_table"
_BATCH = 1  # the job's one batch: the whole file


def push_to_lakehouse(
    inputs: Mapping[str, Any],
    source: ConnectionSource,
    path: str,
    *,
    job_id: str | None = None,
    file_format: str | None = None,
    pack_dir: Path | None = None,
    state_url: str | None = None,
    quiet: bool = False,
    voice: Voice | None = None,
) -> int:
    """Load the rows of ``path`` into the table ``inputs`` name; say how it went; the exit code."""
    from connectorkit.call._run import Runner  # noqa: PLC0415

    voice = voice or Voice(action=ACTION)
    try:
        pack = load(pack_dir)
    except ConnectorError as exc:
        return voice.fail(exc)
    if ACTION not in pack.actions:
        return voice.fail(
            InvalidInput(
                f"the pack '{pack.key}' has no {ACTION} action, which push --to lakehouse "
                "sends (the bundled fabric pack has it)",
                details=[{"field": "--pack", "message": f"has no {ACTION}"}],
            )
        )
    if source.connection is None:
        return voice.fail(
            InvalidInput(
                "say which connection to push with: --connection NAME|FILE",
                details=[{"field": "--connection", "message": "is required"}],
            )
        )
    if path == "-" or not Path(path).is_file():
        where = "standard input cannot be resumed: give a file" if path == "-" else "not found"
        return voice.fail(
            InvalidInput(f"no such file: {path}", details=[{"field": "FILE", "message": where}])
        )
    job = job_id or uuid.uuid4().hex
    runner = Runner(state_url=state_url)
    watch = _Watcher(live=sys.stderr.isatty(), quiet=quiet, label=str(inputs.get("table_name")))
    try:
        with tempfile.TemporaryDirectory(prefix="connectorkit-lakehouse-") as spool:
            response = _Load(pack, runner, source, inputs, job, watch).run(
                Path(path), file_format, Path(spool)
            )
    finally:
        runner.close()
        watch.close()
    return _said(voice, source, response, job)


def _said(voice: Voice, source: ConnectionSource, response: dict[str, Any], job: str) -> int:
    """The push's outcome for people (or its envelope); the exit code."""
    from connectorkit.cli._render import result_text  # noqa: PLC0415
    from connectorkit.core._errors import EXIT_CODES  # noqa: PLC0415

    if response.get("token") and source.save_token(response["token"]):
        voice.note(f"the new token is saved in {source.file}")
    code = 0 if response.get("ok") else EXIT_CODES.get(str(response["error"].get("type")), 3)
    if voice.as_json:
        return voice.envelope(response, code)
    if not response.get("ok"):
        hint = f"resume with: --job-id {job}" if response["error"].get("job_id") else None
        return voice.failed(response["error"], code, hint=hint)
    return voice.done(response["result"], lambda style: result_text(response["result"], style))


class _Load:
    """One push of a file into a table: its job, and the calls that do it."""

    def __init__(  # noqa: PLR0917 - a push's parts
        self,
        pack: Pack,
        runner: Any,
        source: ConnectionSource,
        inputs: Mapping[str, Any],
        job_id: str,
        watch: _Watcher,
    ) -> None:
        self.pack = pack
        self.runner = runner
        self.source = source
        self.inputs = {k: v for k, v in inputs.items() if k not in {"rows", "file", "wait"}}
        self.job_id = job_id
        self.watch = watch
        self.connection = dict(source.connection or {})
        self.rows: int | None = None  # the file's rows, when this process wrote it

    def run(self, path: Path, file_format: str | None, spool: Path) -> dict[str, Any]:
        """The push's response envelope (the action's, or the operation's when followed)."""
        jobs = self.runner.jobs
        reference = str(self.source.file.resolve()) if self.source.file else self.source.name
        about = {
            "action": ACTION,
            "to": "lakehouse",
            "inputs": {**self.inputs, "job_id": self.job_id},
            "rows_file": str(path.resolve()),
            "rows_format": file_format,
            "connection": reference,
            "created": time.time(),
        }
        existing = jobs.open(self.job_id, about)
        if existing is not None:
            refused = self._other_job(existing, about)
            if refused is not None:
                return refused
        entry = jobs.batches(self.job_id).get(_BATCH) or {}
        if entry.get("status") == "committed":
            return self._envelope(
                {**entry.get("result", {}), "job_id": self.job_id, "resumed": True}
            )
        handle = None
        if entry.get("status") != "failed":  # a failed load stored nothing: load again
            handle = entry.get("handle") or _handle_of(self.runner.operations, self.job_id)
        if isinstance(entry.get("rows"), int):
            self.rows = entry["rows"]
        first: dict[str, Any] = {}
        if handle is None:
            first, handle = self._start(path, file_format, spool)
            if handle is None:  # refused, or ended at once
                return first
        else:
            self.watch.note(f"job {self.job_id}: following its load ({handle})")
        return self._follow(handle, first)

    def _start(
        self, path: Path, file_format: str | None, spool: Path
    ) -> tuple[dict[str, Any], str | None]:
        """Write the file and start its load: the response, and the load's handle if running."""
        from connectorkit.call._entry import call  # noqa: PLC0415

        csv_path = _as_csv(path, file_format, spool)
        self.rows = _lines(csv_path) - 1
        inputs = {
            **self.inputs,
            "file": {"path": str(csv_path)},
            "job_id": self.job_id,
            "wait": False,
        }
        first = call(
            {"action": ACTION, "inputs": inputs, "connection": self.connection},
            self.pack,
            self.runner,
            watch=self.watch,
        )
        if not first.get("ok"):
            return first, None
        result = first.get("result") or {}
        operation = result.get("operation") if result.get("status") == "running" else None
        if operation is None:  # ended at once: nothing to follow
            return self._committed(first, handle=None), None
        handle = str(operation["handle"])
        self.runner.jobs.record(self.job_id, _BATCH, "unknown", handle=handle, rows=self.rows)
        return first, handle

    def _follow(self, handle: str, first: dict[str, Any]) -> dict[str, Any]:
        """Follow the load to its end; the job is committed, or failed when the load failed."""
        from connectorkit.call._entry import call  # noqa: PLC0415

        followed = call(
            {"resume": handle, "connection": self.connection, "inputs": {"wait": True}},
            self.pack,
            self.runner,
            watch=self.watch,
        )
        if first.get("token") and not followed.get("token"):
            followed["token"] = first["token"]
        if not followed.get("ok"):
            error = followed.setdefault("error", {})
            error["job_id"] = self.job_id
            if (error.get("operation") or {}).get("status") in {"failed", "cancelled"}:
                self.runner.jobs.record(
                    self.job_id, _BATCH, "failed", handle=handle, rows=self.rows
                )
            return followed
        return self._committed(followed, handle=handle)

    def _other_job(
        self, existing: Mapping[str, Any], about: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """A refusal when ``job_id`` names a job of other rows or another table; else None."""
        if existing.get("action") != ACTION:
            return self._refused(f"job {self.job_id} is a push of {existing.get('action')}")
        for key in ("rows_file", "inputs"):
            if existing.get(key) != about.get(key):
                return self._refused(
                    f"job {self.job_id} loads {existing.get('rows_file')} with other inputs "
                    f"({', '.join(_differing(existing, about))}): resume it as it was started, "
                    "or give a new --job-id"
                )
        return None

    def _committed(self, response: dict[str, Any], handle: str | None) -> dict[str, Any]:
        result = dict(response.get("result") or {})
        result["job_id"] = self.job_id
        if self.rows is not None:
            result["rows"] = self.rows
        info = {"handle": handle, "result": result, "rows": self.rows or 0}
        self.runner.jobs.record(self.job_id, _BATCH, "committed", **info)
        self.runner.jobs.ended(self.job_id, {"status": "committed", "at": time.time()})
        response["result"] = result
        return response

    def _envelope(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "action": ACTION, "result": result, "meta": {}}

    def _refused(self, message: str) -> dict[str, Any]:
        return {
            "ok": False,
            "action": ACTION,
            "error": {
                "type": "invalid_input",
                "message": message,
                "details": [{"field": "--job-id", "message": "names another job"}],
            },
            "meta": {},
        }


def _differing(one: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """The names that differ between two job descriptions (the rows file, or inputs)."""
    found = ["FILE"] if one.get("rows_file") != other.get("rows_file") else []
    mine, theirs = one.get("inputs") or {}, other.get("inputs") or {}
    found += sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
    return found


def _lines(path: Path) -> int:
    """The lines of a file (a line break inside a quoted CSV cell counts as one more)."""
    count = 0
    last = b"\n"
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _handle_of(book: OperationBook, job_id: str) -> str | None:
    """The handle of the job's load, when its operation was filed but the job not told."""
    for record in book.handles(time.time()):
        inputs = record.get("inputs") or {}
        running = record.get("status") in {"running", "succeeded"}
        if record.get("action") == ACTION and inputs.get("job_id") == job_id and running:
            return str(record["handle"])
    return None


def _as_csv(path: Path, file_format: str | None, spool: Path) -> Path:
    """``path`` itself when it is CSV; else its rows written as CSV in ``spool``."""
    from connectorkit.bulk._rowsource import RowFile, detect_format, read_rows  # noqa: PLC0415

    with path.open("rb") as head:
        kind = file_format or detect_format(str(path), head.read(64))
    if kind == "csv":
        return path
    source = RowFile(str(path), kind)  # type: ignore[arg-type]
    columns: dict[str, None] = {}
    for row in read_rows(source, field="FILE"):
        columns.update(dict.fromkeys(row))
    target = spool / f"{path.stem}.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in read_rows(source, field="FILE"):
            writer.writerow([_cell(row.get(name)) for name in columns])
    return target


def _cell(value: Any) -> str:
    import json  # noqa: PLC0415

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class _Watcher:
    """Progress on stderr: the file written, then the load; redrawn in place on a terminal."""

    def __init__(self, *, live: bool, quiet: bool, label: str) -> None:
        self.quiet = quiet
        self.label = label
        self._line = LiveLine(sys.stderr, live=live)
        self._started = time.monotonic()

    def __call__(self, progress: Mapping[str, Any]) -> None:
        if self.quiet:
            return
        staged = progress.get("staged")
        operation = progress.get("operation")
        if isinstance(staged, dict):
            self._show(_written(staged), share=_share(staged))
        elif isinstance(operation, dict):
            said = operation.get("service_status") or operation.get("status")
            percent = operation.get("percent")
            done = f", {percent:.0f} %" if isinstance(percent, int | float) else ""
            self._show(f"loading into {self.label}: {said}{done}", share=None)

    def note(self, text: str) -> None:
        """A line between frames."""
        if not self.quiet:
            self._line.note(text)

    def close(self) -> None:
        """Leave the last frame on its own line."""
        self._line.end()

    def _show(self, text: str, share: float | None) -> None:
        self._line.show(f"{text}, {time.monotonic() - self._started:.1f} s", share)


def _written(staged: Mapping[str, Any]) -> str:
    done = int(staged.get("bytes") or 0) / 1e6
    total = staged.get("total_bytes")
    of = f" of {int(total) / 1e6:,.1f}" if isinstance(total, int) and total else ""
    return f"{done:,.1f}{of} MB written"


def _share(staged: Mapping[str, Any]) -> float | None:
    total = staged.get("total_bytes")
    if not isinstance(total, int) or not total:
        return None
    return min(1.0, int(staged.get("bytes") or 0) / total)
