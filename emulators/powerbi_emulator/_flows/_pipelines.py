"""Deployment pipelines: stages bound to workspaces, and deployments polled to their end.

`POST pipelines/{id}/deployAll` (every dataset, report and dashboard of the source stage)
and `POST pipelines/{id}/deploy` (those listed) answer 202 with the operation; it is
NotStarted, then Executing step by step, then Succeeded or Failed, as
`GET pipelines/{id}/operations/{operationId}` shows. On success the items exist in the
target stage's workspace (created, or overwritten in place), reports bound to the target's
datasets. As in Power BI, creating needs `allowCreateArtifact` and overwriting
`allowOverwriteArtifact`; without them the step, and the deployment, fail.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any, cast

from powerbi_emulator._flows._jobs import Timeline
from powerbi_emulator._http import ApiError, HttpResponse
from powerbi_emulator._store import SEED_IDS, Dashboard, Report, Workspace

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext, Service
    from powerbi_emulator._flows._state import Flows

__all__ = ["HANDLERS", "SEED_PIPELINE", "Deployment", "Pipeline", "Step", "seed_pipelines"]

SEED_PIPELINE = "9d1e11e5-0000-4000-8000-000000000001"
STAGE_NAMES = ("Development", "Test", "Production")
MAX_ITEMS = 300
NOTE_CHARS = 1024
OPERATIONS_LISTED = 20
STATUS = {
    "queued": "NotStarted",
    "running": "Executing",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Failed",
}
KINDS = (("datasets", "DatasetDeployment"), ("reports", "ReportDeployment"),
         ("dashboards", "DashboardDeployment"))  # fmt: skip


@dataclasses.dataclass
class Pipeline:
    """A pipeline: its stages' workspaces, and which item of a stage is which in the next."""

    id: str
    name: str
    description: str
    stages: list[str | None]
    twins: dict[str, str] = dataclasses.field(default_factory=dict)  # item -> next stage's item
    deployed: dict[str, float] = dataclasses.field(default_factory=dict)  # item -> when

    def to_json(self, service: Service, *, stages: bool) -> dict[str, object]:
        """The Pipeline shape, with its stages when asked."""
        body: dict[str, object] = {
            "id": self.id, "displayName": self.name, "description": self.description,
        }  # fmt: skip
        if stages:
            body["stages"] = [self.stage_json(service, order) for order in range(len(self.stages))]
        return body

    def stage_json(self, service: Service, order: int) -> dict[str, object]:
        """The PipelineStage shape."""
        stage: dict[str, object] = {"order": order}
        workspace = service.store.workspaces.get(self.stages[order] or "")
        if workspace is not None:
            stage |= {"workspaceId": workspace.id, "workspaceName": workspace.name}
        return stage


@dataclasses.dataclass
class Step:
    """One item a deployment deploys."""

    kind: str  # datasets, reports, dashboards
    source: str
    source_name: str
    target: str | None
    error: dict[str, str] | None = None


@dataclasses.dataclass
class Deployment:
    """A deploy operation of a pipeline."""

    id: str
    pipeline_id: str
    source_stage: int
    target_stage: int
    timeline: Timeline
    steps: list[Step]
    performed_by: dict[str, object]
    note: str = ""
    new_workspace: str | None = None

    def to_json(self, flows: Flows, *, plan: bool) -> dict[str, object]:
        """The PipelineOperation shape (with its execution plan when asked)."""
        clock, now, timeline = flows.clock, flows.clock.now(), self.timeline
        phase = timeline.phase(now)
        changes = [t for t in (timeline.started, timeline.runs_from, timeline.ends) if t <= now]
        body: dict[str, object] = {
            "id": self.id, "type": "Deploy", "status": STATUS[phase],
            "lastUpdatedTime": clock.isoformat(max(changes)),
        }  # fmt: skip
        if phase != "queued":
            body["executionStartTime"] = clock.isoformat(timeline.runs_from)
        if timeline.finished(now):
            body["executionEndTime"] = clock.isoformat(timeline.ends)
        body |= {
            "sourceStageOrder": self.source_stage,
            "targetStageOrder": self.target_stage,
            "performedBy": self.performed_by,
        }
        if self.note:
            truncated = len(self.note) > NOTE_CHARS
            body["note"] = {"content": self.note[:NOTE_CHARS], "isTruncated": truncated}
        if plan:
            body["executionPlan"] = {"steps": self._steps(flows)}
        new = sum(1 for s in self.steps if s.target is None)
        body["preDeploymentDiffInformation"] = {
            "newArtifactsCount": new,
            "differentArtifactsCount": len(self.steps) - new,
            "noDifferenceArtifactsCount": 0,
        }
        return body

    def _steps(self, flows: Flows) -> list[dict[str, object]]:
        now, timeline = flows.clock.now(), self.timeline
        failing = next((i for i, s in enumerate(self.steps) if s.error), None)
        count = len(self.steps)
        out: list[dict[str, object]] = []
        for index, step in enumerate(self.steps):
            done_at = timeline.runs_from + timeline.running * (index + 1) / max(1, count)
            if timeline.finished(now):
                status = (
                    "Failed"
                    if index == failing
                    else ("NotStarted" if failing is not None and index > failing else "Succeeded")
                )
            elif now < timeline.runs_from:
                status = "NotStarted"
            else:
                started_at = timeline.runs_from + timeline.running * index / max(1, count)
                status = (
                    "Succeeded"
                    if now >= done_at
                    else ("Executing" if now >= started_at else "NotStarted")
                )
            pair: dict[str, object] = {"source": step.source, "sourceDisplayName": step.source_name}
            if step.target is not None:
                pair |= {"target": step.target, "targetDisplayName": step.source_name,
                         "type": step.kind.removesuffix("s").capitalize()}  # fmt: skip
            item: dict[str, object] = {
                "index": index,
                "type": dict(KINDS)[step.kind],
                "status": status,
                "preDeploymentDiffState": "New" if step.target is None else "Different",
                "sourceAndTarget": pair,
                "lastUpdatedTime": flows.clock.isoformat(min(now, done_at)),
            }
            if status == "Failed" and step.error is not None:
                item["error"] = dict(step.error)
            out.append(item)
        return out


