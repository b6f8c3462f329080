"""Imports: a .pbix (or .rdl, .xlsx) published into a workspace, over emulated time.

`POST …/imports?datasetDisplayName=…&nameConflict=…` takes the file as multipart/form-data
(streamed: any size, constant memory) or an ImportInfo whose `fileUrl` is a temporary
upload location (`_blob`). It answers 202 with the import id; the import is `Publishing`
for `imports.seconds`, then `Succeeded` (the dataset and report appear in the lists) or
`Failed` (a file that is not what its name says, or a failure set through the control API).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, cast

from powerbi_emulator._flows._blob import BlobError
from powerbi_emulator._flows._jobs import Timeline
from powerbi_emulator._flows._multipart import MultipartScanner, PartInfo
from powerbi_emulator._http import ApiError, BodyError, HttpResponse
from powerbi_emulator._store import Dataset, Report

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext, Service
    from powerbi_emulator._flows._state import Flows

__all__ = ["HANDLERS", "ImportJob"]

NAME_CONFLICTS = ("Ignore", "Abort", "Overwrite", "CreateOrOverwrite", "GenerateUniqueName")
RDL_CONFLICTS = ("Abort", "Overwrite")
KINDS = {".pbix": "pbix", ".rdl": "rdl", ".xlsx": "xlsx", ".json": "json"}
MAX_LOCATION_BYTES = 10 << 30  # the largest .pbix an upload location takes (10 GB)
STATES = {
    "queued": "Publishing",
    "running": "Publishing",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Failed",
}
CORRUPT = "RequestedFileIsEncryptedOrCorrupted"


@dataclasses.dataclass
class ImportJob:
    """One import: what was sent, how it resolves its name, and what it made."""

    id: str
    name: str
    workspace_id: str | None
    created: float
    timeline: Timeline
    kind: str
    conflict: str
    skip_report: bool
    caller: str
    connection_type: str = "import"
    source: str = "Upload"
    overwrite_id: str | None = None
    error: dict[str, str] | None = None
    upload: dict[str, object] = dataclasses.field(default_factory=dict)
    dataset_ids: list[str] = dataclasses.field(default_factory=list)
    report_ids: list[str] = dataclasses.field(default_factory=list)

    def to_json(self, flows: Flows) -> dict[str, object]:
        """The Import shape, as it stands at the emulated now."""
        store = flows.store
        phase = self.timeline.phase(flows.clock.now())
        datasets = [store.datasets[i] for i in self.dataset_ids if i in store.datasets]
        reports = [store.reports[i] for i in self.report_ids if i in store.reports]
        finished = phase in {"succeeded", "failed"}
        body: dict[str, object] = {
            "id": self.id,
            "importState": STATES[phase],
            "createdDateTime": flows.clock.isoformat(self.created),
            "updatedDateTime": flows.clock.isoformat(
                self.timeline.ends if finished else self.created
            ),
            "name": self.name,
            "connectionType": self.connection_type,
            "source": self.source,
            "datasets": [{k: d.to_json()[k] for k in ("id", "name", "webUrl")} for d in datasets],
            "reports": [
                {k: r.to_json()[k] for k in ("id", "name", "webUrl", "embedUrl")} for r in reports
            ],
        }
        if phase == "failed" and self.error is not None:
            body["error"] = dict(self.error)
        return body


async def _list_imports(ctx: ApiContext) -> HttpResponse:
    """Imports_GetImports[InGroup]: every import of the workspace, oldest first."""
    flows = ctx.service.flows
    mine = [job for job in flows.imports.values() if job.workspace_id == ctx.workspace_id]
    return ctx.listing("imports", [job.to_json(flows) for job in mine])


async def _get_import(ctx: ApiContext) -> HttpResponse:
    """Imports_GetImport[InGroup]: Publishing, then Succeeded or Failed."""
    flows = ctx.service.flows
    job = flows.imports.get(ctx.params["importId"].lower())
    if job is None or job.workspace_id != ctx.workspace_id:
        raise ApiError(404, "ItemNotFound", f"Import {ctx.params['importId']} is not found.")
    return HttpResponse.json(200, job.to_json(flows))


async def _upload_location(ctx: ApiContext) -> HttpResponse:
    """Imports_CreateTemporaryUploadLocation[InGroup]: a blob SAS URL to PUT the file to."""
    flows = ctx.service.flows
    url, expires = flows.blobs.create(ctx.request.origin, flows.settings.imports.location_seconds)
    return HttpResponse.json(200, {"Url": url, "ExpirationTime": flows.clock.isoformat(expires)})


def _kind_and_name(display_name: str) -> tuple[str, str]:
    lowered = display_name.lower()
    for extension, kind in KINDS.items():
        if lowered.endswith(extension) and len(display_name) > len(extension):
            return kind, display_name[: -len(extension)]
    return "pbix", display_name


def _conflict(ctx: ApiContext, kind: str) -> str:
    query = ctx.request.query
    raw = query.get("nameConflict")
    allowed = RDL_CONFLICTS if kind == "rdl" else NAME_CONFLICTS
    conflict = raw if raw is not None else allowed[0]
    if conflict not in allowed:
        raise ApiError(
            400,
            "InvalidRequest",
            f"nameConflict must be one of {', '.join(allowed)} for a .{kind} file; got {raw!r}.",
        )
    return conflict


async def _read_upload(ctx: ApiContext) -> PartInfo:
    """The file part of a multipart upload, read as it streams in."""
    request = ctx.request
    limit = ctx.service.flows.settings.imports.upload_limit_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _too_large(int(declared), limit)
    scanner = MultipartScanner(request.headers.get("content-type", ""))
    if request.stream is not None:
        async for chunk in request.stream.chunks():
            scanner.feed(chunk)
            if request.stream.received > limit + 64 * 1024:
                raise _too_large(request.stream.received, limit)
    else:
        scanner.feed(request.body)
    files = [part for part in scanner.close() if part.size]
    if not files:
        raise ApiError(400, "InvalidRequest", "The multipart body carries no file content.")
    part = next((p for p in files if p.filename), files[0])
    if part.size > limit:
        raise _too_large(part.size, limit)
    return part


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "RequestEntityTooLarge",
        f"The file is {size} bytes; a multipart import takes at most {limit}. Upload larger "
        "files to a temporary upload location (imports/createTemporaryUploadLocation) and "
        "import them by fileUrl.",
    )


def _valid(kind: str, head: bytes) -> bool:
    """Whether a file's first bytes are those of its kind (a .pbix or .xlsx is a zip)."""
    if kind in {"pbix", "xlsx"}:
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if kind == "rdl":
        return text.startswith(b"<") or not text
    return text.startswith((b"{", b"[")) or not text


