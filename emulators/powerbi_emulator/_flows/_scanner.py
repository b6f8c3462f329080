"""The admin scanner: modified workspaces, scans of up to 100 of them, status, result.

Built from the emulator's own workspaces, reports, datasets and dashboards, with the
limits Power BI documents: 30 modified-workspaces requests, 500 getInfo, 10,000 status and
500 result requests an hour, 16 scans running at once (each a 429 with Retry-After).
A scan is NotStarted, Running, then Succeeded (its result kept 24 hours) or Failed.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import TYPE_CHECKING, Any, cast

from powerbi_emulator._flows._jobs import JOB_STATUS, Timeline, parse_utc
from powerbi_emulator._http import ApiError, HttpResponse

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext, Service
    from powerbi_emulator._flows._state import Flows
    from powerbi_emulator._store import Dataset, Workspace

__all__ = ["HANDLERS", "ScanJob"]

MAX_WORKSPACES = 100
RESULT_HOURS = 24
MODIFIED_NEWEST = 30 * 60  # modifiedSince must be at least this long ago
MODIFIED_OLDEST = 30 * 86400  # and at most this long ago
OPTIONS = (
    "lineage",
    "datasourceDetails",
    "datasetSchema",
    "datasetExpressions",
    "getArtifactUsers",
)
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclasses.dataclass
class ScanJob:
    """One scan: the workspaces asked for, its options, and its result once it ended."""

    id: str
    timeline: Timeline
    workspace_ids: list[str]
    options: frozenset[str]
    error_code: str = ""
    result: dict[str, object] | None = None

    def status_json(self, flows: Flows) -> dict[str, object]:
        """The ScanRequest shape."""
        phase = self.timeline.phase(flows.clock.now())
        body: dict[str, object] = {
            "id": self.id,
            "createdDateTime": flows.clock.isoformat(self.timeline.started),
            "status": JOB_STATUS[phase],
        }
        if phase == "failed":
            body["error"] = {"code": self.error_code, "message": "The scan failed."}
        return body


def _flag(ctx: ApiContext, name: str) -> bool:
    raw = ctx.request.query.get(name, "false").lower()
    if raw not in {"true", "false"}:
        raise ApiError(400, "InvalidRequest", f"{name} must be true or false.")
    return raw == "true"


async def _modified(ctx: ApiContext) -> HttpResponse:
    """WorkspaceInfo_GetModifiedWorkspaces: the ids of workspaces changed since a time."""
    flows = ctx.service.flows
    flows.limit("scans.modified_per_hour")
    for name in ("excludePersonalWorkspaces", "excludeInActiveWorkspaces"):
        _flag(ctx, name)  # every emulated workspace is shared and active
    raw = ctx.request.query.get("modifiedSince")
    workspaces = list(ctx.service.store.workspaces.values())
    if raw is not None:
        since, now = parse_utc(raw, "modifiedSince"), flows.clock.now()
        if not now - MODIFIED_OLDEST <= since <= now - MODIFIED_NEWEST:
            raise ApiError(
                400,
                "InvalidRequest",
                "modifiedSince must be between 30 days and 30 minutes before the current time "
                f"({flows.clock.isoformat(now)}).",
            )
        workspaces = [w for w in workspaces if w.modified > since]
    return HttpResponse.json(200, [{"id": w.id} for w in workspaces])


async def _get_info(ctx: ApiContext) -> HttpResponse:
    """WorkspaceInfo_PostWorkspaceInfo: a scan of up to 100 workspaces (202)."""
    flows = ctx.service.flows
    flows.limit("scans.get_info_per_hour")
    body = ctx.json_body()
    requested = body.get("workspaces") if isinstance(body, dict) else None
    if not isinstance(requested, list) or not requested:
        raise ApiError(400, "InvalidRequest", "'workspaces' must be a non-empty list of ids.")
    if len(requested) > MAX_WORKSPACES:
        raise ApiError(
            400,
            "InvalidRequest",
            f"A scan takes at most {MAX_WORKSPACES} workspaces; got {len(requested)}.",
        )
    if not all(isinstance(w, str) and _GUID.fullmatch(w) for w in requested):
        raise ApiError(400, "InvalidRequest", "Every workspace id must be a GUID.")
    options = frozenset(name for name in OPTIONS if _flag(ctx, name))
    settings = flows.settings.scans
    now = flows.clock.now()
    running = [s.timeline.ends for s in flows.scans.values() if not s.timeline.finished(now)]
    if settings.concurrent_scans and len(running) >= settings.concurrent_scans:
        wait = flows.clock.retry_after(min(running) - now)
        raise ApiError(
            429,
            "TooManyRequests",
            f"At most {settings.concurrent_scans} scans may run at once. Retry after {wait} "
            "second(s).",
            headers=[("Retry-After", str(wait))],
        )
    job = ScanJob(
        ctx.service.ids.new(),
        Timeline(now, settings.queued_seconds, settings.seconds),
        [cast("str", w).lower() for w in requested],
        options,
    )
    if flows.take_failure("scans"):
        job.timeline.fails = True
        job.error_code = settings.error_code
    flows.scans[job.id] = job
    service = ctx.service
    flows.completions.at(job.timeline.ends, lambda _when: _finish(service, job))
    return HttpResponse.json(202, job.status_json(flows))


def _scan(ctx: ApiContext) -> ScanJob:
    flows = ctx.service.flows
    job = flows.scans.get(ctx.params["scanId"].lower())
    if job is None or flows.clock.now() >= job.timeline.ends + RESULT_HOURS * 3600:
        raise ApiError(404, "ItemNotFound", f"Scan {ctx.params['scanId']} is not found.")
    return job


async def _status(ctx: ApiContext) -> HttpResponse:
    """WorkspaceInfo_GetScanStatus: NotStarted, Running, then Succeeded or Failed."""
    flows = ctx.service.flows
    flows.limit("scans.status_per_hour")
    return HttpResponse.json(200, _scan(ctx).status_json(flows))


async def _result(ctx: ApiContext) -> HttpResponse:
    """WorkspaceInfo_GetScanResult: the workspaces as they were when the scan ran."""
    flows = ctx.service.flows
    flows.limit("scans.result_per_hour")
    job = _scan(ctx)
    phase = job.timeline.phase(flows.clock.now())
    if phase != "succeeded" or job.result is None:
        raise ApiError(
            400,
            "InvalidRequest",
            f"Scan {job.id} is {JOB_STATUS[phase]}; ask for its result once its status is "
            "Succeeded.",
        )
    return HttpResponse.json(200, job.result)


def _finish(service: Service, job: ScanJob) -> None:
    """The scan ends: a snapshot of the workspaces it names (those that exist)."""
    if job.timeline.fails:
        return
    store = service.store
    datasources: list[dict[str, object]] = []
    workspaces = []
    for workspace_id in job.workspace_ids:
        workspace = store.workspaces.get(workspace_id)
        if workspace is not None:
            workspaces.append(_workspace(service, workspace, job.options, datasources))
    result: dict[str, object] = {"workspaces": workspaces}
    if "datasourceDetails" in job.options:
        result["datasourceInstances"] = datasources
    job.result = result


def _workspace(
    service: Service,
    workspace: Workspace,
    options: frozenset[str],
    sources: list[dict[str, object]],
) -> dict[str, object]:
    store = service.store
    users = "getArtifactUsers" in options
    reports = []
    for report in store.reports_in(workspace.id):
        item: dict[str, Any] = {
            "id": report.id,
            "name": report.name,
            "reportType": report.report_type,
        }
        if report.dataset_id is not None:
            item |= {"datasetId": report.dataset_id, "datasetWorkspaceId": workspace.id}
        if users:
            item["users"] = []
        reports.append(item)
    dashboards = []
    for dashboard in store.dashboards.values():
        if dashboard.workspace_id != workspace.id:
            continue
        tiles = [
            {k: tile[k] for k in ("id", "title", "reportId", "datasetId") if k in tile}
            for tile in dashboard.tiles
        ]
        item = {"id": dashboard.id, "displayName": dashboard.name, "isReadOnly": False,
                "tiles": tiles}  # fmt: skip
        if users:
            item["users"] = []
        dashboards.append(item)
    datasets = [_dataset(service, d, options, sources) for d in store.datasets_in(workspace.id)]
    info: dict[str, object] = {
        "id": workspace.id, "name": workspace.name, "type": "Workspace", "state": "Active",
        "isOnDedicatedCapacity": False, "reports": reports, "dashboards": dashboards,
        "datasets": datasets, "dataflows": [], "datamarts": [],
    }  # fmt: skip
    if users:
        info["users"] = [dict(u) for u in store.group_users.get(workspace.id, [])]
    return info


def _dataset(
    service: Service, dataset: Dataset, options: frozenset[str], sources: list[dict[str, object]]
) -> dict[str, object]:
    item: dict[str, Any] = {
        "id": dataset.id, "name": dataset.name, "configuredBy": dataset.configured_by,
        "CreatedDate": dataset.created, "targetStorageMode": "Abf",
        "ContentProviderType": "RealTime" if dataset.push else "PbixInImportMode",
    }  # fmt: skip
    parameters = service.store.parameters.get(dataset.id, [])
    if "datasetSchema" in options:
        item["tables"] = [
            {"name": t.name, "columns": [c.to_json() for c in t.columns], "measures": [],
             "isHidden": False}
            for t in dataset.tables.values()
        ]  # fmt: skip
    if "datasetExpressions" in options:
        item["expressions"] = [
            {"name": p["name"], "expression": f'"{p["currentValue"]}" meta [IsParameterQuery=true, '
             'Type="Text", IsParameterQueryRequired=true]'}
            for p in parameters
        ]  # fmt: skip
    if "lineage" in options:
        item["upstreamDataflows"] = []
    server = next((p["currentValue"] for p in parameters if p["name"] == "Server"), None)
    if server is not None and not dataset.push:
        source_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"datasource/{server}/{dataset.name}"))
        if "lineage" in options:
            item["datasourceUsages"] = [{"datasourceInstanceId": source_id}]
        if "datasourceDetails" in options and all(s["datasourceId"] != source_id for s in sources):
            sources.append({
                "datasourceType": "Sql", "datasourceId": source_id,
                "connectionDetails": {"server": server, "database": dataset.name},
            })  # fmt: skip
    if "getArtifactUsers" in options:
        item["users"] = []
    return item


HANDLERS = {
    "WorkspaceInfo_GetModifiedWorkspaces": _modified,
    "WorkspaceInfo_PostWorkspaceInfo": _get_info,
    "WorkspaceInfo_GetScanStatus": _status,
    "WorkspaceInfo_GetScanResult": _result,
}
