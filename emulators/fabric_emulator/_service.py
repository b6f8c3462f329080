"""What a Fabric REST handler works with: the service's parts, and one routed, checked call."""

from __future__ import annotations

import dataclasses
import functools
import re
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from emulator_core import MISSING, Answer, DocumentSet, Pages, SwaggerApi
from fabric_emulator._errors import FabricError
from powerbi_emulator._http import HttpResponse

if TYPE_CHECKING:
    from emulator_core import LongRunningOperations, Operation, RequestRate
    from fabric_emulator._cloud import FabricCloud
    from fabric_emulator._config import FabricConfig
    from fabric_emulator._store import Item, Store, Workspace
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._http import HttpRequest
    from powerbi_emulator._identity import AccessGrant

__all__ = ["SPECS", "Call", "FabricService", "fabric_swagger", "item_type_of"]

SPECS = "fabric-rest-api-specs.json.gz"
API_PREFIX = "/v1"
ONELAKE_PREFIX = "/onelake"
# `/v1/workspaces/{workspaceId}/{collection}/{itemId}...`: the part of a template naming an item.
ITEM_PATH = re.compile(r"^/v1/workspaces/\{workspaceId\}/(?P<collection>[A-Za-z]+)/\{(?P<id>\w+)\}")


@functools.cache
def fabric_swagger() -> SwaggerApi:
    """Microsoft's Fabric REST API documents (MIT, licence in `_data/`), read once per process."""
    data = resources.files(__package__).joinpath("_data", SPECS).read_bytes()
    return SwaggerApi(DocumentSet.from_bundle(data))


@functools.cache
def _item_types() -> dict[str, str]:
    """Item types by the lower-cased collection name that holds them (`lakehouses`)."""
    swagger = fabric_swagger()
    item_type, _ = swagger.documents.target("#/definitions/ItemType", "common/definitions.json")
    by_name = {str(name).lower(): str(name) for name in item_type["enum"]}
    found: dict[str, str] = {}
    for operation in swagger.table.operations:
        match = ITEM_PATH.match(operation.path)
        if match is None:
            continue
        collection = match.group("collection").lower()
        for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
            singular = collection.removesuffix(suffix) + replacement
            if collection.endswith(suffix) and singular in by_name:
                found[collection] = by_name[singular]
                break
    found["items"] = ""  # any type
    return found


def item_type_of(collection: str) -> str | None:
    """The item type a collection holds ('' for `items`: any), None if it holds no items."""
    return _item_types().get(collection.lower())


@dataclasses.dataclass
class FabricService:
    """The parts the REST API and OneLake read and change."""

    config: FabricConfig
    cloud: FabricCloud
    clock: EmulatorClock
    store: Store
    swagger: SwaggerApi
    pages: Pages
    operations: LongRunningOperations
    rate: RequestRate | None


@dataclasses.dataclass
class Call:
    """One authenticated request to the REST API, matched to its operation and checked."""

    request: HttpRequest
    grant: AccessGrant
    operation: Operation
    params: dict[str, str]
    body: object
    service: FabricService

    @property
    def origin(self) -> str:
        """The scheme and host the caller reached."""
        return self.request.origin

    @property
    def onelake_url(self) -> str:
        """Where this emulator serves OneLake (its storage API)."""
        return self.origin + ONELAKE_PREFIX

    def json(self) -> dict[str, Any]:
        """The body as an object ({} when none was sent)."""
        return cast("dict[str, Any]", self.body) if isinstance(self.body, dict) else {}

    def workspace(self) -> Workspace:
        """The `{workspaceId}` workspace; raises FabricError 404."""
        workspace_id = self.params["workspaceId"]
        found = self.service.store.workspaces.get(workspace_id.lower())
        if found is None:
            raise FabricError(
                404, "WorkspaceNotFound", f"The workspace {workspace_id} was not found."
            )
        return found

    def item(self) -> Item:
        """The item the path addresses (`/{collection}/{itemId}`), of the collection's type.

        Raises FabricError 404 when it is not in the workspace.
        """
        workspace = self.workspace()
        match = ITEM_PATH.match(self.operation.path)
        if match is None:  # pragma: no cover - handlers of item paths only
            raise FabricError(404, "ItemNotFound", "This path addresses no item.")
        item_id = self.params[match.group("id")]
        kind = item_type_of(match.group("collection"))
        found = self.service.store.items.get(item_id.lower())
        if found is None or found.workspace_id != workspace.id or kind not in {"", found.type}:
            raise FabricError(404, "ItemNotFound", f"The item {item_id} was not found.")
        return found

    def schema_body(self, **params: str) -> Any:
        """A body valid against the operation's result schema (ids from the path and `params`)."""
        answer = self.service.swagger.answer(
            self.operation, self.service.clock.isoformat(), {**self.params, **params}
        )
        return answer.body

    def listing(self, items: list[Any], *, limit: int | None = None) -> HttpResponse:
        """A 200 page of a listing, with the next page's token and URI when there is one."""
        paging = self.operation.paging
        name = paging.item_name if paging is not None else "value"
        query = self.request.query
        limit = limit or _int(query.get("maxResults"))
        try:
            page = self.service.pages.cut(items, self.request.raw_path, query, limit=limit)
        except ValueError as exc:
            raise FabricError(400, "InvalidContinuationToken", str(exc)) from None
        body: dict[str, object] = {name: page.items}
        uri = page.next_uri(self.origin + self.request.raw_path, query)
        if page.token is not None and uri is not None:
            body |= {"continuationToken": page.token, "continuationUri": uri}
        return HttpResponse.json(200, body)


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def to_response(answer: Answer) -> HttpResponse:
    """A core answer as an HTTP response (JSON, bytes, or no body)."""
    if answer.body is None:
        return HttpResponse(answer.status, b"", list(answer.headers))
    if isinstance(answer.body, bytes):
        return HttpResponse(answer.status, answer.body, list(answer.headers))
    return HttpResponse.json(answer.status, answer.body, headers=list(answer.headers))


NO_BODY = MISSING
