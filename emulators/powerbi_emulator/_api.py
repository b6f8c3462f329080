"""The Power BI REST API under `/v1.0/myorg/` (and `/v1.0/myorg/groups/{groupId}/`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from powerbi_emulator._cloud import CLOUDS
from powerbi_emulator._context import ApiContext, Service
from powerbi_emulator._flows._handlers import HANDLERS as FLOW_HANDLERS
from powerbi_emulator._http import ApiError, HttpRequest, HttpResponse
from powerbi_emulator._odata import apply_query
from powerbi_emulator._operations import Operation, SchemaExample, operation_table
from powerbi_emulator._resources import STATEFUL, entity_not_found
from powerbi_emulator._store import Dataset
from powerbi_emulator._validation import RowValidator, parse_dataset, parse_table

if TYPE_CHECKING:
    from powerbi_emulator._identity import AccessGrant, TokenService

__all__ = ["PowerBIApi"]

Handler = Callable[[ApiContext], Awaitable[HttpResponse]]
OCTET_STREAM = ("content-type", "application/octet-stream")
RETENTION_POLICIES = {"none": "None", "basicfifo": "basicFIFO"}


@dataclasses.dataclass(frozen=True)
class _Route:
    pattern: tuple[str, ...]
    methods: dict[str, Handler]
    workspace_scoped: bool = True  # False: exists only at the root (groups)


async def _list_groups(ctx: ApiContext) -> HttpResponse:
    """Groups_GetGroups: the workspaces, with `@odata.count`."""
    items = [w.to_json() for w in ctx.service.store.workspaces.values()]
    page, count = apply_query(items, ctx.request.query)
    body = {"@odata.context": ctx.metadata_url("groups"), "@odata.count": count, "value": page}
    return HttpResponse.json(200, body)


async def _list_datasets(ctx: ApiContext) -> HttpResponse:
    """Datasets_GetDatasets[InGroup]."""
    datasets = ctx.service.store.datasets_in(ctx.workspace_id)
    return ctx.listing("datasets", [d.to_json() for d in datasets])


async def _get_dataset(ctx: ApiContext) -> HttpResponse:
    """Datasets_GetDataset[InGroup]."""
    body = {"@odata.context": ctx.metadata_url("datasets/$entity"), **ctx.dataset().to_json()}
    return HttpResponse.json(200, body)


async def _delete_dataset(ctx: ApiContext) -> HttpResponse:
    """Datasets_DeleteDataset[InGroup]: the dataset and the reports bound to it."""
    store = ctx.service.store
    dataset = ctx.dataset()
    del store.datasets[dataset.id]
    for report_id in [r.id for r in store.reports.values() if r.dataset_id == dataset.id]:
        del store.reports[report_id]
    return HttpResponse(200)


async def _post_dataset(ctx: ApiContext) -> HttpResponse:
    """Datasets_PostDataset[InGroup]: create a push dataset (201)."""
    raw_policy = ctx.request.query.get("defaultRetentionPolicy", "None")
    policy = RETENTION_POLICIES.get(raw_policy.lower())
    if policy is None:
        raise ApiError(
            400,
            "InvalidRequest",
            f"defaultRetentionPolicy must be None or basicFIFO; got {raw_policy!r}.",
        )
    definition = parse_dataset(ctx.json_body(), ctx.service.config.limits)
    service = ctx.service
    dataset = Dataset(
        id=service.ids.new(),
        name=definition.name,
        workspace_id=ctx.workspace_id,
        configured_by=ctx.caller_name,
        created=service.clock.isoformat(),
        retention_policy=policy,
        mode=definition.mode,
        tables={t.name.casefold(): t for t in definition.tables},
        relationships=definition.relationships,
    )
    service.store.datasets[dataset.id] = dataset
    body = {
        "@odata.context": ctx.metadata_url("datasets/$entity"),
        **dataset.to_json(),
        "defaultRetentionPolicy": policy,
    }
    return HttpResponse.json(201, body)


async def _list_tables(ctx: ApiContext) -> HttpResponse:
    """Datasets_GetTables[InGroup] (push datasets only)."""
    dataset = ctx.dataset(push=True)
    return ctx.listing("tables", [t.to_json() for t in dataset.tables.values()])


def _table_name(ctx: ApiContext, dataset: Dataset) -> str:
    name = ctx.params["tableName"]
    table = dataset.table(name)
    if table is None:
        raise ApiError(
            404, "ItemNotFound", f"Table '{name}' does not exist in dataset {dataset.id}."
        )
    return table.name


async def _put_table(ctx: ApiContext) -> HttpResponse:
    """Datasets_PutTable[InGroup]: replace a table's schema; rows keep surviving columns."""
    dataset = ctx.dataset(push=True)
    table = dataset.tables[_table_name(ctx, dataset).casefold()]
    update = parse_table(ctx.json_body(), ctx.service.config.limits)
    if update.name.casefold() != table.name.casefold():
        raise ApiError(
            400,
            "InvalidRequest",
            f"The table name in the body ('{update.name}') must match the URL ('{table.name}').",
        )
    kept = {c.name for c in update.columns}
    if any(c.name not in kept for c in table.columns):
        table.rows = [{k: v for k, v in row.items() if k in kept} for row in table.rows]
    table.columns, table.extra = update.columns, update.extra
    return HttpResponse.json(200, table.to_json())