async def _source(ctx: ApiContext, job: ImportJob) -> bytes | None:
    """Read what the request sends; returns the file's first bytes (None: nothing to check)."""
    request = ctx.request
    if request.media_type == "multipart/form-data":
        try:
            part = await _read_upload(ctx)
        except BodyError as exc:
            raise ApiError(400, "InvalidRequest", f"Invalid multipart body: {exc}.") from None
        job.upload = {"filename": part.filename, "bytes": part.size, "sha256": part.sha256}
        ctx.log["upload"] = dict(job.upload)
        return part.head
    if request.media_type != "application/json":
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "Imports take multipart/form-data (a file) or application/json (ImportInfo).",
        )
    info = ctx.json_body()
    data = cast("dict[str, object]", info) if isinstance(info, dict) else {}
    connection = data.get("connectionType", "import")
    if connection not in {"import", "connect"}:
        raise ApiError(400, "InvalidRequest", "connectionType must be import or connect.")
    job.connection_type = str(connection)
    file_url, file_path = data.get("fileUrl"), data.get("filePath")
    if isinstance(file_path, str) and file_path:
        job.source = "OneDrive"
        return None
    if not isinstance(file_url, str) or not file_url:
        raise ApiError(
            400, "InvalidRequest", "An ImportInfo body needs a 'fileUrl' or a 'filePath'."
        )
    try:
        blob = ctx.service.flows.blobs.committed(file_url)
    except BlobError as exc:
        raise ApiError(
            400,
            "InvalidRequest",
            f"fileUrl is not a temporary upload location of this service holding a file "
            f"({exc.code}: {exc.message}).",
        ) from None
    if blob.size > MAX_LOCATION_BYTES:
        raise ApiError(
            400, "InvalidRequest", f"The file is {blob.size} bytes; at most 10 GB can be imported."
        )
    job.source = "Url"
    job.upload = {"bytes": blob.size}
    return blob.head


