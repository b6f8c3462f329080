"""Workspaces and items, kept: created, listed (in pages), read, renamed and deleted.

An item is reached through `/items` (any type) or through its type's collection
(`/lakehouses`, `/notebooks`, ...); a typed answer is the type's documented schema with the
item's own properties over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fabric_emulator._errors import FabricError
from fabric_emulator._service import ITEM_PATH, item_type_of, to_response
from fabric_emulator._store import Item, Workspace
from powerbi_emulator._http import HttpResponse

if TYPE_CHECKING:
    from fabric_emulator._service import Call

__all__ = [
    "create_item",
    "create_workspace",
    "delete_item",
    "delete_workspace",
    "get_item",
    "get_workspace",
    "list_items",
    "list_workspaces",
    "update_item",
    "update_workspace",
]


def list_workspaces(call: Call) -> HttpResponse:
    """Workspaces_ListWorkspaces."""
    return call.listing([w.to_json() for w in call.service.store.workspaces.values()])


def create_workspace(call: Call) -> HttpResponse:
    """Workspaces_CreateWorkspace: 201, or 409 when the name is taken."""
    body = call.json()
    name = str(body["displayName"])
    store = call.service.store
    if any(w.display_name.casefold() == name.casefold() for w in store.workspaces.values()):
        raise FabricError(
            409, "WorkspaceNameAlreadyExists", f"The workspace name '{name}' is already in use."
        )
    capacity = body.get("capacityId")
    workspace = Workspace(store.ids.new(), name, str(body.get("description", "")), capacity)
    store.workspaces[workspace.id] = workspace
    return HttpResponse.json(201, workspace.to_json())


def get_workspace(call: Call) -> HttpResponse:
    """Workspaces_GetWorkspace."""
    return HttpResponse.json(200, call.workspace().to_json())


def update_workspace(call: Call) -> HttpResponse:
    """Workspaces_UpdateWorkspace: a new name or description."""
    workspace = call.workspace()
    body = call.json()
    workspace.display_name = str(body.get("displayName", workspace.display_name))
    workspace.description = str(body.get("description", workspace.description))
    return HttpResponse.json(200, workspace.to_json())


def delete_workspace(call: Call) -> HttpResponse:
    """Workspaces_DeleteWorkspace: the workspace and its items."""
    workspace = call.workspace()
    store = call.service.store
    for item in store.items_in(workspace.id):
        store.remove_item(item.id)
    del store.workspaces[workspace.id]
    return HttpResponse(200)


def _kind(call: Call) -> str:
    """The item type of the collection the path names ('' for `/items`)."""
    collection = call.operation.path.split("/")[4]
    return item_type_of(collection) or ""


def item_body(call: Call, item: Item) -> dict[str, Any]:
    """An item as the API shows it; a type with its own `properties` gets them from its schema."""
    body = item.to_json()
    match = ITEM_PATH.match(call.operation.path)
    id_name = match.group("id") if match is not None else "itemId"
    built = call.schema_body(**{id_name: item.id})
    if call.operation.paging is not None and isinstance(built, dict):
        built = (built.get(call.operation.paging.item_name) or [{}])[0]
    properties = built.get("properties") if isinstance(built, dict) else None
    if isinstance(properties, dict):
        body["properties"] = properties
        if item.type == "Lakehouse":
            root = f"{call.onelake_url}/{item.workspace_id}/{item.id}"
            properties |= {
                "oneLakeTablesPath": f"{root}/Tables",
                "oneLakeFilesPath": f"{root}/Files",
            }
    return body


def list_items(call: Call) -> HttpResponse:
    """Items_ListItems (`?type=`) and every type's own listing."""
    workspace = call.workspace()
    kind = _kind(call) or call.request.query.get("type") or None
    items = call.service.store.items_in(workspace.id, kind)
    return call.listing([item_body(call, item) for item in items])


def create_item(call: Call) -> HttpResponse:
    """Items_CreateItem and every type's own: 201 with the item, 409 for a name in use.

    With a definition the item is made by a long-running operation (202), whose result is
    the item.
    """
    workspace = call.workspace()
    body = call.json()
    kind = _kind(call) or str(body.get("type", ""))
    name = str(body["displayName"])
    store = call.service.store
    if any(i.display_name == name for i in store.items_in(workspace.id, kind)):
        raise FabricError(
            409, "ItemDisplayNameAlreadyInUse", f"Requested '{name}' is already in use by a {kind}."
        )
    folder = body.get("folderId")
    item = store.add_item(
        Item(store.ids.new(), workspace.id, kind, name, str(body.get("description", "")),
             str(folder) if folder else None)
    )  # fmt: skip
    created = item_body(call, item)
    if "definition" in body and call.operation.accepted == "operation":
        operations = call.service.operations
        return to_response(operations.accepted(operations.start(result=created), call.origin))
    return HttpResponse.json(201, created)


def get_item(call: Call) -> HttpResponse:
    """Items_GetItem and every type's own."""
    return HttpResponse.json(200, item_body(call, call.item()))


def update_item(call: Call) -> HttpResponse:
    """Items_UpdateItem and every type's own: a new name or description."""
    item = call.item()
    body = call.json()
    item.display_name = str(body.get("displayName", item.display_name))
    item.description = str(body.get("description", item.description))
    return HttpResponse.json(200, item_body(call, item))


def delete_item(call: Call) -> HttpResponse:
    """Items_DeleteItem and every type's own: the item, its OneLake files and its tables."""
    item = call.item()
    call.service.store.remove_item(item.id)
    return HttpResponse(200)
