"""What an action does beyond its first request, as its pack declares it (definitions only).

``long_running``: the first answer starts an operation that is polled to its end. ``pages``: the
answer is one page of a list, and says where the next one is. ``upload``: a large file goes
first to a location the service hands out, in blocks. ``stage``: rows (or a file) written first
as a file, created, appended to in chunks and flushed. ``chunks``: the request (and its
operation) once per slice of a list input, the results merged. The runtime that carries them
out is :mod:`connectorkit.operations`; :func:`multistep_from` builds these from checked YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from connectorkit.types._input import InputDef

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FILE_FACTS",
    "OPERATION_INPUTS",
    "ChunksDef",
    "GatherDef",
    "LongRunningDef",
    "Multistep",
    "OffsetDef",
    "PagesDef",
    "StageColumnsDef",
    "StageDef",
    "StatusDef",
    "StepDef",
    "TokenDef",
    "UploadDef",
    "multistep_from",
    "operation_inputs",
    "step_from",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
# What templates may name of a file input f: {$f.name}, {$f.size}, {$f.content_type}.
FILE_FACTS = frozenset({"name", "size", "content_type"})


@dataclass(frozen=True, slots=True)
class StepDef:
    """One more request of an action: templates of its own, or another action of the pack.

    ``url`` is absolute (rendered from a response: a ``Location`` header, a body field); ``path``
    is under the connection's ``base_url``. With ``action`` the request is that action's, built
    from ``inputs`` (templates); its rate budgets apply.
    """

    method: str = "GET"
    path: str | None = None
    url: str | None = None
    query: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    headers: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    body: Any = None
    has_body: bool = False
    # The body as text (a template), sent as it is rendered (with the headers' Content-Type).
    text: str | None = None
    action: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    # A service of connector.yaml's ``services``: ``path`` is under its base URL.
    service: str | None = None


@dataclass(frozen=True, slots=True)
class StatusDef:
    """Where a poll's answer says how the operation goes, and the service's words for it."""

    at: str
    running: tuple[str, ...] = ()
    succeeded: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()

    def outcome(self, word: str | None) -> str:
        """``running``, ``succeeded``, ``failed`` or ``cancelled`` for the service's ``word``.

        A word the pack does not list counts as running: the operation's timeout bounds it.
        """
        for name in ("succeeded", "failed", "cancelled"):
            if word is not None and word in getattr(self, name):
                return name
        return "running"


@dataclass(frozen=True, slots=True)
class LongRunningDef:
    """A started operation: how it is recognised, polled, ended, read, cancelled."""

    poll: StepDef
    status: StatusDef
    started: frozenset[int] = frozenset({202})
    keep: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    progress: str | None = None
    error: str | None = None
    first_s: float = 5.0
    backoff: float = 1.5
    max_interval_s: float = 60.0
    retry_after_min_s: float = 1.0
    retry_after_max_s: float = 300.0
    result: StepDef | None = None
    cancel: StepDef | None = None
    timeout_s: float | None = None
    wait: bool = True


@dataclass(frozen=True, slots=True)
class TokenDef:
    """A continuation token at ``at`` in a page, sent back as the query parameter ``query``."""

    at: str
    query: str


@dataclass(frozen=True, slots=True)
class OffsetDef:
    """Offsets: ``query`` counts the items already read, ``size_query`` asks for ``size``."""

    query: str
    size: int
    size_query: str | None = None


@dataclass(frozen=True, slots=True)
class PagesDef:
    """An answer that is one page of a list: where its items are, where the next page is."""

    items: str
    next_url: str | None = None
    next_token: TokenDef | None = None
    offset: OffsetDef | None = None
    last: str | None = None
    all: bool = False


@dataclass(frozen=True, slots=True)
class UploadDef:
    """A large file sent first to a location the service hands out, in blocks.

    Above ``above_bytes``, ``location`` asks for a URL (at ``url`` in its answer); the file is
    PUT there in blocks of ``block_size`` with ``put``, the blocks committed with ``commit``
    (``commit.text`` may hold ``{$blocks}``, each block rendered with ``each_block``); then the
    action's own request is sent with ``then`` (templates over ``$upload.url``) in place of
    the file input.
    """

    input: str
    above_bytes: int
    location: StepDef
    url: str
    put: StepDef
    block_size: int = 4 * 1024 * 1024
    commit: StepDef | None = None
    each_block: str = "{$block.id}"
    then: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    mode_input: str | None = None


@dataclass(frozen=True, slots=True)
class StageColumnsDef:
    """Where a table's columns are known, to check rows against before anything is written.

    ``delta_log`` reads one commit of a Delta table's transaction log (``{$delta.version}``,
    its zero-padded number), from the first on: the newest ``metaData`` names the columns, and
    a first commit that is not there means the table does not exist yet. ``types`` maps a
    column type to the small JSON Schema of its values; ``when`` (input -> values) limits the
    check to calls whose inputs hold one of those values (an append, not an overwrite).
    """

    delta_log: StepDef
    types: Mapping[str, Mapping[str, Any]]
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class StageDef:
    """Rows (or a file) written first as a file: created, appended to in chunks, flushed.

    ``rows`` is an array input of objects, written as CSV (a header, then a line per row);
    ``file`` a file input sent as it is. Their templates may name ``{$stage.name}`` (``name``
    over the inputs, else a new file name per call), ``{$chunk.offset}`` (where a chunk
    goes), ``{$stage.size}`` (the file's length) and ``{$stage.rows}``; then the action's
    request is sent with ``then`` in place of the rows.
    """

    rows: str
    create: StepDef
    append: StepDef
    flush: StepDef
    then: Mapping[str, Any]
    file: str | None = None
    chunk_bytes: int = 4 * 1024 * 1024
    columns: StageColumnsDef | None = None
    # The file's name, a template over the inputs; absent (or no value): a new UUID, .csv.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GatherDef:
    """Where a list input's values come from when the caller gives none: another request."""

    step: StepDef
    items: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class ChunksDef:
    """The request (and its operation) once per slice of a list input; the results merged."""

    input: str
    size: int
    at_once: int = 1
    gather: GatherDef | None = None
    merge: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Multistep:
    """Everything an action declares beyond one request (each part absent when not declared)."""

    long_running: LongRunningDef | None = None
    pages: PagesDef | None = None
    upload: UploadDef | None = None
    chunks: ChunksDef | None = None
    stage: StageDef | None = None
    # The request's multipart form (part -> template) and raw body (a file input's template).
    multipart: Mapping[str, Any] = field(default_factory=dict)
    content: str | None = None
    file_result: bool = False

    @property
    def step_actions(self) -> frozenset[str]:
        """The other actions whose requests this one sends (their rate budgets apply)."""
        steps: list[StepDef | None] = []
        if self.long_running is not None:
            running = self.long_running
            steps += [running.poll, running.result, running.cancel]
        if self.upload is not None:
            steps += [self.upload.location, self.upload.put, self.upload.commit]
        if self.stage is not None:
            steps += [self.stage.create, self.stage.append, self.stage.flush]
            if self.stage.columns is not None:
                steps.append(self.stage.columns.delta_log)
        if self.chunks is not None and self.chunks.gather is not None:
            steps.append(self.chunks.gather.step)
        return frozenset(s.action for s in steps if s is not None and s.action is not None)

    @property
    def any(self) -> bool:
        """Whether the action needs the multi-request runtime at all."""
        return bool(
            self.long_running
            or self.pages
            or self.upload
            or self.stage
            or self.chunks
            or self.multipart
            or self.content
            or self.file_result
        )


def step_from(raw: Mapping[str, Any]) -> StepDef:
    """A request block of checked YAML."""
    return StepDef(
        method=str(raw.get("method", "GET")).upper(),
        path=raw.get("path"),
        url=raw.get("url"),
        query=MappingProxyType(dict(raw.get("query") or {})),
        headers=MappingProxyType(dict(raw.get("headers") or {})),
        body=raw.get("body"),
        has_body=raw.get("body") is not None,
        text=raw.get("text"),
        action=raw.get("action"),
        inputs=MappingProxyType(dict(raw.get("inputs") or {})),
        service=raw.get("service"),
    )


def _long_running(raw: Mapping[str, Any]) -> LongRunningDef:
    status = raw["status"]
    interval = raw.get("interval") or {}
    retry_after = raw.get("retry_after") or {}
    standard = LongRunningDef(poll=StepDef(), status=StatusDef(at=""))
    return LongRunningDef(
        poll=step_from(raw["poll"]),
        status=StatusDef(
            at=str(status["at"]),
            **{
                name: tuple(str(w) for w in status.get(name) or ())
                for name in ("running", "succeeded", "failed", "cancelled")
            },
        ),
        started=frozenset(raw.get("started") or standard.started),
        keep=MappingProxyType(dict(raw.get("keep") or {})),
        progress=raw.get("progress"),
        error=raw.get("error"),
        first_s=float(interval.get("first_s", standard.first_s)),
        backoff=float(interval.get("backoff", standard.backoff)),
        max_interval_s=float(interval.get("max_s", standard.max_interval_s)),
        retry_after_min_s=float(retry_after.get("min_s", standard.retry_after_min_s)),
        retry_after_max_s=float(retry_after.get("max_s", standard.retry_after_max_s)),
        result=step_from(raw["result"]) if raw.get("result") else None,
        cancel=step_from(raw["cancel"]) if raw.get("cancel") else None,
        timeout_s=float(raw["timeout_s"]) if raw.get("timeout_s") else None,
        wait=bool(raw.get("wait", True)),
    )


def _pages(raw: Mapping[str, Any]) -> PagesDef:
    token = raw.get("next_token")
    offset = raw.get("offset")
    return PagesDef(
        items=str(raw["items"]),
        next_url=raw.get("next_url"),
        next_token=TokenDef(str(token["at"]), str(token["query"])) if token else None,
        offset=OffsetDef(str(offset["query"]), int(offset["size"]), offset.get("size_query"))
        if offset
        else None,
        last=raw.get("last"),
        all=bool(raw.get("all", False)),
    )


def _upload(raw: Mapping[str, Any]) -> UploadDef:
    blocks = raw["blocks"]
    return UploadDef(
        input=str(raw["input"]),
        above_bytes=int(raw["above_bytes"]),
        location=step_from(raw["location"]),
        url=str(raw["url"]),
        put=step_from(blocks["put"]),
        block_size=int(blocks.get("size", 4 * 1024 * 1024)),
        commit=step_from(blocks["commit"]) if blocks.get("commit") else None,
        each_block=str(blocks.get("each", "{$block.id}")),
        then=MappingProxyType(dict(raw.get("then") or {})),
        mode_input=raw.get("mode_input"),
    )


def _stage(raw: Mapping[str, Any]) -> StageDef:
    columns = raw.get("columns")
    return StageDef(
        rows=str(raw["rows"]),
        create=step_from(raw["create"]),
        append=step_from(raw["append"]),
        flush=step_from(raw["flush"]),
        then=MappingProxyType(dict(raw.get("then") or {})),
        file=raw.get("file"),
        chunk_bytes=int(raw.get("chunk_bytes", 4 * 1024 * 1024)),
        name=raw.get("name"),
        columns=StageColumnsDef(
            delta_log=step_from(columns["delta_log"]),
            types=MappingProxyType({k: dict(v) for k, v in columns["types"].items()}),
            when=MappingProxyType({k: tuple(v) for k, v in (columns.get("when") or {}).items()}),
        )
        if columns
        else None,
    )


def _chunks(raw: Mapping[str, Any]) -> ChunksDef:
    gather = raw.get("gather")
    return ChunksDef(
        input=str(raw["input"]),
        size=int(raw["size"]),
        at_once=int(raw.get("at_once", 1)),
        gather=GatherDef(step_from(gather), str(gather.get("items", "")), gather.get("value"))
        if gather
        else None,
        merge=tuple(raw.get("merge") or ()),
    )


def multistep_from(action: Mapping[str, Any]) -> Multistep:
    """The multi-request parts of a checked action document."""
    request = action.get("request") or {}
    result = action.get("result") or {}
    return Multistep(
        long_running=_long_running(action["long_running"]) if action.get("long_running") else None,
        pages=_pages(action["pages"]) if action.get("pages") else None,
        upload=_upload(action["upload"]) if action.get("upload") else None,
        chunks=_chunks(action["chunks"]) if action.get("chunks") else None,
        stage=_stage(action["stage"]) if action.get("stage") else None,
        multipart=MappingProxyType(dict(request.get("multipart") or {})),
        content=request.get("content"),
        file_result=bool(result.get("file")) or result.get("encoding") == "base64",
    )


# The inputs the runtime gives every action of a kind (a pack may redeclare one: same type).
OPERATION_INPUTS = frozenset(
    {"wait", "save_to", "all_pages", "max_items", "continuation", "stream"}
)


def operation_inputs(multistep: Multistep) -> list[InputDef]:
    """The call inputs an action gets for what it declares: waiting, pages, a file result."""
    found: list[InputDef] = []
    running = multistep.long_running
    if running is not None:
        found.append(
            InputDef(
                key="wait",
                label="Wait",
                type="boolean",
                default=running.wait,
                comments=(
                    "Wait for the operation to end, within the call's Timeout. Off, or when the "
                    "Timeout comes first, the result is {status: running, operation: {handle, "
                    "...}} and the operation goes on: resume the handle later, from any worker."
                ),
            )
        )
    if multistep.file_result:
        found.append(
            InputDef(
                key="save_to",
                label="Save To",
                type="string",
                min_length=1,
                comments=(
                    "A path on the worker's disk to write the file to, streamed (the result "
                    "gives its size, content type and SHA-256). Empty: the file comes back as "
                    "base64 in the result, which only small files may (8 MiB unless "
                    "CONNECTORKIT_MAX_INLINE_FILE_BYTES says otherwise)."
                ),
            )
        )
    pages = multistep.pages
    if pages is not None:
        found += [
            InputDef(
                key="all_pages",
                label="All Pages",
                type="boolean",
                default=pages.all,
                comments=(
                    "Follow the service's pages to the end (within Max Items and the call's "
                    "Timeout) instead of returning the first page. A call that stops early "
                    "returns what it has with a continuation to resume from."
                ),
            ),
            InputDef(
                key="max_items",
                label="Max Items",
                type="integer",
                minimum=1,
                call_input=True,
                comments="The most items to return; the call stops there with a continuation.",
            ),
            InputDef(
                key="continuation",
                label="Continuation",
                type="string",
                min_length=1,
                call_input=True,
                comments=(
                    "Where an earlier call stopped (its result's continuation): this call "
                    "goes on from there, with the same inputs."
                ),
            ),
            InputDef(
                key="stream",
                label="Stream Items",
                type="boolean",
                default=False,
                call_input=True,
                comments=(
                    'invoke and serve: write each item as its own JSON line ({"id", '
                    '"item"}) as it arrives, then the response, whose result counts them: '
                    "for lists too big for one response."
                ),
            ),
        ]
    return found
