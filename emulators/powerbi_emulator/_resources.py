"""Operations the emulator keeps state for, beyond push datasets and the flows (`_flows`).

Parameters, takeover, dashboards and tiles, reports (get, clone, rebind, delete), embed
tokens, and workspaces with their users. Keyed by operation id without its `InGroup` suffix:
one handler serves both routes.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from powerbi_emulator._http import ApiError, HttpResponse
from powerbi_emulator._store import Dashboard, Report, Workspace

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext

__all__ = ["STATEFUL", "entity_not_found", "report_of"]

Handler = Callable[["ApiContext"], Awaitable[HttpResponse]]
EMBED_TOKEN_SECONDS = 3600.0


def entity_not_found(kind: str, entity_id: str) -> ApiError:
    """The 404 the service answers for an unknown report, dashboard or tile."""
    return ApiError(
        404, "PowerBIEntityNotFound", f"{kind} {entity_id} is not found or not accessible."
    )


def _body(ctx: ApiContext) -> dict[str, Any]:
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
    return cast("dict[str, Any]", body)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "InvalidRequest", f"'{key}' is required and must be a string.")
    return value


def _with_context(ctx: ApiContext, entity: str, payload: Mapping[str, object]) -> HttpResponse:
    return HttpResponse.json(200, {"@odata.context": ctx.metadata_url(entity), **payload})


# -- parameters, takeover --------------------------------------------------------------------------


async def _parameters(ctx: ApiContext) -> HttpResponse:
    """Datasets_GetParameters."""
    dataset = ctx.dataset()
    return _with_context(
        ctx, "parameters", {"value": ctx.service.store.parameters.get(dataset.id, [])}
    )


async def _update_parameters(ctx: ApiContext) -> HttpResponse:
    """Datasets_UpdateParameters: every name must exist; values change all at once."""
    dataset = ctx.dataset()
    details = _body(ctx).get("updateDetails")
    if not isinstance(details, list) or not details:
        raise ApiError(400, "InvalidRequest", "'updateDetails' must be a non-empty list.")
    known = {str(p["name"]).casefold(): p for p in ctx.service.store.parameters.get(dataset.id, [])}
    changes: list[tuple[dict[str, object], str]] = []
    for detail in details:
        if not isinstance(detail, dict) or not isinstance(detail.get("name"), str):
            raise ApiError(400, "InvalidRequest", "Each update needs a 'name' and a 'newValue'.")
        parameter = known.get(detail["name"].casefold())
        if parameter is None:
            raise ApiError(
                400,
                "InvalidRequest",
                f"Parameter '{detail['name']}' does not exist in dataset {dataset.id}.",
            )
        changes.append((parameter, str(detail.get("newValue", ""))))
    for parameter, value in changes:
        parameter["currentValue"] = value
    return HttpResponse(200)


async def _take_over(ctx: ApiContext) -> HttpResponse:
    """Datasets_TakeOver: the caller becomes the dataset's owner."""
    ctx.dataset().configured_by = ctx.caller_name
    return HttpResponse(200)


# -- dashboards and tiles ------------------------------------------------------------------------


def _dashboard(ctx: ApiContext) -> Dashboard:
    dashboard_id = ctx.params["dashboardId"]
    dashboard = ctx.service.store.dashboards.get(dashboard_id.lower())
    if dashboard is None or dashboard.workspace_id != ctx.workspace_id:
        raise entity_not_found("Dashboard", dashboard_id)
    return dashboard


async def _dashboards(ctx: ApiContext) -> HttpResponse:
    """Dashboards_GetDashboards."""
    dashboards = ctx.service.store.dashboards.values()
    mine = [d for d in dashboards if d.workspace_id == ctx.workspace_id]
    return _with_context(ctx, "dashboards", {"value": [d.to_json() for d in mine]})


async def _get_dashboard(ctx: ApiContext) -> HttpResponse:
    """Dashboards_GetDashboard."""
    return _with_context(ctx, "dashboards/$entity", _dashboard(ctx).to_json())


async def _add_dashboard(ctx: ApiContext) -> HttpResponse:
    """Dashboards_AddDashboard: an empty dashboard."""
    name = _text(_body(ctx), "name")
    dashboard = Dashboard(ctx.service.ids.new(), name, ctx.workspace_id)
    ctx.service.store.dashboards[dashboard.id] = dashboard
    return _with_context(ctx, "dashboards/$entity", dashboard.to_json())


async def _delete_dashboard(ctx: ApiContext) -> HttpResponse:
    """Dashboards_DeleteDashboard."""
    del ctx.service.store.dashboards[_dashboard(ctx).id]
    return HttpResponse(200)


async def _tiles(ctx: ApiContext) -> HttpResponse:
    """Dashboards_GetTiles."""
    return _with_context(ctx, "tiles", {"value": list(_dashboard(ctx).tiles)})


