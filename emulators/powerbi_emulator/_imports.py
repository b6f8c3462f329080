"""Imports: uploading a file (multipart/form-data) or an ImportInfo, and listing imports."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from powerbi_emulator._http import ApiError, BodyError, HttpResponse, parse_multipart
from powerbi_emulator._store import Dataset, ImportRecord, Report

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext

__all__ = ["get_import", "list_imports", "post_import"]

NAME_CONFLICTS = ("Ignore", "Abort", "Overwrite", "CreateOrOverwrite", "GenerateUniqueName")
EXTENSIONS = (".pbix", ".xlsx", ".json", ".rdl")


async def list_imports(ctx: ApiContext) -> HttpResponse:
    """Imports_GetImports[InGroup]."""
    store = ctx.service.store
    return ctx.listing(
        "imports", [store.import_json(i) for i in store.imports_in(ctx.workspace_id)]
    )


async def get_import(ctx: ApiContext) -> HttpResponse:
    """Imports_GetImport[InGroup]."""
    store = ctx.service.store
    record = store.imports.get(ctx.params["importId"].lower())
    if record is None or record.workspace_id != ctx.workspace_id:
        raise ApiError(404, "ItemNotFound", f"Import {ctx.params['importId']} is not found.")
    return HttpResponse.json(200, store.import_json(record))


def _source(ctx: ApiContext) -> tuple[str, str]:
    """Check the body; returns (connectionType, source) of the import."""
    request = ctx.request
    if request.media_type == "multipart/form-data":
        try:
            parts = parse_multipart(request.headers["content-type"], request.body)
        except BodyError as exc:
            raise ApiError(400, "InvalidRequest", f"Invalid multipart body: {exc}.") from None
        if not any(part.data for part in parts):
            raise ApiError(400, "InvalidRequest", "The multipart body carries no file content.")
        return "import", "Upload"
    if request.media_type == "application/json":
        info = ctx.json_body()
        data = cast("dict[str, object]", info) if isinstance(info, dict) else {}
        location = data.get("fileUrl") or data.get("filePath")
        if not isinstance(location, str) or not location:
            raise ApiError(
                400, "InvalidRequest", "An ImportInfo body needs a 'fileUrl' or a 'filePath'."
            )
        connection = data.get("connectionType", "import")
        if connection not in {"import", "connect"}:
            raise ApiError(400, "InvalidRequest", "connectionType must be import or connect.")
        return str(connection), "OneDrive" if "filePath" in data else "Url"
    raise ApiError(
        415,
        "UnsupportedMediaType",
        "Imports take multipart/form-data (a file) or application/json (ImportInfo).",
    )


async def post_import(ctx: ApiContext) -> HttpResponse:
    """Imports_PostImport[InGroup]: 202 with the import id; the content appears at once."""
    query = ctx.request.query
    display_name = query.get("datasetDisplayName", "")
    if not display_name.strip():
        raise ApiError(400, "InvalidRequest", "The datasetDisplayName query parameter is required.")
    conflict = query.get("nameConflict", "Ignore")
    if conflict not in NAME_CONFLICTS:
        raise ApiError(
            400, "InvalidRequest", f"nameConflict must be one of {', '.join(NAME_CONFLICTS)}."
        )
    skip_report = query.get("skipReport", "false").lower() == "true"
    connection_type, source = _source(ctx)
    name = display_name
    for extension in EXTENSIONS:
        if name.lower().endswith(extension) and len(name) > len(extension):
            name = name[: -len(extension)]
            break
    paginated = display_name.lower().endswith(".rdl")
    record = _create_content(ctx, name, conflict, paginated=paginated, skip_report=skip_report)
    record.connection_type, record.source = connection_type, source
    return HttpResponse.json(202, {"id": record.id})


def _create_content(
    ctx: ApiContext, name: str, conflict: str, *, paginated: bool, skip_report: bool
) -> ImportRecord:
    store, service = ctx.service.store, ctx.service
    if paginated:
        existing_ids = [r.id for r in store.reports_in(ctx.workspace_id) if r.name == name]
    else:
        existing_ids = [d.id for d in store.datasets_in(ctx.workspace_id) if d.name == name]
    overwrite = None
    if existing_ids and conflict == "Abort":
        raise ApiError(409, "DuplicatePackageNameError", f"Content named '{name}' already exists.")
    if conflict == "Overwrite" and len(existing_ids) != 1:
        raise ApiError(
            400,
            "InvalidRequest",
            f"Overwrite needs exactly one existing item named '{name}'; found {len(existing_ids)}.",
        )
    if conflict in {"Overwrite", "CreateOrOverwrite"} and existing_ids:
        if len(existing_ids) > 1:
            raise ApiError(400, "InvalidRequest", f"More than one item is named '{name}'.")
        overwrite = existing_ids[0]
    if conflict == "GenerateUniqueName" and existing_ids:
        taken = {d.name for d in store.datasets_in(ctx.workspace_id)}
        taken |= {r.name for r in store.reports_in(ctx.workspace_id)}
        name = next(
            f"{name} ({n})" for n in range(1, len(taken) + 2) if f"{name} ({n})" not in taken
        )
    now = service.clock.isoformat()
    dataset_ids: list[str] = []
    report_ids: list[str] = []
    if paginated:
        report_id = overwrite or service.ids.new()
        store.reports[report_id] = Report(
            report_id, name, ctx.workspace_id, None, "PaginatedReport"
        )
        report_ids.append(report_id)
    else:
        dataset_id = overwrite or service.ids.new()
        store.datasets[dataset_id] = Dataset(
            dataset_id, name, ctx.workspace_id, ctx.caller_name, now, push=False, mode="Import"
        )
        dataset_ids.append(dataset_id)
        bound = [r.id for r in store.reports.values() if r.dataset_id == dataset_id]
        if bound:
            report_ids.extend(bound)
        elif not skip_report:
            report_id = service.ids.new()
            store.reports[report_id] = Report(report_id, name, ctx.workspace_id, dataset_id)
            report_ids.append(report_id)
    record = ImportRecord(
        service.ids.new(), name, ctx.workspace_id, now, now, "import", "Upload",
        dataset_ids, report_ids,
    )  # fmt: skip
    store.imports[record.id] = record
    return record