async def _post_rows(ctx: ApiContext) -> HttpResponse:
    """Datasets_PostRows[InGroup], with every push dataset limit (200, empty body)."""
    service = ctx.service
    limits = service.config.limits
    dataset = ctx.dataset(push=True)
    table = dataset.tables[_table_name(ctx, dataset).casefold()]
    service.throttle.acquire_pending(dataset.id)
    try:
        await ctx.delay()  # the request is pending while the (emulated) network is slow
        body = ctx.json_body()
        rows = body.get("rows") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ApiError(400, "InvalidRequest", "The body must be an object with a 'rows' array.")
        ctx.log["rows"] = len(rows)
        if len(rows) > limits.max_rows_per_post:
            raise ApiError(
                400,
                "InvalidRequest",
                f"Too many rows in one request: {len(rows)}; at most "
                f"{limits.max_rows_per_post} rows may be posted at once.",
            )
        service.throttle.admit(dataset.id, len(rows), len(table.rows))
        clean = RowValidator(table, limits).validate(rows)
        if dataset.mode == "Streaming":
            service.throttle.charge_rows(dataset.id, len(clean))
            return HttpResponse(200)  # streaming-only datasets keep no history
        if dataset.retention_policy == "None" and (
            len(table.rows) + len(clean) > limits.max_rows_per_table
        ):
            raise ApiError(
                400,
                "InvalidRequest",
                f"Table '{table.name}' would exceed {limits.max_rows_per_table} rows; use "
                "basicFIFO retention or delete rows first.",
            )
        table.rows.extend(clean)
        if dataset.retention_policy == "basicFIFO" and len(table.rows) > limits.fifo_max_rows:
            del table.rows[: len(table.rows) - limits.fifo_max_rows]  # oldest first out
        service.throttle.charge_rows(dataset.id, len(clean))
        return HttpResponse(200)
    finally:
        service.throttle.release_pending(dataset.id)


async def _delete_rows(ctx: ApiContext) -> HttpResponse:
    """Datasets_DeleteRows[InGroup]: remove every row of a table."""
    dataset = ctx.dataset(push=True)
    dataset.tables[_table_name(ctx, dataset).casefold()].rows.clear()
    return HttpResponse(200)


async def _list_reports(ctx: ApiContext) -> HttpResponse:
    """Reports_GetReports[InGroup]."""
    reports = ctx.service.store.reports_in(ctx.workspace_id)
    return ctx.listing("reports", [r.to_json() for r in reports])


ROUTES = (
    _Route(("groups",), {"GET": _list_groups}, workspace_scoped=False),
    _Route(("datasets",), {"GET": _list_datasets, "POST": _post_dataset}),
    _Route(("datasets", "{datasetId}"), {"GET": _get_dataset, "DELETE": _delete_dataset}),
    _Route(("datasets", "{datasetId}", "tables"), {"GET": _list_tables}),
    _Route(("datasets", "{datasetId}", "tables", "{tableName}"), {"PUT": _put_table}),
    _Route(
        ("datasets", "{datasetId}", "tables", "{tableName}", "rows"),
        {"POST": _post_rows, "DELETE": _delete_rows},
    ),
    _Route(("reports",), {"GET": _list_reports}),
)
SELF_DELAYED: frozenset[Handler] = frozenset({_post_rows})


