"""Export to file: a job polled with Retry-After and percentComplete, then a real file.

`POST …/reports/{id}/ExportTo` answers 202 with the job (NotStarted). The status poll
answers 202 with `Retry-After` while it is NotStarted or Running (`percentComplete` rising),
then 200: Succeeded with `resourceLocation`, or Failed (with `Retry-After` when the failure
is transient, as the service does when busy). `…/exports/{id}/file` streams the file.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import uuid
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from powerbi_emulator._flows._files import ExportFile, file_for
from powerbi_emulator._flows._jobs import JOB_STATUS, Timeline
from powerbi_emulator._http import ApiError, HttpResponse
from powerbi_emulator._resources import entity_not_found, report_of

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext
    from powerbi_emulator._flows._state import Flows
    from powerbi_emulator._store import Report

__all__ = ["HANDLERS", "ExportJob"]

POWER_BI_FORMATS = ("PDF", "PPTX", "PNG")
PAGINATED_FORMATS = ("PDF", "PPTX", "IMAGE", "XLSX", "DOCX", "CSV", "XML", "MHTML", "ACCESSIBLEPDF")
_REPORT_PATH = re.compile(r"/(exportto|exports/.*)$", re.IGNORECASE)
FILE_HOURS = 24  # how long the file can be fetched


@dataclasses.dataclass
class ExportJob:
    """One export job and the file it makes."""

    id: str
    report_id: str
    report_name: str
    workspace_id: str | None
    format: str
    timeline: Timeline
    file: ExportFile
    retry_after: int | None = None  # on a transient failure

    @property
    def expires(self) -> float:
        """When the job and its file are gone."""
        return self.timeline.started + FILE_HOURS * 3600

    def to_json(self, flows: Flows, location: str) -> dict[str, object]:
        """The Export shape, as it stands at the emulated now."""
        clock, now = flows.clock, flows.clock.now()
        phase = self.timeline.phase(now)
        changes = [self.timeline.started, self.timeline.runs_from, self.timeline.ends]
        body: dict[str, object] = {
            "id": self.id,
            "createdDateTime": clock.isoformat(self.timeline.started),
            "lastActionDateTime": clock.isoformat(max(t for t in changes if t <= now)),
            "reportId": self.report_id,
            "reportName": self.report_name,
            "status": JOB_STATUS[phase],
            "percentComplete": self.timeline.percent(now) if phase != "failed" else 0,
            "expirationTime": clock.isoformat(self.expires),
        }
        if phase == "succeeded":
            body["resourceLocation"] = location
            body["ResourceFileExtension"] = self.file.extension
        return body


def _format(body: dict[str, Any], report: Report) -> str:
    raw = body.get("format")
    if not isinstance(raw, str) or not raw:
        raise ApiError(400, "InvalidRequest", "'format' is required (PDF, PPTX, PNG, ...).")
    fmt = raw.upper()
    paginated = report.report_type == "PaginatedReport"
    allowed = PAGINATED_FORMATS if paginated else POWER_BI_FORMATS
    if fmt not in allowed:
        kind = "a paginated report" if paginated else "a Power BI report"
        raise ApiError(
            400,
            "InvalidRequest",
            f"Format '{raw}' cannot be exported from {kind}; use one of {', '.join(allowed)}.",
        )
    return fmt


def _pages(body: dict[str, Any]) -> int:
    config = body.get("powerBIReportConfiguration")
    if config is None:
        return 1
    pages = config.get("pages") if isinstance(config, dict) else None
    if pages is None:
        return 1
    if not isinstance(pages, list) or not all(
        isinstance(p, dict) and isinstance(p.get("pageName"), str) for p in pages
    ):
        raise ApiError(
            400, "InvalidRequest", "powerBIReportConfiguration.pages must list {pageName} objects."
        )
    return max(1, len(pages))


def _location(ctx: ApiContext, job: ExportJob) -> str:
    base = _REPORT_PATH.sub("", ctx.request.raw_path.rstrip("/"))
    return f"{ctx.request.origin}{base}/exports/{job.id}/file"


async def _export(ctx: ApiContext) -> HttpResponse:
    """Reports_ExportToFile[InGroup]: 202 with the job, NotStarted."""
    flows = ctx.service.flows
    report = report_of(ctx)
    raw = ctx.json_body()
    if not isinstance(raw, dict):
        raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
    body = cast("dict[str, Any]", raw)
    fmt = _format(body, report)
    settings = flows.settings.exports
    export_id = base64.urlsafe_b64encode(uuid.UUID(ctx.service.ids.new()).bytes).decode()
    now = flows.clock.now()
    job = ExportJob(
        export_id.rstrip("="), report.id, report.name, ctx.workspace_id, fmt,
        Timeline(now, settings.queued_seconds, settings.seconds),
        file_for(fmt, report.name, _pages(body), settings.bytes),
    )  # fmt: skip
    if flows.take_failure("exports"):
        job.timeline.fails = True
        job.retry_after = settings.fail_retry_after
    flows.exports[job.id] = job
    return HttpResponse.json(202, job.to_json(flows, _location(ctx, job)))


def _job(ctx: ApiContext) -> ExportJob:
    report = report_of(ctx)
    flows = ctx.service.flows
    job = flows.exports.get(ctx.params["exportId"])
    if job is None or job.report_id != report.id or flows.clock.now() >= job.expires:
        raise entity_not_found("Export", ctx.params["exportId"])
    return job


async def _status(ctx: ApiContext) -> HttpResponse:
    """Reports_GetExportToFileStatus[InGroup]: 202 + Retry-After while running, then 200."""
    flows = ctx.service.flows
    job = _job(ctx)
    phase = job.timeline.phase(flows.clock.now())
    body = job.to_json(flows, _location(ctx, job))
    if phase in {"queued", "running"}:
        wait = flows.clock.retry_after(flows.settings.exports.poll_seconds)
        return HttpResponse.json(202, body, headers=[("Retry-After", str(wait))])
    headers = []
    if phase == "failed" and job.retry_after is not None:
        headers.append(("Retry-After", str(job.retry_after)))
    return HttpResponse.json(200, body, headers=headers)


async def _file(ctx: ApiContext) -> HttpResponse:
    """Reports_GetFileOfExportToFile[InGroup]: the file, streamed, once the job succeeded."""
    job = _job(ctx)
    if job.timeline.phase(ctx.service.flows.clock.now()) != "succeeded":
        raise ApiError(400, "ExportNotCompleted", f"Export {job.id} has not succeeded.")
    name = f"{job.report_name}{job.file.extension}"
    fallback = name.encode("ascii", "replace").decode().replace('"', "'")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    headers = [("content-type", job.file.content_type), ("content-disposition", disposition)]
    ctx.log["file_bytes"] = job.file.length
    return HttpResponse.streamed(200, job.file.length, job.file.chunks(), headers)


HANDLERS = {
    "Reports_ExportToFile": _export,
    "Reports_GetExportToFileStatus": _status,
    "Reports_GetFileOfExportToFile": _file,
}
