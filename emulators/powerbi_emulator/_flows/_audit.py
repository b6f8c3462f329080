"""What people did, as the activity log tells it: events the service's own operations record.

Deleting a report or a dataset, creating a push dataset, an import that ends, and a refresh
asked for through the API each add an event at the emulated moment it happened, as Power BI's
audit log does (`DeleteReport`, `DeleteDataset`, `CreateDataset`, `Import`,
`RefreshDataset`). `POST /_emulator/activity` adds events of any activity at a chosen moment
(several at once share it). The activity log serves them beside the events it computes, on the
last page of their hour.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from powerbi_emulator._store import IdFactory

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._store import Store

__all__ = ["AuditLog", "Subject"]

USER = "emulator.user@contoso.com"
AGENT = "connectorkit-emulator"


@dataclasses.dataclass(frozen=True)
class Subject:
    """What an event is about: a workspace, and a report and/or a dataset in it."""

    workspace_id: str | None = None
    report: tuple[str, str] | None = None  # (id, name)
    dataset: tuple[str, str] | None = None  # (id, name)


@dataclasses.dataclass(frozen=True)
class _Recorded:
    at_ms: int
    activity: str
    user: str
    text: str


class AuditLog:
    """The recorded events of one emulator, oldest first; `clear` on reset."""

    def __init__(self, clock: EmulatorClock, store: Store, tenant_id: str) -> None:
        self._clock = clock
        # Ids of their own: recording events never shifts a seeded emulator's other ids.
        self._ids = IdFactory(None)
        self._store = store
        self._tenant_id = tenant_id
        self._events: list[_Recorded] = []

    def record(
        self,
        activity: str,
        subject: Subject,
        *,
        when: float | None = None,
        user: str = USER,
    ) -> dict[str, object]:
        """Add one event of `activity` (at `when`, emulated seconds; default now); it back."""
        moment = self._clock.now() if when is None else when
        at_ms = int(moment * 1000)
        event: dict[str, object] = {
            "Id": self._ids.new(),
            "RecordType": 20,
            # Power BI writes the creation time to the second, without a zone.
            "CreationTime": self._clock.isoformat(at_ms // 1000)[:19],
            "Operation": activity,
            "OrganizationId": self._tenant_id,
            "UserType": 0,
            "UserKey": user.split("@", maxsplit=1)[0].upper(),
            "Workload": "PowerBI",
            "UserId": user,
            "ClientIP": "127.0.0.1",
            "UserAgent": AGENT,
            "Activity": activity,
            **self._about(subject),
            "IsSuccess": True,
            "RequestId": self._ids.new(),
            "ActivityId": self._ids.new(),
        }
        text = json.dumps(event, separators=(",", ":"))
        self._events.append(_Recorded(at_ms, activity, user, text))
        self._events.sort(key=lambda e: e.at_ms)
        return event

    def _about(self, subject: Subject) -> dict[str, object]:
        workspace = self._store.workspaces.get(subject.workspace_id or "")
        out: dict[str, object] = {
            "WorkSpaceName": workspace.name if workspace is not None else "My workspace"
        }
        name = None
        if subject.dataset is not None:
            out |= {"DatasetId": subject.dataset[0], "DatasetName": subject.dataset[1]}
            name = subject.dataset[1]
        if subject.report is not None:
            out |= {"ReportId": subject.report[0], "ReportName": subject.report[1]}
            name = subject.report[1]
        if name is not None:
            out |= {"ItemName": name, "ObjectId": name}
        if subject.workspace_id:
            out["WorkspaceId"] = subject.workspace_id
        return out

    def between(self, start_ms: int, end_ms: int, *, activity: str, user: str) -> list[str]:
        """The events from `start_ms` to `end_ms` (both included) passing the filter, as JSON."""
        return [
            e.text
            for e in self._events
            if start_ms <= e.at_ms <= end_ms
            and (not activity or e.activity.casefold() == activity.casefold())
            and (not user or e.user.casefold() == user.casefold())
        ]

    def to_json(self) -> list[object]:
        """Every recorded event, oldest first."""
        return [json.loads(e.text) for e in self._events]

    def clear(self) -> None:
        """Forget every recorded event."""
        self._events.clear()
