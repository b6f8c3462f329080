"""Bulk: a batch action's rows checked, split, sent a few at a time, and kept in a job ledger.

A batch action (``request.batch`` in its YAML) sends one request per slice of an array input.
What this module adds to that, step by step:

1. **Check** every row before anything is sent, against the column types the action's
   ``batch.rows`` block declares (from a ``columns`` input, or from what an earlier action
   remembered about the table). A bad row is named by its position and column; nothing is sent
   unless the caller asked to skip bad rows.
2. **Split** at ``size`` rows or ``max_bytes`` of encoded body, whichever comes first.
3. **Send** with up to ``in_flight`` requests at once (each through the call's sender: retries,
   time budget, shared rate budgets).
4. **Account** for every batch in a job ledger as it lands, so a push that was killed, or that
   paused because the next send was further away than its time budget, resumes from the ledger
   with the same ``job_id``: batches known committed are never sent again, and the caller says
   what to do with batches whose fate is unknown.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from connectorkit.bulk._batching import BodyFrame, BodySpool, placeholder, split_rows
from connectorkit.bulk._pusher import BatchRecord, BatchStatus, Pusher, PushReport
from connectorkit.bulk._rowsource import blocks_of
from connectorkit.core._errors import (
    ConnectorError,
    InvalidInput,
    PartialFailure,
    RateLimited,
)
from connectorkit.core._json import PLAIN_INPUTS
from connectorkit.core._request import RequestSpec
from connectorkit.core._template import placeholders, render_path, render_value
from connectorkit.types._compile import compile_element, compile_rows
from connectorkit.types._issues import row_details

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from concurrent.futures import Future

    from connectorkit.bulk._batching import Batch
    from connectorkit.pack._definitions import BatchDef, DiscoverDef, RowTypesDef
    from connectorkit.state._ledger import JobLedger
    from connectorkit.types._compile import RowsCheck
    from connectorkit.types._issues import Issue

__all__ = [
    "MAX_ROW_REPORTS",
    "BulkPush",
    "ColumnMemory",
    "row_validator",
]

log = logging.getLogger("connectorkit")

MAX_ROW_REPORTS = 20  # bad rows named one by one; the rest are counted
UNKNOWN_CHOICES = ("resend", "skip")


class ColumnMemory(Protocol):
    """What the runtime remembers of the tables it created or changed (columns, retention)."""

    def recall(self, key: str) -> Any:
        """The JSON value remembered under ``key``, if any (None when nothing is)."""

    def remember(self, key: str, value: Any) -> None:
        """Remember ``value`` (JSON) under ``key``."""


def _row_schema(rows_def: RowTypesDef, columns: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for column in columns:
        kind = column.get(rows_def.type_field)
        schema = rows_def.types.get(str(kind))
        # A type the pack has no check for (the service may list one under another name than
        # the pack's; a caller's columns input names only known ones): the column is the
        # table's all the same, and its values go unchecked, for the service to judge.
        properties[str(column.get(rows_def.name_field))] = {} if schema is None else dict(schema)
    return {"type": "object", "properties": properties, "additionalProperties": False}


def row_validator(
    rows_def: RowTypesDef, columns: Iterable[Mapping[str, Any]]
) -> Callable[[Any], list[Issue] | None]:
    """The check of one row against ``columns`` (``[{name, <type field>}]``) and their types."""
    return compile_element(_row_schema(rows_def, columns))


class _RowChecks(msgspec.Struct, frozen=True):
    """A row's check, and (for scalar columns) the check of a whole slice of rows in C."""

    row: Callable[[Any], list[Issue] | None]
    rows: RowsCheck | None


# Rows decided at once by the fast check: a bad one sends only its slice row by row.
_CHECK_SLICE = 10_000


class _Checked(msgspec.Struct):
    """What the check of a push's rows found: how many rows, which were bad and why."""

    count: int = 0
    bad: list[tuple[int, str]] = msgspec.field(default_factory=list)
    details: list[dict[str, Any]] = msgspec.field(default_factory=list)


def _digest(body: bytes) -> str:
    """What a resumed job compares a batch by (BLAKE2b releases the GIL while it works)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


class _Plan(msgspec.Struct):
    """What a push will do: its job, its rows' check, and the batches already settled."""

    job_id: str
    resumed: bool
    done: dict[int, dict[str, Any]]
    unknown_choice: str | None