async def _tile(ctx: ApiContext) -> HttpResponse:
    """Dashboards_GetTile."""
    dashboard = _dashboard(ctx)
    tile_id = ctx.params["tileId"].lower()
    tile = next((t for t in dashboard.tiles if t["id"] == tile_id), None)
    if tile is None:
        raise entity_not_found("Tile", ctx.params["tileId"])
    return _with_context(ctx, "tiles/$entity", tile)


# -- reports -------------------------------------------------------------------------------------


def report_of(ctx: ApiContext) -> Report:
    """The `{reportId}` report of this workspace; raises the service's 404 if not there."""
    report_id = ctx.params["reportId"]
    report = ctx.service.store.reports.get(report_id.lower())
    if report is None or report.workspace_id != ctx.workspace_id:
        raise entity_not_found("Report", report_id)
    return report


async def _get_report(ctx: ApiContext) -> HttpResponse:
    """Reports_GetReport."""
    return _with_context(ctx, "reports/$entity", report_of(ctx).to_json())


async def _delete_report(ctx: ApiContext) -> HttpResponse:
    """Reports_DeleteReport."""
    del ctx.service.store.reports[report_of(ctx).id]
    return HttpResponse(200)


def _target_workspace(ctx: ApiContext, body: dict[str, Any]) -> str | None:
    target = body.get("targetWorkspaceId")
    if target is None:
        return ctx.workspace_id
    if not isinstance(target, str):
        raise ApiError(400, "InvalidRequest", "'targetWorkspaceId' must be a string.")
    if target in {"", "00000000-0000-0000-0000-000000000000"}:
        return None  # My workspace
    if target.lower() not in ctx.service.store.workspaces:
        raise ApiError(404, "ItemNotFound", f"Workspace {target} is not found.")
    return target.lower()


def _model(ctx: ApiContext, body: dict[str, Any], fallback: str | None) -> str | None:
    model = body.get("targetModelId", body.get("datasetId"))
    if model is None:
        return fallback
    if not isinstance(model, str) or model.lower() not in ctx.service.store.datasets:
        raise ApiError(404, "ItemNotFound", f"Dataset {model} is not found.")
    return model.lower()


async def _clone_report(ctx: ApiContext) -> HttpResponse:
    """Reports_CloneReport: a copy, in this or another workspace, optionally rebound."""
    source = report_of(ctx)
    body = _body(ctx)
    name = _text(body, "name")
    workspace = _target_workspace(ctx, body)
    clone = Report(
        ctx.service.ids.new(), name, workspace, _model(ctx, body, source.dataset_id),
        source.report_type,
    )  # fmt: skip
    ctx.service.store.reports[clone.id] = clone
    return _with_context(ctx, "reports/$entity", clone.to_json())


async def _rebind_report(ctx: ApiContext) -> HttpResponse:
    """Reports_RebindReport: bind to another dataset."""
    report = report_of(ctx)
    body = _body(ctx)
    _text(body, "datasetId")
    report.dataset_id = _model(ctx, body, report.dataset_id)
    return HttpResponse(200)


# -- embed tokens --------------------------------------------------------------------------------


async def _embed_token(ctx: ApiContext) -> HttpResponse:
    """The GenerateToken operations: a token valid for an hour (the requested lifetime if less)."""
    if "reportId" in ctx.params:
        report_of(ctx)
    if "dashboardId" in ctx.params:
        _dashboard(ctx)
    if "datasetId" in ctx.params:
        ctx.dataset()
    body = ctx.json_body() if ctx.request.body else {}
    minutes = body.get("lifetimeInMinutes") if isinstance(body, dict) else None
    seconds = EMBED_TOKEN_SECONDS
    if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0:
        seconds = min(seconds, minutes * 60.0)
    clock = ctx.service.clock
    token = "H4sIAAAAAAAEAC" + secrets.token_urlsafe(96)  # opaque, like the service's
    payload = {
        "token": token,
        "tokenId": ctx.service.ids.new(),
        "expiration": clock.isoformat(clock.now() + seconds),
    }
    return _with_context(ctx, "Microsoft.PowerBI.ServiceContracts.Api.V1.EmbedToken", payload)


# -- workspaces and users ------------------------------------------------------------------------


async def _create_group(ctx: ApiContext) -> HttpResponse:
    """Groups_CreateGroup: a new workspace; the caller is its admin."""
    name = _text(_body(ctx), "name")
    store = ctx.service.store
    if any(w.name.casefold() == name.casefold() for w in store.workspaces.values()):
        raise ApiError(409, "DuplicatePackageNameError", f"Workspace '{name}' already exists.")
    workspace = Workspace(ctx.service.ids.new(), name)
    store.workspaces[workspace.id] = workspace
    store.group_users[workspace.id] = [_user(ctx.caller_name, "Admin")]
    return _with_context(ctx, "groups/$entity", workspace.to_json())


async def _get_group(ctx: ApiContext) -> HttpResponse:
    """Groups_GetGroup."""
    workspace = ctx.service.store.workspaces[cast("str", ctx.workspace_id)]
    return _with_context(ctx, "groups/$entity", workspace.to_json())


