"""Dataset refreshes over emulated time: the request, the history, execution details, cancel.

`POST …/datasets/{id}/refreshes` answers 202. A body with anything besides `notifyOption`
asks for an enhanced refresh: its answer also carries `Location` (the refresh's URL) and
`x-ms-request-id` (its id). The refresh is NotStarted for `refreshes.queued_seconds`,
InProgress for `refreshes.seconds`, then Completed, or Failed with `serviceExceptionJson`.
The history says `Unknown` until it ends; `GET …/refreshes/{refreshId}` answers 202 while
it runs and 200 once it ended; `DELETE` on it cancels a running refresh.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, cast

from powerbi_emulator._flows._jobs import Timeline
from powerbi_emulator._http import ApiError, HttpResponse

if TYPE_CHECKING:
    from powerbi_emulator._context import ApiContext
    from powerbi_emulator._flows._state import Flows
    from powerbi_emulator._store import Dataset

__all__ = ["HANDLERS", "RefreshJob"]

NOTIFY_OPTIONS = ("NoNotification", "MailOnFailure", "MailOnCompletion")
TYPES = ("Full", "ClearValues", "Calculate", "DataOnly", "Automatic", "Defragment")
COMMIT_MODES = ("Transactional", "PartialBatch")
ENHANCED_KEYS = frozenset({
    "type", "commitMode", "maxParallelism", "retryCount", "objects", "applyRefreshPolicy",
    "effectiveDate", "timeout",
})  # fmt: skip
STATUS = {  # the history's and the details' `status`
    "queued": "Unknown",
    "running": "Unknown",
    "succeeded": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
EXTENDED = {
    "queued": "NotStarted",
    "running": "InProgress",
    "succeeded": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
HISTORY_TOP = 60


@dataclasses.dataclass
class RefreshJob:
    """One refresh of a dataset."""

    id: str
    number: int
    dataset_id: str
    enhanced: bool
    timeline: Timeline
    options: dict[str, Any]
    error_code: str = ""
    message: str = ""

    @property
    def attempts(self) -> int:
        """How many attempts it makes: a failing one retries `retryCount` times."""
        return 1 + int(self.options.get("retryCount", 0)) if self.timeline.fails else 1

    def history_json(self, flows: Flows) -> dict[str, object]:
        """An entry of the refresh history (the Refresh shape)."""
        now, clock = flows.clock.now(), flows.clock
        phase = self.timeline.phase(now)
        entry: dict[str, object] = {
            "requestId": self.id,
            "id": self.number,
            "refreshType": "ViaEnhancedApi" if self.enhanced else "ViaApi",
            "startTime": clock.isoformat(self.timeline.started),
        }
        if self.timeline.finished(now):
            entry["endTime"] = clock.isoformat(self.timeline.ends)
        entry["status"] = STATUS[phase]
        if phase == "failed":
            entry["serviceExceptionJson"] = self._exception()
        entry["refreshAttempts"] = self._attempts(flows)
        return entry

    def details_json(self, flows: Flows) -> dict[str, object]:
        """The execution details (the DatasetRefreshDetail shape)."""
        now, clock = flows.clock.now(), flows.clock
        phase = self.timeline.phase(now)
        body: dict[str, object] = {"startTime": clock.isoformat(self.timeline.started)}
        if self.timeline.finished(now):
            body["endTime"] = clock.isoformat(self.timeline.ends)
        refresh_type = self.options.get("type", "Full")
        body |= {
            "type": refresh_type,
            "commitMode": self.options.get("commitMode", "Transactional"),
            "status": STATUS[phase],
            "extendedStatus": EXTENDED[phase],
            "currentRefreshType": refresh_type,
            "numberOfAttempts": self.attempts if phase == "failed" else 1,
            "objects": [
                {**item, "status": EXTENDED[phase]} for item in self.options.get("objects", [])
            ],
            "messages": [],
            "refreshAttempts": self._attempts(flows),
        }
        if phase == "failed":
            body["messages"] = [{"code": self.error_code, "message": self.message, "type": "Error"}]
        return body

    def _exception(self) -> str:
        return json.dumps(
            {"errorCode": self.error_code, "errorDescription": self.message},
            separators=(",", ":"),
        )

    def _attempts(self, flows: Flows) -> list[dict[str, object]]:
        now, clock, timeline = flows.clock.now(), flows.clock, self.timeline
        count = self.attempts if timeline.phase(now) == "failed" else 1
        span = timeline.running / count
        attempts: list[dict[str, object]] = []
        for index in range(count):
            start = timeline.runs_from + index * span
            if now < start or (timeline.cancelled_at is not None and start > timeline.ends):
                break
            attempt: dict[str, object] = {
                "attemptId": index + 1,
                "startTime": clock.isoformat(start),
                "type": "Data",
            }
            end = timeline.ends if index == count - 1 else start + span
            if now >= end:
                attempt["endTime"] = clock.isoformat(end)
                if timeline.phase(now) == "failed":
                    attempt["serviceExceptionJson"] = self._exception()
            attempts.append(attempt)
        return attempts


def _refreshable(ctx: ApiContext) -> Dataset:
    dataset = ctx.dataset()
    if dataset.push:
        raise ApiError(
            400, "InvalidRequest", f"Dataset {dataset.id} is a push dataset; it cannot refresh."
        )
    return dataset


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
    """Check an enumerated option (any case, as the service takes it) and spell it canonically."""
    if key not in body:
        return
    value = body[key]
    found = next(
        (a for a in allowed if isinstance(value, str) and a.casefold() == value.casefold()), None
    )
    if found is None:
        raise ApiError(
            400, "InvalidRequest", f"{key} must be one of {', '.join(allowed)}; got {value!r}."
        )
    body[key] = found


def _options(ctx: ApiContext) -> tuple[dict[str, Any], bool]:
    """The request body, checked; and whether it asks for an enhanced refresh."""
    raw: object = ctx.json_body() if ctx.request.body.strip() else {}
    if not isinstance(raw, dict):
        raise ApiError(400, "InvalidRequest", "The request body must be a JSON object.")
    body = cast("dict[str, Any]", dict(raw))
    unknown = sorted(set(body) - ENHANCED_KEYS - {"notifyOption"})
    if unknown:
        raise ApiError(400, "InvalidRequest", f"Unknown refresh option(s): {', '.join(unknown)}.")
    enhanced = bool(set(body) & ENHANCED_KEYS)
    if enhanced and "notifyOption" in body:
        raise ApiError(
            400,
            "InvalidRequest",
            "notifyOption is not supported with an enhanced refresh (one with type, "
            "commitMode, objects, ...); leave it out.",
        )
    _choice(body, "notifyOption", NOTIFY_OPTIONS)
    _choice(body, "type", TYPES)
    _choice(body, "commitMode", COMMIT_MODES)
    for key in ("maxParallelism", "retryCount"):
        value = body.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ApiError(400, "InvalidRequest", f"{key} must be a non-negative integer.")
    objects = body.get("objects", [])
    if not isinstance(objects, list) or not all(
        isinstance(o, dict) and isinstance(o.get("table"), str) for o in objects
    ):
        raise ApiError(400, "InvalidRequest", "objects must be a list of {table, partition}.")
    return body, enhanced


async def _refresh(ctx: ApiContext) -> HttpResponse:
    """Datasets_RefreshDataset[InGroup]: 202; enhanced ones also answer with a Location."""
    flows = ctx.service.flows
    dataset = _refreshable(ctx)
    options, enhanced = _options(ctx)
    history = flows.refreshes.setdefault(dataset.id, [])
    now = flows.clock.now()
    if any(not job.timeline.finished(now) for job in history):
        if enhanced:
            raise ApiError(
                409, "Conflict", f"Another refresh of dataset {dataset.id} is in progress."
            )
        raise ApiError(
            400,
            "InvalidRequest",
            "Invalid dataset refresh request. Another refresh request is already executing.",
        )
    settings = flows.settings.refreshes
    job = RefreshJob(
        ctx.service.ids.new(), len(history) + 1, dataset.id, enhanced,
        Timeline(now, settings.queued_seconds, settings.seconds), options,
    )  # fmt: skip
    if flows.take_failure("refreshes"):
        job.timeline.fails = True
        job.error_code, job.message = settings.error_code, settings.message
    history.insert(0, job)
    headers = [("RequestId", job.id)]
    if enhanced:
        location = f"{ctx.request.origin}{ctx.request.raw_path.rstrip('/')}/{job.id}"
        headers += [("Location", location), ("x-ms-request-id", job.id)]
    return HttpResponse(202, b"", headers)


async def _history(ctx: ApiContext) -> HttpResponse:
    """Datasets_GetRefreshHistory[InGroup]: newest first; `$top` (default 60)."""
    dataset = ctx.dataset()
    raw_top = ctx.request.query.get("$top", str(HISTORY_TOP))
    if not raw_top.isdigit() or int(raw_top) < 1:
        raise ApiError(400, "InvalidRequest", "$top must be a positive integer.")
    flows = ctx.service.flows
    entries = [job.history_json(flows) for job in flows.refreshes.get(dataset.id, [])]
    body = {"@odata.context": ctx.metadata_url("refreshes"), "value": entries[: int(raw_top)]}
    return HttpResponse.json(200, body)


def _job(ctx: ApiContext) -> RefreshJob:
    dataset = ctx.dataset()
    wanted = ctx.params["refreshId"].lower()
    job = next((j for j in ctx.service.flows.refreshes.get(dataset.id, []) if j.id == wanted), None)
    if job is None:
        raise ApiError(
            404, "ItemNotFound", f"Refresh {ctx.params['refreshId']} of dataset {dataset.id} is "
            "not found.",
        )  # fmt: skip
    return job


async def _details(ctx: ApiContext) -> HttpResponse:
    """Datasets_GetRefreshExecutionDetails[InGroup]: 202 while it runs, 200 once it ended."""
    job = _job(ctx)
    flows = ctx.service.flows
    done = job.timeline.finished(flows.clock.now())
    return HttpResponse.json(200 if done else 202, job.details_json(flows))


async def _cancel(ctx: ApiContext) -> HttpResponse:
    """Datasets_CancelRefresh[InGroup]: a running refresh ends Cancelled."""
    job = _job(ctx)
    now = ctx.service.flows.clock.now()
    if job.timeline.finished(now):
        raise ApiError(
            400, "InvalidRequest", f"Refresh {job.id} has already ended; it cannot be cancelled."
        )
    job.timeline.cancelled_at = now
    return HttpResponse(200)


HANDLERS = {
    "Datasets_RefreshDataset": _refresh,
    "Datasets_GetRefreshHistory": _history,
    "Datasets_GetRefreshExecutionDetails": _details,
    "Datasets_CancelRefresh": _cancel,
}