class BulkPush:
    """One call of a batch action: check, split, send, account (see the module docstring)."""

    def __init__(
        self,
        *,
        label: str,
        batch: BatchDef,
        inputs: Mapping[str, Any],
        spec: Callable[[Mapping[str, Any]], RequestSpec],
        send: Callable[[RequestSpec, Mapping[str, Any] | None], object],
        jobs: JobLedger,
        memory: ColumnMemory | None,
        get: Callable[[str], Any] | None = None,
        rows: Iterable[Any] | None = None,
        watch: Callable[[Mapping[str, Any]], None] | None = None,
        digests: bool = True,
    ) -> None:
        self.label = label
        self.batch = batch
        self.inputs = inputs
        self.spec = spec
        self.send_spec = send
        self.jobs = jobs
        self.memory = memory
        self.get = get
        self.watch = watch
        # Whether batches are digested for the ledger: not when it dies with this call.
        self.digests = digests
        self.total: int | None = None  # rows to push, once counted
        # The rows: the batch input's list, or a stream the command line read from a file.
        self.rows: Iterable[Any] = rows if rows is not None else inputs.get(batch.input) or []
        # The request's own rows, decoded from JSON text: plain JSON values (no proof needed).
        self.plain = rows is None and PLAIN_INPUTS.get()
        if isinstance(self.rows, list):
            self.total = len(self.rows)

    # -- the whole push --------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Push every row; the result, or a contract error saying exactly what was done."""
        name = self.batch.input
        check = self._validator()
        template = self.spec({**self.inputs, name: placeholder()})
        frame = BodyFrame.around(template.json)
        base = template
        base.json, base.has_json = None, False
        base.headers = [*base.headers, ("Content-Type", "application/json")]
        # One pass over the rows: each block is decoded, checked and its good rows encoded into
        # the batches, which wait until every row has been checked (nothing is sent before).
        checked = _Checked()
        batches = split_rows(
            itertools.chain.from_iterable(self._good_rows(check, checked)),
            frame,
            max_rows=self.batch.size,
            max_bytes=self.batch.max_bytes or 2**62,
            field=name,
        )
        spool = BodySpool()
        digests: dict[int, Future[str]] = {}
        with ThreadPoolExecutor(1, thread_name_prefix="digest") as hashing:
            try:
                for batch in batches:
                    spool.add(batch)
                    if self.digests:  # on another core while the next block is decoded
                        digests[batch.number] = hashing.submit(_digest, batch.body)
                skipped = self._refuse_bad_rows(checked)
                return self._push(spool, digests, base, skipped)
            finally:
                spool.close()

    def _push(
        self,
        spool: BodySpool,
        digests: dict[int, Future[str]],
        base: RequestSpec,
        skipped: list[tuple[int, str]],
    ) -> dict[str, Any]:
        """Send the checked batches as the job's plan says; the result."""
        name = self.batch.input
        plan = self._plan()
        total_rows = 0
        started = time.perf_counter()

        def digest_of(number: int) -> str:
            future = digests.get(number)
            return future.result() if future is not None else ""

        def to_send() -> Iterator[Batch]:
            nonlocal total_rows
            for batch in spool:
                total_rows = batch.end
                known = plan.done.get(batch.number)
                if known is not None:
                    digest = digest_of(batch.number) or _digest(batch.body)
                    if _settled(known, digest, plan, batch.number, name):
                        continue
                yield batch

        def send(batch: Batch) -> None:
            # What the batch costs from the rate budgets: its row count stands for its rows.
            cost = {**self.inputs, name: range(batch.count)}
            self.send_spec(_with_body(base, batch.body), cost)

        def record(entry: BatchRecord) -> None:
            fields = entry.to_dict()
            del fields["batch"], fields["status"]
            digest = digest_of(entry.number)
            self.jobs.record(plan.job_id, entry.number, entry.status, **fields, digest=digest)

        def progress(report: PushReport, in_flight: int) -> None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            if self.watch is not None:
                self.watch(
                    {
                        "job_id": plan.job_id,
                        "committed": report.committed_rows,
                        "total": self.total,
                        "batches": report.settled,
                        "in_flight": in_flight,
                        "rate": report.committed_rows / elapsed,
                    }
                )
                return
            log.info(
                "%s: job %s: %d batches settled, %d %s committed (%.0f %s/s, %d in flight)",
                self.label,
                plan.job_id,
                report.settled,
                report.committed_rows,
                name,
                report.committed_rows / elapsed,
                name,
                in_flight,
            )

        pusher = Pusher(
            send,
            in_flight=1 if self._in_order() else self.batch.in_flight,
            on_record=record,
            on_progress=progress,
        )
        report = pusher.run(to_send())
        return self._outcome(report, plan, total_rows, skipped, started)

    def _in_order(self) -> bool:
        """Whether chunks must arrive in their order (asked for, or the table needs it)."""
        in_order = self.batch.in_order
        if in_order is None:
            return False
        if in_order.input is not None and self.inputs.get(in_order.input):
            return True
        if in_order.remembered is None or self.memory is None:
            return False
        key = f"{in_order.remembered}/{_memory_key(in_order.key, self.inputs)}"
        remembered: Any = self.memory.recall(key)
        if remembered in in_order.values:
            log.info("%s: one batch at a time, in order (%s is %s)", self.label, key, remembered)
            return True
        return False

    # -- checking rows ---------------------------------------------------------------------

    def _validator(self) -> _RowChecks | None:
        rows_def = self.batch.rows
        if rows_def is None:
            return None
        columns = None
        if rows_def.columns_input is not None:
            columns = self.inputs.get(rows_def.columns_input)
        key = (
            "columns/" + _memory_key(rows_def.remember, self.inputs) if rows_def.remember else None
        )
        if columns is None and self.memory is not None and key is not None:
            recalled = self.memory.recall(key)
            columns = recalled if isinstance(recalled, list) else None
        if columns is None and rows_def.discover is not None and self.get is not None:
            columns = self._discover(rows_def.discover)
            if columns is not None and self.memory is not None and key is not None:
                self.memory.remember(key, columns)
        if columns is None:
            if self.inputs.get(rows_def.unchecked_input or ""):
                return None
            where = rows_def.columns_input or self.batch.input
            raise InvalidInput(
                f"the table's column types are not known, so the {self.batch.input} cannot be "
                f"checked before sending: give {where}, or allow unchecked rows with "
                f"{rows_def.unchecked_input}",
                details=[{"field": where, "message": "column types unknown"}],
            )
        typed = getattr(self.rows, "typed", None)
        if callable(typed):  # rows from a file: CSV cells take their columns' JSON types
            self.rows = typed(_json_types(rows_def, columns))
        schema = _row_schema(rows_def, columns)
        return _RowChecks(compile_element(schema), compile_rows(schema))

    def _discover(self, discover: DiscoverDef) -> list[dict[str, Any]] | None:
        """The columns the service tells for the table, or None when it does not say."""
        assert self.get is not None  # noqa: S101 - checked by the caller

        body = self.get(render_path(discover.path, self.inputs))
        items = body.get(discover.items) if isinstance(body, dict) else None
        wanted = {k: render_value(t, self.inputs) for k, t in discover.match.items()}
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                columns = item.get(discover.columns)
                return columns if isinstance(columns, list) and columns else None
        if not isinstance(items, list):
            return None
        field = next(iter(placeholders(next(iter(discover.match.values()), ""))), "inputs")
        names = ", ".join(sorted(str(i.get("name")) for i in items if isinstance(i, dict)))
        shown = ", ".join(f"{v}" for v in wanted.values())
        raise InvalidInput(
            f"there is no table {shown!r} here (the service lists: {names or 'none'})",
            details=[{"field": field, "message": "no such table"}],
        )

    def _good_rows(self, checks: _RowChecks | None, checked: _Checked) -> Iterator[list[Any]]:
        """The rows a block at a time, checked; bad ones noted in ``checked`` and left out.

        A block decoded into the table's structures is checked already. Any other block goes
        to the fast check of plain values, and when that does not pass it, row by row through
        the check that names each problem. Once a bad row is found and bad rows are not
        skipped, nothing will be sent: the rest is only checked.
        """
        name = self.batch.input
        rows_def = self.batch.rows
        skip = rows_def is not None and bool(self.inputs.get(rows_def.skip_input or ""))
        decoder = checks.rows if checks is not None else None
        for block in blocks_of(self.rows, decoder, _CHECK_SLICE):
            checked.count = block.first + len(block.rows)
            rows = block.rows
            if checks is None or block.typed:
                if skip or not checked.bad:
                    yield rows
                continue
            if checks.rows is not None and checks.rows(rows, plain=self.plain):
                if skip or not checked.bad:
                    yield rows
                continue
            good = []
            for position, row in enumerate(rows, block.first):
                issues = checks.row(row)
                if not issues:
                    good.append(row)
                    continue
                found = row_details(name, position, issues)
                checked.bad.append(
                    (position, "; ".join(f"{d['field']}: {d['message']}" for d in found))
                )
                if len(checked.details) < MAX_ROW_REPORTS:
                    checked.details.extend(found)
            if skip or not checked.bad:
                yield good

    def _refuse_bad_rows(self, checked: _Checked) -> list[tuple[int, str]]:
        """Every bad row (position, message); raises unless the caller skips bad rows."""
        self.total = checked.count
        rows_def = self.batch.rows
        bad = checked.bad
        if not bad or (rows_def is not None and self.inputs.get(rows_def.skip_input or "")):
            return bad
        name = self.batch.input
        more = f" (the first {MAX_ROW_REPORTS} are listed)" if len(bad) > MAX_ROW_REPORTS else ""
        raise InvalidInput(
            f"{_how_many(len(bad), name)} the table's columns{more}; nothing was sent",
            details=checked.details,
        )

    # -- the job ---------------------------------------------------------------------------

    def _plan(self) -> _Plan:
        job_id = str(self.inputs.get("job_id") or uuid.uuid4())
        about = {
            "action": self.label,
            "inputs": {
                k: v
                for k, v in self.inputs.items()
                if k != self.batch.input and isinstance(v, str | int | float | bool)
            },
            "created": time.time(),
            **dict(getattr(self.rows, "about", None) or {}),
        }
        existing = self.jobs.open(job_id, about)
        done = self.jobs.batches(job_id) if existing is not None else {}
        choice = self.inputs.get("unknown_batches")
        unknown = sorted(n for n, e in done.items() if e.get("status") == "unknown")
        if unknown and choice not in UNKNOWN_CHOICES:
            raise InvalidInput(
                f"job {job_id} has batches whose fate is unknown ({_numbers(unknown)}): the "
                "service may or may not have stored them. Say what to do with Unknown Batches: "
                "'resend' (rows may be stored twice) or 'skip' (rows may be missing)",
                details=[{"field": "unknown_batches", "message": "required to resume this job"}],
            )
        return _Plan(job_id, existing is not None, done, choice if unknown else None)

    def _outcome(
        self,
        report: PushReport,
        plan: _Plan,
        total_rows: int,
        skipped: list[tuple[int, str]],
        started: float,
    ) -> dict[str, Any]:
        name = self.batch.input
        records = report.records
        earlier = [
            BatchRecord(n, int(e["first"]), int(e["count"]), BatchStatus(e["status"]))
            for n, e in plan.done.items()
            if not any(r.number == n for r in records)
        ]
        everything = sorted([*records, *earlier], key=lambda r: r.number)
        committed = sum(r.count for r in everything if r.status is BatchStatus.COMMITTED)
        summary: dict[str, Any] = {
            name: total_rows,
            "batches": len(everything),
            "committed": committed,
            "job_id": plan.job_id,
        }
        if plan.resumed:
            summary["resumed"] = True
            summary["sent_now"] = report.committed_rows
        if skipped:
            summary["skipped"] = [{"row": p, "message": m} for p, m in skipped[:MAX_ROW_REPORTS]]
            summary["skipped_count"] = len(skipped)
        rate = report.committed_rows / max(time.perf_counter() - started, 1e-9)
        log.info(
            "%s: job %s: %d of %d %s committed (%.0f/s)",
            self.label,
            plan.job_id,
            committed,
            total_rows,
            name,
            rate,
        )
        state = "done"
        if isinstance(report.error, RateLimited):
            state = "paused"
        elif report.error is not None:
            state = "stopped"
        ending = {"at": time.time(), "state": state, "rows": total_rows, "committed": committed}
        self.jobs.ended(plan.job_id, {**ending, "batches": len(everything)})
        if isinstance(report.error, RateLimited):
            wait = report.error.retry_after
            raise RateLimited(
                f"paused: {committed} of {total_rows} {name} committed; the next batch may be "
                f"sent in {wait or 0:.0f} s, past this call's time budget. Send the same request "
                f"with job_id {plan.job_id!r} then; committed batches are not sent again",
                retry_after=wait,
                details=[r.to_dict() for r in everything],
                job_id=plan.job_id,
                committed=committed,
                total=total_rows,
            )
        if report.error is not None:
            raise _partial(name, plan.job_id, everything, total_rows, report.error)
        return summary