def seed_pipelines(now: float) -> dict[str, Pipeline]:
    """The seed pipeline: Development is Sales Analytics, Test is Operations, no Production."""
    del now
    pipeline = Pipeline(
        SEED_PIPELINE, "Sales deployment", "Sales Analytics through test to production",
        [SEED_IDS["sales_analytics"], SEED_IDS["operations"], None],
    )  # fmt: skip
    return {pipeline.id: pipeline}


def _pipeline(ctx: ApiContext) -> Pipeline:
    pipeline = ctx.service.flows.pipelines.get(ctx.params["pipelineId"].lower())
    if pipeline is None:
        raise ApiError(
            404, "PowerBIEntityNotFound", f"Pipeline {ctx.params['pipelineId']} is not found."
        )
    return pipeline


def _expanded(ctx: ApiContext) -> bool:
    return "stages" in ctx.request.query.get("$expand", "").lower()


def _body(ctx: ApiContext) -> dict[str, Any]:
    raw = ctx.json_body()
    if not isinstance(raw, dict):
        raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
    return cast("dict[str, Any]", raw)


async def _list(ctx: ApiContext) -> HttpResponse:
    """Pipelines_GetPipelines."""
    items = [
        p.to_json(ctx.service, stages=_expanded(ctx)) for p in ctx.service.flows.pipelines.values()
    ]
    return HttpResponse.json(200, {"@odata.context": ctx.metadata_url("pipelines"), "value": items})


async def _get(ctx: ApiContext) -> HttpResponse:
    """Pipelines_GetPipeline: with its stages unless `$expand` says otherwise."""
    expand = ctx.request.query.get("$expand", "stages")
    body = _pipeline(ctx).to_json(ctx.service, stages="stages" in expand.lower())
    return HttpResponse.json(200, {"@odata.context": ctx.metadata_url("pipelines/$entity"), **body})


async def _create(ctx: ApiContext) -> HttpResponse:
    """Pipelines_CreatePipeline: three empty stages."""
    body = _body(ctx)
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:  # noqa: PLR2004
        raise ApiError(400, "InvalidRequest", "'displayName' is required (at most 256 characters).")
    description = body.get("description", "")
    pipeline = Pipeline(ctx.service.ids.new(), name, str(description), [None, None, None])
    ctx.service.flows.pipelines[pipeline.id] = pipeline
    return HttpResponse.json(201, pipeline.to_json(ctx.service, stages=False))


async def _delete(ctx: ApiContext) -> HttpResponse:
    """Pipelines_DeletePipeline."""
    del ctx.service.flows.pipelines[_pipeline(ctx).id]
    return HttpResponse(200)


async def _stages(ctx: ApiContext) -> HttpResponse:
    """Pipelines_GetPipelineStages."""
    pipeline = _pipeline(ctx)
    stages = [pipeline.stage_json(ctx.service, order) for order in range(len(pipeline.stages))]
    return HttpResponse.json(200, {"@odata.context": ctx.metadata_url("stages"), "value": stages})


