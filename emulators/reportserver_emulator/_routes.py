"""The REST routes: ``/api/v2.0/...`` paths to catalog operations, with OData envelopes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from reportserver_emulator._catalog import Catalog, CatalogError
from reportserver_emulator._odata import ODataError, apply_query

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["ApiRequest", "ApiResponse", "dispatch"]


@dataclass(slots=True)
class ApiRequest:
    """One authenticated API call: method, path below ``/api/v2.0``, query, body, user."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    content_type: str
    user: str
    root: str  # the API root URL, for @odata.context


@dataclass(slots=True)
class ApiResponse:
    """Status, JSON body (or none) and extra headers."""

    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)


# An entity key: a GUID or path='/a/b' (a quote inside the path doubled, as OData writes it).
_KEY = r"\((?P<key>(?:'(?:[^']|'')*'|[^()'])*)\)"


def _json(request: ApiRequest) -> Any:
    if not request.body:
        raise CatalogError(400, "rsMissingElement", "The request has no body.")
    try:
        return json.loads(request.body)
    except ValueError:
        raise CatalogError(400, "rsInvalidParameter", "The body is not valid JSON.") from None


def _collection(request: ApiRequest, rows: list[dict[str, Any]], name: str) -> ApiResponse:
    try:
        body = apply_query(rows, request.query, f"{request.root}/$metadata#{name}")
    except ODataError as exc:
        raise CatalogError(400, "rsInvalidParameter", str(exc)) from None
    return ApiResponse(200, body)


def _entity(catalog: Catalog, request: ApiRequest, item_key: str, set_name: str) -> dict[str, Any]:
    item = catalog.find(item_key)
    return {
        "@odata.context": f"{request.root}/$metadata#{set_name}/$entity",
        **catalog.entity(item),
    }


def _list(
    types: tuple[str, ...], set_name: str
) -> Callable[[Catalog, ApiRequest, str], ApiResponse]:
    def handler(catalog: Catalog, request: ApiRequest, _key: str) -> ApiResponse:
        rows = [catalog.entity(i) for i in catalog.of_type(*types)]
        return _collection(request, rows, set_name)

    return handler


