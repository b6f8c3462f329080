"""What a REST API handler works with: the request, the caller, the workspace, and the service."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from powerbi_emulator._http import ApiError, BodyError, HttpRequest, HttpResponse
from powerbi_emulator._odata import apply_query

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._config import EmulatorConfig
    from powerbi_emulator._flows._state import Flows
    from powerbi_emulator._identity import AccessGrant
    from powerbi_emulator._limits import PushThrottle
    from powerbi_emulator._store import Dataset, IdFactory, Store

__all__ = ["ApiContext", "Service"]

USER_NAME = "emulator.user@contoso.com"


@dataclasses.dataclass
class Service:
    """The state the REST API reads and changes."""

    config: EmulatorConfig
    clock: EmulatorClock
    ids: IdFactory
    store: Store
    throttle: PushThrottle
    flows: Flows


@dataclasses.dataclass
class ApiContext:
    """One authenticated REST request, routed: path parameters and target workspace."""

    request: HttpRequest
    grant: AccessGrant
    workspace_id: str | None
    params: dict[str, str]
    service: Service
    delay: Callable[[], Awaitable[None]]
    log: dict[str, object]
    query_options: frozenset[str] | None = None  # the OData options the operation takes

    @property
    def caller_name(self) -> str:
        """Who the service believes is calling (the `configuredBy` of what they create)."""
        if self.grant.principal == "app":
            client = next(
                (c for c in self.service.config.clients if c.client_id == self.grant.client_id),
                None,
            )
            return client.display_name if client else self.grant.client_id
        return USER_NAME

    def metadata_url(self, entity_set: str) -> str:
        """The `@odata.context` value for an entity set of this workspace."""
        group = f"groups/{self.workspace_id}/" if self.workspace_id else ""
        return f"{self.request.origin}/v1.0/myorg/{group}$metadata#{entity_set}"

    def listing(self, entity_set: str, items: list[dict[str, object]]) -> HttpResponse:
        """A 200 OData list envelope, after `$filter`, `$skip` and `$top`."""
        query = self.request.query
        if self.query_options is not None:
            query = {k: v for k, v in query.items() if k in self.query_options}
        page, _ = apply_query(items, query)
        return HttpResponse.json(
            200, {"@odata.context": self.metadata_url(entity_set), "value": page}
        )

    def json_body(self) -> object:
        """The JSON body; raises ApiError 415 or 400 when there is none."""
        if self.request.media_type != "application/json":
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"Content-Type must be application/json, got {self.request.media_type or 'none'}.",
            )
        try:
            return self.request.json()
        except BodyError as exc:
            raise ApiError(400, "InvalidRequest", f"Invalid request body: {exc}.") from None

    def dataset(self, *, push: bool = False) -> Dataset:
        """The `{datasetId}` dataset of this workspace.

        Raises ApiError 404 if it is not there, 400 if `push` is required and it is not a
        push dataset.
        """
        dataset_id = self.params["datasetId"]
        dataset = self.service.store.datasets.get(dataset_id.lower())
        if dataset is None or dataset.workspace_id != self.workspace_id:
            raise ApiError(
                404,
                "ItemNotFound",
                f"Dataset {dataset_id} is not found! Please verify the datasetId is correct and "
                "the user has sufficient permissions.",
            )
        if push and not dataset.push:
            raise ApiError(
                400, "InvalidRequest", f"Dataset {dataset_id} is not a Push API dataset."
            )
        return dataset