def _stage(ctx: ApiContext, pipeline: Pipeline) -> int:
    raw = ctx.params["stageOrder"]
    if not raw.isdigit() or int(raw) >= len(pipeline.stages):
        raise ApiError(
            400, "InvalidRequest", f"stageOrder must be 0 to {len(pipeline.stages) - 1}."
        )
    return int(raw)


def _items(service: Service, workspace_id: str | None) -> dict[str, list[tuple[str, str]]]:
    """(id, name) of each kind of deployable item in a workspace."""
    store = service.store
    dashboards = [d for d in store.dashboards.values() if d.workspace_id == workspace_id]
    return {
        "datasets": [(d.id, d.name) for d in store.datasets_in(workspace_id)],
        "reports": [(r.id, r.name) for r in store.reports_in(workspace_id)],
        "dashboards": [(d.id, d.name) for d in dashboards],
    }


async def _artifacts(ctx: ApiContext) -> HttpResponse:
    """Pipelines_GetPipelineStageArtifacts: the stage's items and their twins."""
    pipeline = _pipeline(ctx)
    order = _stage(ctx, pipeline)
    sources = {target: source for source, target in pipeline.twins.items()}
    body: dict[str, object] = {"dataflows": [], "datamarts": []}
    for kind, items in _items(ctx.service, pipeline.stages[order]).items():
        listed = []
        for item_id, name in items:
            entry: dict[str, object] = {"artifactId": item_id, "artifactDisplayName": name}
            if item_id in sources:
                entry["sourceArtifactId"] = sources[item_id]
            if item_id in pipeline.twins:
                entry["targetArtifactId"] = pipeline.twins[item_id]
            if item_id in pipeline.deployed:
                entry["lastDeploymentTime"] = ctx.service.clock.isoformat(
                    pipeline.deployed[item_id]
                )
            listed.append(entry)
        body[kind] = listed
    return HttpResponse.json(200, body)


async def _assign(ctx: ApiContext) -> HttpResponse:
    """Pipelines_AssignWorkspace: an empty stage gets a workspace no pipeline has."""
    pipeline = _pipeline(ctx)
    order = _stage(ctx, pipeline)
    workspace_id = _body(ctx).get("workspaceId")
    if (
        not isinstance(workspace_id, str)
        or workspace_id.lower() not in ctx.service.store.workspaces
    ):
        raise ApiError(404, "ItemNotFound", f"Workspace {workspace_id} is not found.")
    if pipeline.stages[order] is not None:
        raise ApiError(400, "InvalidRequest", f"Stage {order} already has a workspace.")
    taken = {w for p in ctx.service.flows.pipelines.values() for w in p.stages if w}
    if workspace_id.lower() in taken:
        raise ApiError(
            400, "InvalidRequest", "The workspace is already assigned to a pipeline stage."
        )
    pipeline.stages[order] = workspace_id.lower()
    return HttpResponse(200)


async def _unassign(ctx: ApiContext) -> HttpResponse:
    """Pipelines_UnassignWorkspace."""
    pipeline = _pipeline(ctx)
    order = _stage(ctx, pipeline)
    if pipeline.stages[order] is None:
        raise ApiError(400, "InvalidRequest", f"Stage {order} has no workspace.")
    pipeline.stages[order] = None
    return HttpResponse(200)


async def _operations(ctx: ApiContext) -> HttpResponse:
    """Pipelines_GetPipelineOperations: the last 20, newest first."""
    pipeline = _pipeline(ctx)
    flows = ctx.service.flows
    mine = [d for d in flows.deployments.values() if d.pipeline_id == pipeline.id]
    mine.sort(key=lambda d: d.timeline.started, reverse=True)
    items = [d.to_json(flows, plan=False) for d in mine[:OPERATIONS_LISTED]]
    return HttpResponse.json(
        200, {"@odata.context": ctx.metadata_url("operations"), "value": items}
    )


async def _operation(ctx: ApiContext) -> HttpResponse:
    """Pipelines_GetPipelineOperation: with its execution plan."""
    pipeline = _pipeline(ctx)
    flows = ctx.service.flows
    deployment = flows.deployments.get(ctx.params["operationId"].lower())
    if deployment is None or deployment.pipeline_id != pipeline.id:
        raise ApiError(
            404, "PowerBIEntityNotFound", f"Operation {ctx.params['operationId']} is not found."
        )
    return HttpResponse.json(200, deployment.to_json(flows, plan=True))


def _allowed(options: dict[str, Any], item_options: object, key: str) -> bool:
    chosen = item_options if isinstance(item_options, dict) else options
    return chosen.get(key) is True


