"""A lakehouse's tables: listed in pages, and loaded from its OneLake files (long-running)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator_core import OperationFailedError
from fabric_emulator._errors import FabricError
from fabric_emulator._service import to_response
from fabric_emulator._tables import LoadRequest, commit, scan, sources

if TYPE_CHECKING:
    from fabric_emulator._service import Call
    from powerbi_emulator._http import HttpResponse

__all__ = ["list_tables", "load"]


def list_tables(call: Call) -> HttpResponse:
    """Tables_ListTables: the lakehouse's tables, at most `maxResults` (100) a page."""
    lakehouse = call.item()
    store = call.service.store
    with store.lock:
        tables = sorted(
            store.tables.get(lakehouse.id, {}).values(), key=lambda t: t.name.casefold()
        )
    root = f"{call.onelake_url}/{lakehouse.workspace_id}/{lakehouse.id}/Tables"
    listed = [
        {"type": "Managed", "name": t.name, "location": f"{root}/{t.name}", "format": "delta"}
        for t in tables
    ]
    return call.listing(listed)


def load(call: Call) -> HttpResponse:
    """Tables_LoadTable (and the schema table's, in beta): 202, then the load runs.

    The operation fails (and the table stays as it was) when a file is missing or does not
    fit; it succeeds once the rows are in the table.
    """
    lakehouse = call.item()
    if lakehouse.type != "Lakehouse":  # pragma: no cover - the path names lakehouses
        raise FabricError(404, "ItemNotFound", f"The lakehouse {lakehouse.id} was not found.")
    schema = call.params.get("schemaName")
    name = call.params["tableName"] if not schema else f"{schema}.{call.params['tableName']}"
    request = LoadRequest(call.json())
    store = call.service.store
    clock = call.service.clock

    def work() -> None:
        # Reading the files and committing are quick and locked; checking the rows is not.
        with store.lock:
            files = store.files.get(lakehouse.id)
            tables = store.tables.get(lakehouse.id)
            if files is None or tables is None:
                raise OperationFailedError("ItemNotFound", "The lakehouse was deleted.")
            found = sources(files, request)
            table = tables.get(name.casefold())
        checked = scan(found, table, name, request)
        with store.lock:
            if tables.get(name.casefold()) is not table:
                raise OperationFailedError(
                    "ConcurrentUpdate", f"The table {name} changed while it was being loaded."
                )
            tables[name.casefold()] = commit(files, checked, clock.now())

    operations = call.service.operations
    return to_response(operations.accepted(operations.start(work=work), call.origin))
