"""``connectorkit push``: rows from a CSV, NDJSON or JSON file (or stdin) into a batch action."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.core._errors import ConnectorError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from connectorkit.cli._common import Registry

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
            "however long the file. The push is a job: if it stops, 'connectorkit jobs resume "
            "JOB_ID' (or the same command with --job-id) sends only what is not yet committed. "
            "The result is one JSON envelope on stdout, as invoke prints; progress goes to "
            "stderr."
        ),
        handler=_push,
        examples=[
            "connectorkit push sales.csv dataset_id=… table_name=Sales --connection emulator",
            "gzip -dc big.ndjson.gz | connectorkit push - dataset_id=… table_name=Sales --wait",
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
    sub.add_argument("--format", choices=("csv", "ndjson", "json"), help="the file's format")
    sub.add_argument(
        "--connection",
        metavar="NAME|FILE",
        required=True,
        help="a stored connection's name, or a JSON file holding the request's connection",
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
    add_state_option(sub)
    add_pack_option(sub)
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    # KEY=VALUE inputs may also come after the options (push FILE --connection X top=1).
    sub.set_defaults(loose_positionals="inputs")


def _push(args: argparse.Namespace) -> int:
    configure_logging(quiet=args.quiet)
    inputs: dict[str, Any] = {}
    for item in args.inputs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _fail(f"inputs are KEY=VALUE, not {item!r}")
        inputs[key] = _value(value)
    if args.job_id:
        inputs["job_id"] = args.job_id
    if args.unknown_batches:
        inputs["unknown_batches"] = args.unknown_batches
    connection = _connection(args.connection)
    if isinstance(connection, str):
        return _fail(connection)
    return push_rows(
        args.action,
        inputs,
        connection,
        args.file,
        file_format=args.format,
        pack_dir=args.pack,
        state_url=args.state,
        wait=args.wait,
        quiet=args.quiet,
        connection_ref=args.connection,
    )


def push_rows(
    action: str,
    inputs: Mapping[str, Any],
    connection: Mapping[str, Any],
    path: str,
    *,
    file_format: str | None = None,
    pack_dir: Path | None = None,
    state_url: str | None = None,
    wait: bool = False,
    quiet: bool = False,
    connection_ref: str | None = None,
) -> int:
    """Push the rows of ``path`` with ``action``; print the envelope; the exit code."""
    from connectorkit.bulk._rowsource import FileRows, RowFile  # noqa: PLC0415
    from connectorkit.call._entry import call  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.protocol._protocol import print_response  # noqa: PLC0415

    try:
        pack = load(pack_dir)
    except ConnectorError as exc:
        return _fail(exc.message)
    with tempfile.TemporaryDirectory(prefix="connectorkit-push-") as spool:
        if path == "-":  # read twice (checked, then sent): keep stdin in a file meanwhile
            path = str(Path(spool) / "stdin")
            with Path(path).open("wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        elif not Path(path).is_file():
            return _fail(f"no such file: {path}")
        # The job remembers the connection's name or file (never its values), for `jobs resume`.
        note = {"connection": _reference(connection_ref)} if connection_ref else {}
        rows = FileRows(RowFile(path, file_format), note=note)  # type: ignore[arg-type]
        job_inputs: dict[str, Any] = dict(inputs)
        request = {"action": action, "inputs": job_inputs, "connection": dict(connection)}
        # Without --wait the push is this process's one call: a memory ledger dies with it.
        runner = Runner(state_url=state_url, single_call=not wait)
        watch = _watcher(quiet=quiet)
        try:
            while True:
                response = call(request, pack, runner, rows=rows, watch=watch)
                error = response.get("error") or {}
                if not (wait and error.get("type") == "rate_limited" and error.get("job_id")):
                    break
                pause = float(error.get("retry_after") or 1.0)
                _note(f"paused: the next batch may go in {pause:.0f} s; waiting (Ctrl-C stops)")
                runner.sleep(pause)
                job_inputs["job_id"] = error["job_id"]
        finally:
            runner.close()
            watch.close()
    return print_response(response)


def _connection(text: str) -> dict[str, Any] | str:
    path = Path(text)
    if path.suffix == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"--connection {text}: not a readable JSON file ({exc})"
        if not isinstance(data, dict):
            return f"--connection {text}: the file must hold a JSON object"
        return data
    return {"name": text}


def _reference(text: str) -> str:
    path = Path(text)
    return str(path.resolve()) if path.is_file() else text


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fail(message: str) -> int:
    sys.stderr.write(f"connectorkit push: {message}\n")
    return 2


def _note(message: str) -> None:
    sys.stderr.write(f"connectorkit: {message}\n")
    sys.stderr.flush()


class _Watcher:
    """Progress on stderr: a live bar on a terminal, a line per batch otherwise."""

    def __init__(self, *, live: bool, quiet: bool) -> None:
        self.live = live
        self.quiet = quiet
        self._bar: Any = None

    def __call__(self, progress: Mapping[str, Any]) -> None:
        if self.quiet:
            return
        if not self.live:
            total = progress.get("total")
            of = f" of {total:,}" if total else ""
            _note(
                f"job {progress['job_id']}: {progress['committed']:,}{of} rows committed, "
                f"{progress['in_flight']} in flight, {progress['rate']:,.0f} rows/s"
            )
            return
        if self._bar is None:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415

            self._bar = tqdm(
                total=progress.get("total"), unit="rows", unit_scale=True, file=sys.stderr
            )
        self._bar.n = progress["committed"]
        self._bar.set_postfix(in_flight=progress["in_flight"], refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _watcher(*, quiet: bool) -> _Watcher:
    live = sys.stderr.isatty() and _has_tqdm()
    return _Watcher(live=live, quiet=quiet)


def _has_tqdm() -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec("tqdm") is not None