def _chosen(
    body: dict[str, Any], available: dict[str, list[tuple[str, str]]]
) -> dict[str, dict[str, object]]:
    """The items a selective deployment lists, each with its own entry (and options)."""
    chosen: dict[str, dict[str, object]] = {}
    for kind, _ in KINDS:
        requested = body.get(kind, [])
        if not isinstance(requested, list):
            raise ApiError(400, "InvalidRequest", f"'{kind}' must be a list of {{sourceId}}.")
        known = {item_id for item_id, _ in available[kind]}
        for entry in requested:
            source_id = entry.get("sourceId") if isinstance(entry, dict) else None
            if not isinstance(source_id, str) or source_id.lower() not in known:
                raise ApiError(
                    400, "InvalidRequest",
                    f"{kind} item {source_id} is not in the source stage's workspace.",
                )  # fmt: skip
            chosen[source_id.lower()] = cast("dict[str, object]", entry)
    return chosen


def _refusal(step: Step, options: dict[str, Any], item_options: object) -> dict[str, str] | None:
    """The error of a step its options do not allow (creating or overwriting)."""
    if step.target is None and not _allowed(options, item_options, "allowCreateArtifact"):
        return {
            "errorCode": "ArtifactCreationNotAllowed",
            "errorDetails": f"Deploying {step.source_name} creates it in the target stage; set "
            "options.allowCreateArtifact to true.",
        }
    if step.target is not None and not _allowed(options, item_options, "allowOverwriteArtifact"):
        return {
            "errorCode": "ArtifactOverwriteNotAllowed",
            "errorDetails": f"Deploying {step.source_name} overwrites it in the target stage; "
            "set options.allowOverwriteArtifact to true.",
        }
    return None


def _plan(
    ctx: ApiContext, pipeline: Pipeline, source: str, body: dict[str, Any], *, selective: bool
) -> list[Step]:
    """The steps of a deployment, with the error of each step that may not happen."""
    raw_options = body.get("options")
    options = cast("dict[str, Any]", raw_options) if isinstance(raw_options, dict) else {}
    available = _items(ctx.service, source)
    chosen = _chosen(body, available) if selective else {}
    steps: list[Step] = []
    for kind, _ in KINDS:
        for item_id, name in available[kind]:
            if selective and item_id not in chosen:
                continue
            target = pipeline.twins.get(item_id)
            if target is not None and target not in getattr(ctx.service.store, kind):
                target = None  # its twin was deleted since
            step = Step(kind, item_id, name, target)
            step.error = _refusal(step, options, chosen.get(item_id, {}).get("options"))
            steps.append(step)
    _check_dependencies(ctx.service, pipeline, steps)
    if len(steps) > MAX_ITEMS:
        raise ApiError(400, "InvalidRequest", f"At most {MAX_ITEMS} items deploy at once.")
    return steps


def _check_dependencies(service: Service, pipeline: Pipeline, steps: list[Step]) -> None:
    """A report needs its dataset in the target stage: deployed with it, or there already."""
    deployed = {s.source for s in steps}
    for step in steps:
        report = service.store.reports.get(step.source) if step.kind == "reports" else None
        dataset = report.dataset_id if report is not None else None
        if dataset and dataset not in deployed and dataset not in pipeline.twins and not step.error:
            step.error = {
                "errorCode": "MissingDependency",
                "errorDetails": f"Report {step.source_name} needs its dataset in the target "
                "stage; deploy the dataset too.",
            }