def _get(type_: str | None, set_name: str) -> Callable[[Catalog, ApiRequest, str], ApiResponse]:
    def handler(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
        catalog.find(key, type_=type_)
        return ApiResponse(200, _entity(catalog, request, key, set_name))

    return handler


def _delete(type_: str | None) -> Callable[[Catalog, ApiRequest, str], ApiResponse]:
    def handler(catalog: Catalog, _request: ApiRequest, key: str) -> ApiResponse:
        catalog.delete(catalog.find(key, type_=type_))
        return ApiResponse(204)

    return handler


def _policies(type_: str | None) -> Callable[[Catalog, ApiRequest, str], ApiResponse]:
    def handler(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
        policy = catalog.policies(catalog.find(key, type_=type_))
        return ApiResponse(
            200, {"@odata.context": f"{request.root}/$metadata#Model.ItemPolicy", **policy}
        )

    return handler


def _report_plans(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    item = catalog.find(key, type_="PowerBIReport")
    return _collection(request, catalog.plans_of(item), "CacheRefreshPlans")


def _report_roles(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    item = catalog.find(key, type_="PowerBIReport")
    return _collection(request, catalog.roles_of(item), "DataModelRoles")


def _report_assignments(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    item = catalog.find(key, type_="PowerBIReport")
    if request.method == "PUT":
        catalog.replace_assignments(item, _json(request))
        return ApiResponse(200)
    return _collection(request, catalog.assignments_of(item), "DataModelRoleAssignments")


def _add_report(catalog: Catalog, request: ApiRequest, _key: str) -> ApiResponse:
    body = _json(request)
    if isinstance(body, dict) and body.get("@odata.type", "#Model.PowerBIReport") != (
        "#Model.PowerBIReport"
    ):
        raise CatalogError(400, "rsWrongItemType", "@odata.type must be #Model.PowerBIReport.")
    item = catalog.add_report(body, request.user)
    entity = {"@odata.context": f"{request.root}/$metadata#PowerBIReports/$entity"}
    entity.update(catalog.entity(item))
    return ApiResponse(201, entity, [("Location", f"{request.root}/PowerBIReports({item.id})")])


def _upload(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    content = _multipart_file(request)
    item = catalog.upload_content(key, content, request.user)
    entity = {"@odata.context": f"{request.root}/$metadata#PowerBIReports/$entity"}
    entity.update(catalog.entity(item))
    return ApiResponse(200, entity)


def _multipart_file(request: ApiRequest) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', request.content_type)
    if not request.content_type.startswith("multipart/form-data") or match is None:
        raise CatalogError(400, "rsInvalidParameter", "Model.Upload takes multipart/form-data.")
    boundary = b"--" + match.group(1).encode()
    for part in request.body.split(boundary):
        head, sep, data = part.partition(b"\r\n\r\n")
        if sep and re.search(rb'name="File"', head, re.IGNORECASE):
            return data[:-2] if data.endswith(b"\r\n") else data
    raise CatalogError(400, "rsMissingElement", "The form has no part named File.")


def _get_plan(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    plan = catalog.plan(key)
    return ApiResponse(
        200, {"@odata.context": f"{request.root}/$metadata#CacheRefreshPlans/$entity", **plan}
    )


def _execute_plan(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    catalog.execute(key, request.user)
    return ApiResponse(204)


def _plan_history(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    plan = catalog.plan(key)
    with catalog.lock:
        rows = [dict(h) for h in catalog.history[plan["Id"]]]
    return _collection(request, rows, "Model.CacheRefreshPlanHistory")


def _folder_items(catalog: Catalog, request: ApiRequest, key: str) -> ApiResponse:
    folder = catalog.find(key, type_="Folder")
    rows = [catalog.entity(i) for i in catalog.children(folder)]
    return _collection(request, rows, "CatalogItems")


def _me(_catalog: Catalog, request: ApiRequest, _key: str) -> ApiResponse:
    return ApiResponse(
        200,
        {
            "@odata.context": f"{request.root}/$metadata#Model.User",
            "Id": "00000000-0000-0000-0000-000000000000",
            "Username": request.user,
            "DisplayName": request.user.rsplit("\\", 1)[-1],
            "HasFavoriteItems": False,
        },
    )


# (method, path pattern) → handler; the key group, if any, is passed on URL-decoded.
_ROUTES: list[tuple[str, re.Pattern[str], Callable[[Catalog, ApiRequest, str], ApiResponse]]] = [
    (m, re.compile(p + r"/?$", re.IGNORECASE), h)
    for m, p, h in [
        ("GET", r"/PowerBIReports", _list(("PowerBIReport",), "PowerBIReports")),
        ("POST", r"/PowerBIReports", _add_report),
        ("GET", rf"/PowerBIReports{_KEY}", _get("PowerBIReport", "PowerBIReports")),
        ("DELETE", rf"/PowerBIReports{_KEY}", _delete("PowerBIReport")),
        ("GET", rf"/PowerBIReports{_KEY}/CacheRefreshPlans", _report_plans),
        ("GET", rf"/PowerBIReports{_KEY}/Policies", _policies("PowerBIReport")),
        ("GET", rf"/PowerBIReports{_KEY}/DataModelRoles", _report_roles),
        ("GET", rf"/PowerBIReports{_KEY}/DataModelRoleAssignments", _report_assignments),
        ("PUT", rf"/PowerBIReports{_KEY}/DataModelRoleAssignments", _report_assignments),
        ("POST", rf"/PowerBIReports{_KEY}/Model.Upload", _upload),
        ("GET", r"/Folders", _list(("Folder",), "Folders")),
        ("GET", rf"/Folders{_KEY}", _get("Folder", "Folders")),
        ("GET", rf"/Folders{_KEY}/CatalogItems", _folder_items),
        ("GET", rf"/Folders{_KEY}/Policies", _policies("Folder")),
        ("GET", r"/CatalogItems", _list((), "CatalogItems")),
        ("GET", rf"/CatalogItems{_KEY}", _get(None, "CatalogItems")),
        ("DELETE", rf"/CatalogItems{_KEY}", _delete(None)),
        ("GET", rf"/CatalogItems{_KEY}/Policies", _policies(None)),
        ("GET", rf"/CacheRefreshPlans{_KEY}", _get_plan),
        ("GET", rf"/CacheRefreshPlans{_KEY}/History", _plan_history),
        ("POST", rf"/CacheRefreshPlans{_KEY}/Model.Execute", _execute_plan),
        ("GET", r"/Me", _me),
    ]
]


def dispatch(catalog: Catalog, request: ApiRequest) -> ApiResponse:
    """Answer one API call; unknown paths are 404 and known paths with another verb 405."""
    path = unquote(request.path)
    allowed = False
    for method, pattern, handler in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if method != request.method:
            allowed = True
            continue
        key = match.groupdict().get("key") or ""
        try:
            return handler(catalog, request, key)
        except CatalogError as exc:
            return _error(exc.status, exc.code, exc.message)
    if allowed:
        return _error(405, "rsMethodNotAllowed", f"{request.method} is not allowed on {path}.")
    return _error(404, "rsNotFound", f"No resource matches {path}.")


def _error(status: int, code: str, message: str) -> ApiResponse:
    return ApiResponse(status, {"error": {"code": code, "message": message}})