async def _update_group(ctx: ApiContext) -> HttpResponse:
    """Groups_UpdateGroup: rename."""
    workspace = ctx.service.store.workspaces[cast("str", ctx.workspace_id)]
    workspace.name = _text(_body(ctx), "name")
    return HttpResponse(200)


async def _delete_group(ctx: ApiContext) -> HttpResponse:
    """Groups_DeleteGroup: the workspace and everything in it."""
    store = ctx.service.store
    workspace_id = cast("str", ctx.workspace_id)
    del store.workspaces[workspace_id]
    store.group_users.pop(workspace_id, None)
    for items in (store.datasets, store.reports, store.dashboards, ctx.service.flows.imports):
        for key in [
            k for k, v in items.items() if getattr(v, "workspace_id", None) == workspace_id
        ]:
            del items[key]
    return HttpResponse(200)


def _user(identifier: str, right: str, principal: str = "User") -> dict[str, object]:
    return {
        "emailAddress": identifier, "displayName": identifier.split("@", maxsplit=1)[0],
        "identifier": identifier, "groupUserAccessRight": right, "principalType": principal,
    }  # fmt: skip


async def _group_users(ctx: ApiContext) -> HttpResponse:
    """Groups_GetGroupUsers."""
    users = ctx.service.store.group_users.get(cast("str", ctx.workspace_id), [])
    return _with_context(ctx, "groupUsers", {"value": users})


def _user_body(ctx: ApiContext) -> tuple[str, str, str]:
    body = _body(ctx)
    identifier = body.get("identifier") or body.get("emailAddress")
    if not isinstance(identifier, str) or not identifier:
        raise ApiError(400, "InvalidRequest", "'identifier' or 'emailAddress' is required.")
    right = body.get("groupUserAccessRight")
    if right not in {"Admin", "Member", "Contributor", "Viewer", "None"}:
        raise ApiError(
            400, "InvalidRequest", "'groupUserAccessRight' must be Admin, Member, Contributor, "
            "Viewer or None.",
        )  # fmt: skip
    return identifier, cast("str", right), str(body.get("principalType", "User"))


async def _add_group_user(ctx: ApiContext) -> HttpResponse:
    """Groups_AddGroupUser."""
    identifier, right, principal = _user_body(ctx)
    users = ctx.service.store.group_users.setdefault(cast("str", ctx.workspace_id), [])
    if any(str(u["identifier"]).casefold() == identifier.casefold() for u in users):
        raise ApiError(400, "AddingAlreadyExistsGroupUserNotSupportedError", "Already a member.")
    users.append(_user(identifier, right, principal))
    return HttpResponse(200)


async def _update_group_user(ctx: ApiContext) -> HttpResponse:
    """Groups_UpdateGroupUser."""
    identifier, right, _ = _user_body(ctx)
    users = ctx.service.store.group_users.get(cast("str", ctx.workspace_id), [])
    user = next(
        (u for u in users if str(u["identifier"]).casefold() == identifier.casefold()), None
    )
    if user is None:
        raise ApiError(404, "ItemNotFound", f"User {identifier} is not in the workspace.")
    user["groupUserAccessRight"] = right
    return HttpResponse(200)


async def _delete_group_user(ctx: ApiContext) -> HttpResponse:
    """Groups_DeleteUserInGroup."""
    users = ctx.service.store.group_users.get(cast("str", ctx.workspace_id), [])
    who = ctx.params["user"].casefold()
    kept = [u for u in users if str(u["identifier"]).casefold() != who]
    if len(kept) == len(users):
        raise ApiError(404, "ItemNotFound", f"User {ctx.params['user']} is not in the workspace.")
    users[:] = kept
    return HttpResponse(200)


STATEFUL: dict[str, Handler] = {
    "Datasets_GetParameters": _parameters,
    "Datasets_UpdateParameters": _update_parameters,
    "Datasets_TakeOver": _take_over,
    "Datasets_GenerateToken": _embed_token,
    "Dashboards_GetDashboards": _dashboards,
    "Dashboards_GetDashboard": _get_dashboard,
    "Dashboards_AddDashboard": _add_dashboard,
    "Dashboards_DeleteDashboard": _delete_dashboard,
    "Dashboards_GetTiles": _tiles,
    "Dashboards_GetTile": _tile,
    "Dashboards_GenerateToken": _embed_token,
    "Reports_GetReport": _get_report,
    "Reports_DeleteReport": _delete_report,
    "Reports_CloneReport": _clone_report,
    "Reports_RebindReport": _rebind_report,
    "Reports_GenerateToken": _embed_token,
    "Reports_GenerateTokenForCreate": _embed_token,
    "Tiles_GenerateToken": _embed_token,
    "EmbedToken_GenerateToken": _embed_token,
    "Groups_CreateGroup": _create_group,
    "Groups_GetGroup": _get_group,
    "Groups_UpdateGroup": _update_group,
    "Groups_DeleteGroup": _delete_group,
    "Groups_GetGroupUsers": _group_users,
    "Groups_AddGroupUser": _add_group_user,
    "Groups_UpdateGroupUser": _update_group_user,
    "Groups_DeleteUserInGroup": _delete_group_user,
}