async def _deploy(ctx: ApiContext, *, selective: bool) -> HttpResponse:
    pipeline = _pipeline(ctx)
    flows = ctx.service.flows
    body = _body(ctx)
    source_stage = body.get("sourceStageOrder")
    if isinstance(source_stage, bool) or not isinstance(source_stage, int):
        raise ApiError(400, "InvalidRequest", "'sourceStageOrder' is required (0, 1, ...).")
    backward = body.get("isBackwardDeployment", False) is True
    target_stage = source_stage - 1 if backward else source_stage + 1
    if not (0 <= source_stage < len(pipeline.stages) and 0 <= target_stage < len(pipeline.stages)):
        raise ApiError(
            400, "InvalidRequest",
            f"There is no stage to deploy to from stage {source_stage}"
            f"{' backward' if backward else ''}.",
        )  # fmt: skip
    source = pipeline.stages[source_stage]
    if source is None:
        raise ApiError(400, "InvalidRequest", f"Stage {source_stage} has no workspace to deploy.")
    new_workspace = None
    if pipeline.stages[target_stage] is None:
        new = body.get("newWorkspace")
        new_workspace = new.get("name") if isinstance(new, dict) else None
        if not isinstance(new_workspace, str) or not new_workspace.strip():
            raise ApiError(
                400, "InvalidRequest",
                f"Stage {target_stage} has no workspace; give newWorkspace.name to create one.",
            )  # fmt: skip
    now = flows.clock.now()
    busy = [d for d in flows.deployments.values() if d.pipeline_id == pipeline.id]
    if any(not d.timeline.finished(now) for d in busy):
        raise ApiError(
            409, "Conflict", f"Pipeline {pipeline.id} is already deploying; wait for it to end."
        )
    steps = _plan(ctx, pipeline, source, body, selective=selective)
    settings = flows.settings.deployments
    if steps and not any(s.error for s in steps) and flows.take_failure("deployments"):
        steps[0].error = {
            "errorCode": settings.error_code,
            "errorDetails": "The deployment failed.",
        }
    principal = "App" if ctx.grant.principal == "app" else "User"
    performer: dict[str, object] = {"principalType": principal}
    if principal == "User":
        performer["userPrincipalName"] = ctx.caller_name
    deployment = Deployment(
        ctx.service.ids.new(), pipeline.id, source_stage, target_stage,
        Timeline(now, settings.queued_seconds, settings.seconds, any(s.error for s in steps)),
        steps, performer, str(body.get("note", "")), new_workspace,
    )  # fmt: skip
    flows.deployments[deployment.id] = deployment
    service = ctx.service
    flows.completions.at(deployment.timeline.ends, lambda when: _apply(service, deployment, when))
    return HttpResponse.json(202, deployment.to_json(flows, plan=False))


async def _deploy_all(ctx: ApiContext) -> HttpResponse:
    """Pipelines_DeployAll: every item of the source stage (202, the operation)."""
    return await _deploy(ctx, selective=False)


async def _selective_deploy(ctx: ApiContext) -> HttpResponse:
    """Pipelines_SelectiveDeploy: the items listed (202, the operation)."""
    return await _deploy(ctx, selective=True)


def _apply(service: Service, deployment: Deployment, when: float) -> None:
    """A successful deployment ends: copies in the target stage, twins recorded."""
    pipeline = service.flows.pipelines.get(deployment.pipeline_id)
    if pipeline is None or deployment.timeline.fails:
        return
    store = service.store
    target_id = pipeline.stages[deployment.target_stage]
    if target_id is None:
        workspace = Workspace(service.ids.new(), deployment.new_workspace or "Deployed", when)
        store.workspaces[workspace.id] = workspace
        store.group_users[workspace.id] = [dict(u) for u in store.group_users.get(
            pipeline.stages[deployment.source_stage] or "", [])]  # fmt: skip
        pipeline.stages[deployment.target_stage] = target_id = workspace.id
    forward = deployment.target_stage > deployment.source_stage
    links = pipeline.twins if forward else {v: k for k, v in pipeline.twins.items()}
    created = service.clock.isoformat(when)
    for step in deployment.steps:
        copy_id = step.target or service.ids.new()
        if step.kind == "datasets":
            original = store.datasets[step.source]
            store.datasets[copy_id] = dataclasses.replace(
                copy.deepcopy(original), id=copy_id, workspace_id=target_id, created=created
            )
            store.parameters[copy_id] = copy.deepcopy(store.parameters.get(step.source, []))
        elif step.kind == "reports":
            report = store.reports[step.source]
            dataset = links.get(report.dataset_id or "", report.dataset_id)
            store.reports[copy_id] = Report(
                copy_id, report.name, target_id, dataset, report.report_type
            )
        else:
            board = store.dashboards[step.source]
            tiles = [dict(t) for t in board.tiles]
            store.dashboards[copy_id] = Dashboard(copy_id, board.name, target_id, tiles)
        links[step.source] = copy_id
        pipeline.deployed[copy_id] = when
        if forward:
            pipeline.twins[step.source] = copy_id
        else:
            pipeline.twins[copy_id] = step.source
    store.touch(target_id, when)


HANDLERS = {
    "Pipelines_GetPipelines": _list,
    "Pipelines_GetPipeline": _get,
    "Pipelines_CreatePipeline": _create,
    "Pipelines_DeletePipeline": _delete,
    "Pipelines_GetPipelineStages": _stages,
    "Pipelines_GetPipelineStageArtifacts": _artifacts,
    "Pipelines_AssignWorkspace": _assign,
    "Pipelines_UnassignWorkspace": _unassign,
    "Pipelines_GetPipelineOperations": _operations,
    "Pipelines_GetPipelineOperation": _operation,
    "Pipelines_DeployAll": _deploy_all,
    "Pipelines_SelectiveDeploy": _selective_deploy,
}