async def _post_import(ctx: ApiContext) -> HttpResponse:
    """Imports_PostImport[InGroup]: 202 with the import's id; Publishing, then its outcome."""
    service = ctx.service
    flows = service.flows
    display_name = ctx.request.query.get("datasetDisplayName", "")
    if not display_name.strip():
        raise ApiError(400, "InvalidRequest", "The datasetDisplayName query parameter is required.")
    kind, name = _kind_and_name(display_name)
    conflict = _conflict(ctx, kind)
    skip = ctx.request.query.get("skipReport", "false").lower()
    if skip not in {"true", "false"} or (skip == "true" and kind != "pbix"):
        raise ApiError(
            400, "InvalidRequest", "skipReport must be true or false, and only for a .pbix file."
        )
    now = flows.clock.now()
    job = ImportJob(
        service.ids.new(), name, ctx.workspace_id, now,
        Timeline(now, 0.0, flows.settings.imports.seconds), kind, conflict,
        skip == "true", ctx.caller_name,
    )  # fmt: skip
    job.overwrite_id = _check_conflict(service, job)
    head = await _source(ctx, job)
    if head is not None and not _valid(kind, head):
        job.timeline.fails = True
        job.error = {
            "code": CORRUPT,
            "message": f"The uploaded file is not a valid .{kind} file.",
        }
    elif flows.take_failure("imports"):
        job.timeline.fails = True
        code = flows.settings.imports.error_code
        job.error = {"code": code, "message": f"The import failed ({code})."}
    flows.imports[job.id] = job
    flows.completions.at(job.timeline.ends, lambda when: _publish(service, job, when))
    return HttpResponse.json(202, {"id": job.id})


def _same_name(service: Service, job: ImportJob) -> list[str]:
    store = service.store
    if job.kind == "rdl":
        items = [(r.id, r.name) for r in store.reports_in(job.workspace_id)]
        items = [(i, n) for i, n in items if store.reports[i].report_type == "PaginatedReport"]
    else:
        items = [(d.id, d.name) for d in store.datasets_in(job.workspace_id)]
    return [item_id for item_id, name in items if name.casefold() == job.name.casefold()]


def _check_conflict(service: Service, job: ImportJob) -> str | None:
    """What the name conflict mode makes of an existing item; raises its refusals."""
    existing = _same_name(service, job)
    if existing and job.conflict == "Abort":
        raise ApiError(
            409, "DuplicatePackageNameError", f"Content named '{job.name}' already exists."
        )
    if job.conflict == "Overwrite" and len(existing) != 1:
        raise ApiError(
            400,
            "InvalidRequest",
            f"Overwrite needs exactly one existing item named '{job.name}'; found {len(existing)}.",
        )
    if job.conflict == "CreateOrOverwrite" and len(existing) > 1:
        raise ApiError(400, "InvalidRequest", f"More than one item is named '{job.name}'.")
    if job.conflict in {"Overwrite", "CreateOrOverwrite"} and existing:
        return existing[0]
    return None


def _publish(service: Service, job: ImportJob, when: float) -> None:
    """The import ends: on success its report and dataset appear (or are replaced)."""
    if job.timeline.fails:
        return
    store = service.store
    if job.conflict == "GenerateUniqueName" and _same_name(service, job):
        taken = {d.name.casefold() for d in store.datasets_in(job.workspace_id)}
        taken |= {r.name.casefold() for r in store.reports_in(job.workspace_id)}
        job.name = next(
            f"{job.name} ({n})"
            for n in range(1, len(taken) + 2)
            if f"{job.name} ({n})".casefold() not in taken
        )
    created = service.clock.isoformat(when)
    target = job.overwrite_id
    if job.kind == "rdl":
        if target is None or target not in store.reports:
            target = service.ids.new()
        store.reports[target] = Report(target, job.name, job.workspace_id, None, "PaginatedReport")
        job.report_ids.append(target)
    else:
        if target is None or target not in store.datasets:
            target = service.ids.new()
        store.datasets[target] = Dataset(
            target, job.name, job.workspace_id, job.caller, created, push=False, mode="Import"
        )
        job.dataset_ids.append(target)
        bound = [r.id for r in store.reports.values() if r.dataset_id == target]
        if bound:
            job.report_ids.extend(bound)
        elif not job.skip_report:
            report_id = service.ids.new()
            store.reports[report_id] = Report(report_id, job.name, job.workspace_id, target)
            job.report_ids.append(report_id)
    store.touch(job.workspace_id, when)


HANDLERS = {
    "Imports_GetImports": _list_imports,
    "Imports_GetImport": _get_import,
    "Imports_PostImport": _post_import,
    "Imports_CreateTemporaryUploadLocation": _upload_location,
}
