"""Job instances: run on demand (202 and a Location to poll), timed on the emulated clock.

A job is NotStarted for the first moments, InProgress, then Completed once its emulated
duration has passed; cancelling one that has not ended makes it Cancelled.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from fabric_emulator._errors import FabricError
from fabric_emulator._store import JobInstance
from powerbi_emulator._http import HttpResponse

if TYPE_CHECKING:
    from fabric_emulator._service import Call

__all__ = ["cancel_job", "get_job", "job_status", "list_jobs", "run_job"]

_STARTING = 0.05  # the share of its duration a job spends NotStarted


def job_status(call: Call, job: JobInstance) -> tuple[str, float | None]:
    """The job's status now, and when it ended (None while it runs)."""
    now = call.service.clock.now()
    duration = call.service.config.job_seconds
    ends = job.created + duration
    if job.cancelled_at is not None:
        return "Cancelled", job.cancelled_at
    if now >= ends:
        return "Completed", ends
    return ("NotStarted" if now < job.created + duration * _STARTING else "InProgress"), None


def _body(call: Call, job: JobInstance) -> dict[str, object]:
    clock = call.service.clock
    status, ended = job_status(call, job)
    body: dict[str, object] = {
        "id": job.id,
        "itemId": job.item_id,
        "jobType": job.job_type,
        "invokeType": job.invoke_type,
        "status": status,
        "rootActivityId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"fabric-emulator/job/{job.id}")),
        "startTimeUtc": clock.isoformat(job.created),
    }
    if ended is not None:
        body["endTimeUtc"] = clock.isoformat(ended)
    return body


def _location(call: Call, job: JobInstance) -> str:
    return (
        f"{call.origin}/v1/workspaces/{job.workspace_id}/items/{job.item_id}"
        f"/jobs/instances/{job.id}"
    )


def _retry_after(call: Call, job: JobInstance) -> str:
    ends = job.created + call.service.config.job_seconds
    return str(call.service.clock.retry_after(max(ends - call.service.clock.now(), 0.0)))


def run_job(call: Call) -> HttpResponse:
    """JobScheduler_RunOnDemandItemJob and every type's own job: 202 with Location."""
    item = call.item()
    job_type = call.params.get("jobType") or call.operation.path.split("/")[-2]
    store = call.service.store
    job = JobInstance(
        store.ids.new(), item.workspace_id, item.id, job_type, call.service.clock.now()
    )
    store.jobs[job.id] = job
    headers = [("Location", _location(call, job)), ("Retry-After", _retry_after(call, job))]
    return HttpResponse(202, b"", headers)


def _job(call: Call) -> JobInstance:
    item = call.item()
    job_id = call.params["jobInstanceId"]
    job = call.service.store.jobs.get(job_id.lower())
    if job is None or job.item_id != item.id:
        raise FabricError(404, "EntityNotFound", f"The job instance {job_id} was not found.")
    return job


def get_job(call: Call) -> HttpResponse:
    """JobScheduler_GetItemJobInstance (and the typed ones)."""
    return HttpResponse.json(200, _body(call, _job(call)))


def list_jobs(call: Call) -> HttpResponse:
    """JobScheduler_ListItemJobInstances (and the typed ones): newest first, in pages."""
    item = call.item()
    jobs = [j for j in call.service.store.jobs.values() if j.item_id == item.id]
    jobs.sort(key=lambda j: j.created, reverse=True)
    return call.listing([_body(call, job) for job in jobs])


def cancel_job(call: Call) -> HttpResponse:
    """JobScheduler_CancelItemJobInstance: 202 and the job's Location; an ended job stays ended."""
    job = _job(call)
    status, _ = job_status(call, job)
    if status in {"NotStarted", "InProgress"}:
        job.cancelled_at = call.service.clock.now()
    headers = [("Location", _location(call, job)), ("Retry-After", "1")]
    return HttpResponse(202, b"", headers)
