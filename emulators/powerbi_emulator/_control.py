"""The control API under `/_emulator/`: faults, state, request log, tokens, clock, reset.

App credentials, managed identities and the test issuer are `_registration`'s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from powerbi_emulator._config import ConfigError, FaultSpec
from powerbi_emulator._flows._settings import FlowSettingsError
from powerbi_emulator._http import ApiError, BodyError, HttpRequest, HttpResponse
from powerbi_emulator._identity import (
    ScopeError,
    parse_app_scope,
    parse_delegated_scopes,
)
from powerbi_emulator._registration import IdentityControl

if TYPE_CHECKING:
    from collections.abc import Callable

    from powerbi_emulator._state import EmulatorState

__all__ = ["ControlApi"]

JsonObject = dict[str, object]


def _bad(message: str) -> ApiError:
    return ApiError(400, "InvalidRequest", message)


class ControlApi:
    """Test and demo hooks; not part of Power BI, never under `/v1.0`."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._routes: dict[tuple[str, str], Callable[[HttpRequest, JsonObject], HttpResponse]] = {
            ("GET", "state"): self._get_state,
            ("GET", "requests"): self._get_requests,
            ("DELETE", "requests"): self._clear_requests,
            ("GET", "faults"): self._get_faults,
            ("POST", "faults"): self._add_fault,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "reset"): self._reset,
            ("POST", "tokens"): self._issue_token,
            ("POST", "tokens/expire"): self._expire_tokens,
            ("POST", "tokens/revoke"): self._revoke_tokens,
            ("GET", "clock"): self._get_clock,
            ("POST", "clock"): self._advance_clock,
            ("GET", "flows"): self._get_flows,
            ("POST", "flows"): self._set_flows,
        }

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The response to one `/_emulator/...` request."""
        try:
            return self._dispatch(request)
        except ApiError as exc:
            return exc.response()

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        segments = request.segments[1:]
        body = self._body(request)
        if segments[:1] and segments[0] in IdentityControl.PREFIXES:
            return self._state.identity_control.handle(request, segments, body)
        route = self._routes.get((request.method, "/".join(segments)))
        if route is not None:
            return route(request, body)
        match request.method, segments:
            case ("DELETE", ("faults", fault_id)):
                if not self._state.faults.remove(fault_id):
                    raise ApiError(404, "ItemNotFound", f"No fault {fault_id}.")
                return HttpResponse(204)
            case ("GET", ("datasets", dataset_id, "tables", table_name, "rows")):
                return self._rows(dataset_id, table_name)
        raise ApiError(404, "NotFound", f"No control endpoint {request.method} {request.raw_path}.")

    @staticmethod
    def _body(request: HttpRequest) -> JsonObject:
        if not request.body.strip():
            return {}
        try:
            body = request.json()
        except BodyError as exc:
            raise _bad(str(exc)) from None
        if not isinstance(body, dict):
            raise _bad("The body must be a JSON object.")
        return cast("JsonObject", body)

    def _get_state(self, _request: HttpRequest, _body: JsonObject) -> HttpResponse:
        return HttpResponse.json(200, self._state.summary())

    def _get_requests(self, request: HttpRequest, _body: JsonObject) -> HttpResponse:
        since = request.query.get("since", "0")
        if not since.isdigit():
            raise _bad("since must be a non-negative integer.")
        entries = self._state.log.entries(int(since), request.query.get("kind"))
        return HttpResponse.json(200, {"value": entries})

    def _clear_requests(self, _request: HttpRequest, _body: JsonObject) -> HttpResponse:
        self._state.log.clear()
        return HttpResponse(204)

    def _get_faults(self, _request: HttpRequest, _body: JsonObject) -> HttpResponse:
        return HttpResponse.json(200, {"value": [f.to_json() for f in self._state.faults.list()]})

    def _add_fault(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        try:
            spec = FaultSpec.from_mapping(body)
        except (ConfigError, TypeError) as exc:
            raise _bad(f"Invalid fault: {exc}") from None
        return HttpResponse.json(201, self._state.faults.add(spec).to_json())

    def _clear_faults(self, _request: HttpRequest, _body: JsonObject) -> HttpResponse:
        self._state.faults.clear()
        return HttpResponse(204)

    def _reset(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        tokens = body.get("tokens", False)
        if not isinstance(tokens, bool):
            raise _bad("tokens must be a boolean.")
        self._state.reset(tokens=tokens)
        return HttpResponse(204)

    def _issue_token(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        state = self._state
        client_id = body.get("client_id", state.config.clients[0].client_id)
        if client_id not in {c.client_id for c in state.config.clients}:
            raise _bad(f"Unknown client_id {client_id!r}.")
        principal = body.get("principal", "user")
        if principal not in {"user", "app"}:
            raise _bad("principal must be 'user' or 'app'.")
        default_scope = f"{state.tokens.directory.cloud.resource}/" + (
            ".default" if principal == "app" else "Dataset.ReadWrite.All offline_access"
        )
        scope = body.get("scope", default_scope)
        lifetime = body.get("lifetime")
        if not isinstance(scope, str):
            raise _bad("scope must be a string.")
        if lifetime is not None and (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, int | float)
            or not math.isfinite(lifetime)
        ):
            raise _bad("lifetime must be a number of emulated seconds.")
        try:
            scopes = parse_app_scope(scope) if principal == "app" else parse_delegated_scopes(scope)
        except ScopeError as exc:
            raise _bad(str(exc)) from None
        token = state.tokens.issue(
            str(client_id),
            principal,
            scopes,
            with_refresh=principal == "user" and "offline_access" in scopes,
            lifetime=None if lifetime is None else float(lifetime),
        )
        return HttpResponse.json(200, token)

    def _expire_tokens(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        token = body.get("access_token")
        if token is not None and not isinstance(token, str):
            raise _bad("access_token must be a string.")
        return HttpResponse.json(200, {"expired": self._state.tokens.expire_access(token)})

    def _revoke_tokens(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        token = body.get("refresh_token")
        if token is not None and not isinstance(token, str):
            raise _bad("refresh_token must be a string.")
        return HttpResponse.json(200, {"revoked": self._state.tokens.revoke_refresh(token)})

    def _clock_json(self) -> JsonObject:
        clock = self._state.clock
        return {"now": clock.isoformat(), "epoch": clock.now(), "time_scale": clock.time_scale}

    def _get_clock(self, _request: HttpRequest, _body: JsonObject) -> HttpResponse:
        return HttpResponse.json(200, self._clock_json())

    def _advance_clock(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        seconds = body.get("advance")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise _bad("advance must be a non-negative number of emulated seconds.")
        self._state.clock.advance(float(seconds))
        return HttpResponse.json(200, self._clock_json())

    def _get_flows(self, _request: HttpRequest, _body: JsonObject) -> HttpResponse:
        return HttpResponse.json(200, self._state.service.flows.to_json())

    def _set_flows(self, _request: HttpRequest, body: JsonObject) -> HttpResponse:
        try:
            self._state.service.flows.configure(body)
        except FlowSettingsError as exc:
            raise _bad(f"Invalid flow settings: {exc}") from None
        return HttpResponse.json(200, self._state.service.flows.to_json())

    def _rows(self, dataset_id: str, table_name: str) -> HttpResponse:
        dataset = self._state.service.store.datasets.get(dataset_id)
        table = dataset.table(table_name) if dataset else None
        if table is None:
            raise ApiError(404, "ItemNotFound", f"No table '{table_name}' in dataset {dataset_id}.")
        return HttpResponse.json(200, {"value": table.rows})
