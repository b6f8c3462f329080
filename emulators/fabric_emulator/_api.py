"""The Fabric REST API under `/v1`: authenticated, matched to its operation, checked, answered.

Operations the emulator keeps state for (workspaces, items, lakehouse tables, job instances,
long-running operations) have handlers; every other one answers from its documented schema:
202 and a long-running operation when it is one, its success response otherwise. Ids of
workspaces and items the emulator holds must exist (404 otherwise).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import TYPE_CHECKING

from emulator_core import MISSING, Answer, OperationLookupError
from fabric_emulator import _items, _jobs, _lakehouse
from fabric_emulator._errors import FabricError
from fabric_emulator._service import ITEM_PATH, Call, item_type_of, to_response
from powerbi_emulator._http import BodyError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from emulator_core import Operation
    from fabric_emulator._service import FabricService
    from powerbi_emulator._http import HttpRequest, HttpResponse
    from powerbi_emulator._identity import AccessGrant, TokenService

__all__ = ["FabricApi"]

_COLLECTION = re.compile(r"^/v1/workspaces/\{workspaceId\}/(?P<collection>[A-Za-z]+)$")
_LOAD = re.compile(r"^(/schemas/\{schemaName\})?/tables/\{tableName\}/load$")
_JOBS = re.compile(r"^/jobs(/[A-Za-z]+)?/instances$")
_JOB = re.compile(r"^/jobs(/[A-Za-z]+)?/instances/\{jobInstanceId\}$")
_JSON_TYPES = frozenset({"application/json", ""})


def _state(call: Call) -> HttpResponse:
    """LongRunningOperations_GetOperationState."""
    try:
        answer = call.service.operations.state(call.params["operationId"], call.origin)
    except OperationLookupError as exc:
        raise FabricError(exc.status, exc.code, exc.message) from None
    return to_response(answer)


def _result(call: Call) -> HttpResponse:
    """LongRunningOperations_GetOperationResult."""
    try:
        answer = call.service.operations.result(call.params["operationId"])
    except OperationLookupError as exc:
        raise FabricError(exc.status, exc.code, exc.message) from None
    return to_response(answer)


def _generic(call: Call) -> HttpResponse:
    """An operation without state: its documented answer, once the ids it names exist."""
    operation = call.operation
    if operation.path.startswith("/v1/workspaces/{workspaceId}"):
        call.workspace()
        match = ITEM_PATH.match(operation.path)
        if match is not None and item_type_of(match.group("collection")) is not None:
            call.item()
    if operation.accepted == "plain":
        return to_response(Answer(202))
    answer = call.service.swagger.answer(operation, call.service.clock.isoformat(), call.params)
    if operation.accepted == "operation":
        operations = call.service.operations
        result = None if answer.status == 202 else answer.body  # noqa: PLR2004
        if isinstance(answer.body, bytes):
            result = answer
        return to_response(operations.accepted(operations.start(result=result), call.origin))
    return to_response(answer)


@functools.cache
def handler_for(operation: Operation) -> Callable[[Call], HttpResponse]:
    """The handler of an operation: a stateful one where the emulator keeps state, else generic."""
    method, path = operation.method, operation.path
    if path.startswith("/v1/operations/{operationId}") and method == "GET":
        return _result if path.endswith("/result") else _state
    if operation.accepted == "job":
        return _jobs.run_job
    fixed: dict[tuple[str, str], Callable[[Call], HttpResponse]] = {
        ("GET", "/v1/workspaces"): _items.list_workspaces,
        ("POST", "/v1/workspaces"): _items.create_workspace,
        ("GET", "/v1/workspaces/{workspaceId}"): _items.get_workspace,
        ("PATCH", "/v1/workspaces/{workspaceId}"): _items.update_workspace,
        ("DELETE", "/v1/workspaces/{workspaceId}"): _items.delete_workspace,
    }
    if (method, path) in fixed:
        return fixed[(method, path)]
    collection = _COLLECTION.match(path)
    if collection is not None and item_type_of(collection.group("collection")) is not None:
        by_method = {"GET": _items.list_items, "POST": _items.create_item}
        return by_method.get(method, _generic)
    item = ITEM_PATH.match(path)
    if item is None or item_type_of(item.group("collection")) is None:
        return _generic
    rest = path[item.end() :]
    routes: dict[tuple[str, bool], Callable[[Call], HttpResponse]] = {
        ("GET", rest == ""): _items.get_item,
        ("PATCH", rest == ""): _items.update_item,
        ("DELETE", rest == ""): _items.delete_item,
        (
            "GET",
            rest == "/tables" and item.group("collection") == "lakehouses",
        ): _lakehouse.list_tables,
        ("POST", bool(_LOAD.match(rest))): _lakehouse.load,
        ("GET", bool(_JOBS.match(rest))): _jobs.list_jobs,
        ("GET", bool(_JOB.match(rest))): _jobs.get_job,
        ("POST", rest == "/jobs/instances/{jobInstanceId}/cancel"): _jobs.cancel_job,
    }
    return routes.get((method, True), _generic)


class FabricApi:
    """Authenticates, matches, checks and runs requests under `/v1`."""

    def __init__(self, service: FabricService, tokens: TokenService) -> None:
        self._service = service
        self._tokens = tokens

    async def handle(
        self, request: HttpRequest, delay: Callable[[], Awaitable[None]], log: dict[str, object]
    ) -> HttpResponse:
        """The response to one request under `/v1`; fills `log` with the caller."""
        grant = self._authenticate(request)
        log |= {"principal": grant.principal, "client_id": grant.client_id}
        self._throttle(grant)
        swagger = self._service.swagger
        match, allowed = swagger.table.match(request.method, request.raw_path, request.query)
        if match is None:
            if allowed:
                raise FabricError(
                    405,
                    "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'.",
                    headers=[("Allow", ", ".join(allowed))],
                )
            raise FabricError(404, "EntityNotFound", f"No API at {request.raw_path}.")
        operation = match.operation
        log["operation"] = operation.id
        body = self._body(request)
        problems = swagger.validator.check(
            operation, match.params, request.query, request.headers, body
        )
        if problems:
            more = f" ({len(problems) - 1} more in moreDetails)" if len(problems) > 1 else ""
            raise FabricError(
                400,
                "InvalidInput",
                problems[0].message + more,
                details=[("InvalidParameter", p.message) for p in problems],
            )
        await delay()
        call = Call(request, grant, operation, match.params, body, self._service)
        return handler_for(operation)(call)

    @staticmethod
    def _body(request: HttpRequest) -> object:
        if not request.body:
            return MISSING
        if request.media_type not in _JSON_TYPES:
            return None  # files and forms are taken as they come
        try:
            return request.json()
        except BodyError as exc:
            raise FabricError(
                400, "InvalidInput", f"The request body is not valid JSON: {exc}."
            ) from None

    def _throttle(self, grant: AccessGrant) -> None:
        rate = self._service.rate
        if rate is None:
            return
        wait = rate.take(f"{grant.principal}:{grant.client_id}")
        if wait <= 0:
            return
        clock = self._service.clock
        until = dt.datetime.fromtimestamp(clock.now() + wait, dt.UTC)
        raise FabricError(
            429,
            "RequestBlocked",
            f"Request is blocked by the upstream service until: {until:%m/%d/%Y %I:%M:%S %p} (UTC)",
            headers=[("Retry-After", str(clock.retry_after(wait)))],
        )

    def _authenticate(self, request: HttpRequest) -> AccessGrant:
        service = self._service
        cloud = service.cloud
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        grant = self._tokens.lookup_access(token.strip()) if scheme.lower() == "bearer" else None
        challenge = [
            (
                "WWW-Authenticate",
                (
                    f'Bearer authorization_uri="{request.origin}/{service.config.shared.tenant}'
                    '/oauth2/authorize"'
                ),
            )
        ]
        if grant is None:
            message = (
                "The access token is missing or invalid."
                if header
                else "An Authorization: Bearer access token is required."
            )
            raise FabricError(401, "Unauthorized", message, headers=challenge)
        if self._tokens.is_expired(grant.expires_at):
            raise FabricError(
                401,
                "TokenExpired",
                "Access token has expired, resubmit with a new access token",
                headers=challenge,
            )
        if grant.audience not in {cloud.resource, cloud.powerbi}:
            raise FabricError(
                401,
                "Unauthorized",
                f"The access token was issued for {grant.audience}, not for the Fabric API; "
                f"request a scope of {cloud.resource}/.default.",
                headers=challenge,
            )
        return grant