def _json_types(rows_def: RowTypesDef, columns: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Column name -> the JSON type its values have (for converting CSV cells)."""
    out = {}
    for column in columns:
        schema = rows_def.types.get(str(column.get(rows_def.type_field))) or {}
        out[str(column.get(rows_def.name_field))] = str(schema.get("type", "string"))
    return out


def _settled(known: Mapping[str, Any], digest: str, plan: _Plan, number: int, name: str) -> bool:
    """Whether batch ``number`` of a resumed job is left alone (True) or sent (False)."""
    if known.get("digest") and known["digest"] != digest:
        raise InvalidInput(
            f"job {plan.job_id}: batch {number} holds other {name} than when the job ran; resume "
            f"a job with the same {name} in the same order, or start a new job",
            details=[{"field": name, "message": f"batch {number} differs from the job's"}],
        )
    status = known.get("status")
    if status == "committed":
        return True
    return status == "unknown" and plan.unknown_choice == "skip"


def _how_many(bad: int, name: str) -> str:
    """``1 of the rows does not fit`` / ``2 of the rows do not fit``."""
    return f"{bad:,} of the {name} {'does' if bad == 1 else 'do'} not fit"


def _with_body(base: RequestSpec, body: bytes) -> RequestSpec:
    return RequestSpec(
        method=base.method, url=base.url, params=base.params, headers=base.headers, content=body
    )


def _memory_key(templates: tuple[str, ...], values: Mapping[str, Any]) -> str:
    return "/".join(str(render_value(t, values)) for t in templates)


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")  # noqa: PLR2004


def _job_fields(job_id: str, records: list[BatchRecord], total: int) -> dict[str, Any]:
    """What a stopped push reports beside its message: counts, row ranges, a safe resume point.

    ``resume_from`` is the first row no attempt has sent, given only when every batch before it
    was sent (committed or unknown) and none after it was: re-sending ``rows[resume_from:]``
    then neither doubles a committed row nor loses one. With requests in flight a later batch
    may have been sent past a failed one; then there is no such row, and resuming the job is
    the way (it sends exactly the batches not committed).
    """
    committed = sum(r.count for r in records if r.status is BatchStatus.COMMITTED)
    ranges: dict[str, list[list[int]]] = {str(status): [] for status in BatchStatus}
    for record in sorted(records, key=lambda r: r.first):
        spans = ranges[str(record.status)]
        if spans and spans[-1][1] == record.first:
            spans[-1][1] = record.end
        else:
            spans.append([record.first, record.end])
    sent = (BatchStatus.COMMITTED, BatchStatus.UNKNOWN)
    ordered = sorted(records, key=lambda r: r.first)
    gap = next((i for i, r in enumerate(ordered) if r.status not in sent), len(ordered))
    out: dict[str, Any] = {
        "job_id": job_id,
        "committed": committed,
        "total": total,
        "ranges": ranges,
    }
    if all(r.status not in sent for r in ordered[gap:]):
        out["resume_from"] = ordered[gap].first if gap < len(ordered) else total
    return out


def _partial(
    name: str, job_id: str, records: list[BatchRecord], total: int, cause: ConnectorError
) -> ConnectorError:
    committed = sum(r.count for r in records if r.status is BatchStatus.COMMITTED)
    unknown = [r for r in records if r.status is BatchStatus.UNKNOWN]
    if committed == 0 and not unknown:
        return cause  # nothing landed and nothing may have: the plain error says it all
    fields = _job_fields(job_id, records, total)
    advice = [
        f"{name}[{r.first}:{r.end}] may or may not have been committed (check at the service "
        "before sending them again)"
        for r in unknown[:3]
    ]
    if "resume_from" in fields:
        advice.append(f"{name}[{fields['resume_from']}:] were not committed: send them again")
    advice.append(
        f"or send the same request with job_id {job_id!r}: committed batches are not sent again"
    )
    return PartialFailure(
        f"{committed} of {total} {name} committed, then: {cause.message}; " + "; ".join(advice),
        details=[r.to_dict() for r in records],
        **fields,
    )