def _match(segments: tuple[str, ...]) -> tuple[_Route, dict[str, str]] | None:
    for route in ROUTES:
        if len(route.pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for expected, actual in zip(route.pattern, segments, strict=True):
            if expected.startswith("{"):
                if not actual:
                    break
                params[expected[1:-1]] = actual
            elif expected != actual.lower():
                break
        else:
            return route, params
    return None


class PowerBIApi:
    """Authenticates, routes (on raw path segments) and runs REST requests."""

    def __init__(self, service: Service, tokens: TokenService) -> None:
        self._service = service
        self._tokens = tokens

    async def handle(
        self, request: HttpRequest, delay: Callable[[], Awaitable[None]], log: dict[str, object]
    ) -> HttpResponse:
        """The response to one request under `/v1.0/myorg/`; fills `log` with the caller."""
        grant = self._authenticate(request)
        log |= {"principal": grant.principal, "client_id": grant.client_id}
        segments = request.segments[2:]
        workspace_id = (
            segments[1].lower() if len(segments) > 1 and segments[0].lower() == "groups" else None
        )
        handler, params, operation, found = _route(request, segments)
        scoped = found[0].workspace_scoped if found is not None else _has_group_twin(operation)
        if workspace_id is None and scoped and grant.principal == "app":
            raise ApiError(
                403,
                "PowerBINotAuthorizedException",
                "API is not accessible for application: service principals cannot use My "
                "workspace; call the /groups/{groupId}/ route of a workspace instead.",
            )
        if workspace_id is not None and workspace_id not in self._service.store.workspaces:
            raise ApiError(404, "ItemNotFound", f"Workspace {workspace_id} is not found.")
        ctx = ApiContext(request, grant, workspace_id, params, self._service, delay, log)
        if operation is not None:
            ctx.query_options = operation.query
        if handler not in SELF_DELAYED:
            await delay()
        self._service.flows.settle()  # operations that ended by now take effect first
        response = await handler(ctx)
        if _changes_content(request.method, operation) and response.status < 300:  # noqa: PLR2004
            self._service.store.touch(workspace_id, self._service.clock.now())
        return response

    def _authenticate(self, request: HttpRequest) -> AccessGrant:
        service = self._service
        authorize_uri = f"{request.origin}/{service.config.tenant}/oauth2/authorize"
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        grant = self._tokens.lookup_access(token) if scheme.lower() == "bearer" else None
        if grant is None:
            challenge = f'Bearer authorization_uri="{authorize_uri}"'
            if header:
                challenge += ', error="invalid_token"'
            raise ApiError(
                401,
                "Unauthorized",
                "The access token is missing or invalid."
                if header
                else "An Authorization: Bearer access token is required.",
                headers=[("WWW-Authenticate", challenge)],
            )
        if self._tokens.is_expired(grant.expires_at):
            expired, now = _utc(grant.expires_at), _utc(service.clock.now())
            description = (
                f"The access token expiry UTC time '{expired}' is earlier than current UTC "
                f"time '{now}'."
            )
            challenge = (
                f'Bearer authorization_uri="{authorize_uri}", error="invalid_token", '
                f'error_description="{description}"'
            )
            raise ApiError(
                403,
                "TokenExpired",
                "Access token has expired, resubmit with a new access token",
                headers=[("WWW-Authenticate", challenge)],
            )
        resource = CLOUDS[service.config.cloud].resource
        if grant.audience != resource:
            raise ApiError(
                401,
                "Unauthorized",
                "The access token was not issued for the Power BI service of this cloud (its "
                f"audience is {grant.audience}); request a scope of {resource}.",
                headers=[
                    (
                        "WWW-Authenticate",
                        f'Bearer authorization_uri="{authorize_uri}", error="invalid_token"',
                    )
                ],
            )
        return grant


def _route(
    request: HttpRequest, segments: tuple[str, ...]
) -> tuple[Handler, dict[str, str], Operation | None, tuple[_Route, dict[str, str]] | None]:
    """The handler of a request, its path parameters, its operation and its legacy route."""
    operation, op_params, path_exists = operation_table().match(
        request.method, "/v1.0/myorg/" + "/".join(segments)
    )
    if len(segments) > 1 and segments[0].lower() == "groups":
        segments = segments[2:]
        found = _match(segments)
        if found is not None and not found[0].workspace_scoped:
            found = None
    else:
        found = _match(segments)
    if found is not None and operation is not None and not _is_legacy(operation):
        found = None  # e.g. `datasets/upstreamDataflows` is not `datasets/{datasetId}`
    handler = found[0].methods.get(request.method) if found is not None else None
    if handler is not None and found is not None:
        return handler, found[1], operation, found
    if operation is not None:
        return _operation_handler(operation), op_params, operation, found
    if found is None and not path_exists:
        raise ApiError(
            404,
            "NotFound",
            f"No HTTP resource was found that matches the request URI '{request.raw_path}'.",
        )
    allowed = sorted(found[0].methods) if found is not None else []
    raise ApiError(
        405,
        "MethodNotAllowed",
        f"The requested resource does not support http method '{request.method}'.",
        headers=[("Allow", ", ".join(allowed))] if allowed else None,
    )


def _changes_content(method: str, operation: Operation | None) -> bool:
    """Whether a request changes what its workspace holds (its modified time, to the scanner)."""
    if method in {"GET", "HEAD"}:
        return False
    name = operation.id if operation is not None else ""
    return not any(word in name for word in _READS_BY_POST)


_READS_BY_POST = ("GenerateToken", "ExportToFile", "ExecuteQueries", "RefreshDataset")


def _is_legacy(operation: Operation) -> bool:
    """Whether one of ROUTES serves this operation."""
    return (operation.method, operation.template) in _LEGACY


_PREFIXES = ("/v1.0/myorg", "/v1.0/myorg/groups/{groupId}")
_LEGACY = frozenset(
    (method, "/".join([prefix, *route.pattern]))
    for route in ROUTES
    for prefix in ("/v1.0/myorg", "/v1.0/myorg/groups/{groupId}")[
        : 2 if route.workspace_scoped else 1
    ]
    for method in route.methods
)


def _has_group_twin(operation: Operation | None) -> bool:
    """Whether a My workspace operation has a workspace twin (service principals use that)."""
    if operation is None or operation.in_group:
        return False
    return f"{operation.id}InGroup" in operation_table().by_id


def _operation_handler(operation: Operation) -> Handler:
    """The stateful handler of an operation, else one answering from its swagger schema."""
    base_id = operation.id.removesuffix("InGroup")
    stateful = STATEFUL.get(base_id) or FLOW_HANDLERS.get(base_id)
    if stateful is not None:
        return stateful

    async def generated(ctx: ApiContext) -> HttpResponse:
        _check_known_ids(ctx, admin=operation.template.startswith("/v1.0/myorg/admin/"))
        if operation.schema is None:
            return HttpResponse(operation.status)
        if operation.schema.get("type") == "file":
            content = f"Emulated content of {operation.id}\n".encode()
            return HttpResponse(operation.status, content, [OCTET_STREAM])
        example = SchemaExample(operation_table(), ctx.service.clock.isoformat(), ctx.params)
        return HttpResponse.json(operation.status, example.build(operation.schema))

    return generated


def _check_known_ids(ctx: ApiContext, *, admin: bool) -> None:
    """Ids of things the emulator holds must exist, as in the service (404 otherwise).

    Admin operations see every workspace; the others only the one they address.
    """
    store = ctx.service.store
    if "datasetId" in ctx.params and not admin:
        ctx.dataset()
    for key, items, kind in (
        ("datasetId", store.datasets, "Dataset"),
        ("reportId", store.reports, "Report"),
        ("dashboardId", store.dashboards, "Dashboard"),
        ("importId", ctx.service.flows.imports, "Import"),
        ("pipelineId", ctx.service.flows.pipelines, "Pipeline"),
    ):
        value = ctx.params.get(key)
        if value is None:
            continue
        item = items.get(value.lower())
        if item is None or (not admin and getattr(item, "workspace_id", None) != ctx.workspace_id):
            raise entity_not_found(kind, value)


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")
