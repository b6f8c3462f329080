"""The control API under `/_emulator/`: the Power BI emulator's, plus a lakehouse table's rows."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from fabric_emulator._tables import read_rows
from powerbi_emulator._control import ControlApi
from powerbi_emulator._http import ApiError, HttpResponse

if TYPE_CHECKING:
    from fabric_emulator._state import FabricState
    from powerbi_emulator._http import HttpRequest

__all__ = ["FabricControl"]

MAX_ROWS = 10_000


class FabricControl:
    """Faults, state, request log, tokens, clock and reset, as for Power BI; and table rows."""

    def __init__(self, state: FabricState) -> None:
        self._state = state
        self._shared = ControlApi(state.shared)

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The response to one `/_emulator/...` request."""
        match request.method, request.segments[1:]:
            case ("GET", ("lakehouses", lakehouse_id, "tables", name, "rows")):
                return self._rows(request, lakehouse_id, name)
            case ("GET", ("state",)):
                return HttpResponse.json(200, self._state.summary())
            case ("POST", ("reset",)):
                answer = self._shared.handle(request)  # checks the body, resets what is shared
                if answer.status < HTTPStatus.BAD_REQUEST:
                    self._state.reset()
                return answer
            case (_, ("datasets", *_)):
                return ApiError(404, "NotFound", "The Fabric emulator has no datasets.").response()
        return self._shared.handle(request)

    def _rows(self, request: HttpRequest, lakehouse_id: str, name: str) -> HttpResponse:
        """Rows of a lakehouse table, oldest first: `?skip=` and `?top=` (at most 10,000)."""
        skip, top = request.query.get("skip", "0"), request.query.get("top", "100")
        if not (skip.isdigit() and top.isdigit()) or int(top) > MAX_ROWS:
            error = f"skip and top must be whole numbers (top at most {MAX_ROWS})."
            return ApiError(400, "InvalidRequest", error).response()
        store = self._state.service.store
        with store.lock:
            table = store.tables.get(lakehouse_id.lower(), {}).get(name.casefold())
        if table is None:
            error = f"No table '{name}' in lakehouse {lakehouse_id}."
            return ApiError(404, "ItemNotFound", error).response()
        rows = read_rows(table, skip=int(skip), top=int(top))
        return HttpResponse.json(200, {"rows": table.rows, "value": rows})
