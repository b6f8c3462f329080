"""What the flows hold: their records, settings, effects due and hourly limits."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

from powerbi_emulator._flows._blob import BlobStore
from powerbi_emulator._flows._jobs import Completions, HourlyLimit
from powerbi_emulator._flows._pipelines import seed_pipelines

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from powerbi_emulator._clock import EmulatorClock
    from powerbi_emulator._flows._exports import ExportJob
    from powerbi_emulator._flows._imports import ImportJob
    from powerbi_emulator._flows._jobs import Timeline
    from powerbi_emulator._flows._pipelines import Deployment, Pipeline
    from powerbi_emulator._flows._refreshes import RefreshJob
    from powerbi_emulator._flows._scanner import ScanJob
    from powerbi_emulator._flows._settings import FlowSettings
    from powerbi_emulator._store import IdFactory, Store

__all__ = ["LIMITS", "Flows"]


class _Timed(Protocol):
    @property
    def timeline(self) -> Timeline: ...


# The hourly limits, by the setting that sizes each, and how their 429s name them.
LIMITS = {
    "scans.modified_per_hour": "GetModifiedWorkspaces",
    "scans.get_info_per_hour": "PostWorkspaceInfo",
    "scans.status_per_hour": "GetScanStatus",
    "scans.result_per_hour": "GetScanResult",
    "activity.per_hour": "GetActivityEvents",
}


class Flows:
    """The state of every flow of one emulator; `reset` goes back to the start."""

    def __init__(
        self,
        settings: FlowSettings,
        clock: EmulatorClock,
        ids: IdFactory,
        store: Store,
        tenant_id: str,
    ) -> None:
        self.initial = settings
        self.settings = settings
        self.clock = clock
        self.ids = ids
        self.store = store
        self.tenant_id = tenant_id
        self.completions = Completions()
        self.blobs = BlobStore(clock)
        self.imports: dict[str, ImportJob] = {}
        self.refreshes: dict[str, list[RefreshJob]] = {}  # by dataset id, newest first
        self.exports: dict[str, ExportJob] = {}
        self.scans: dict[str, ScanJob] = {}
        self.pipelines: dict[str, Pipeline] = {}
        self.deployments: dict[str, Deployment] = {}
        self.limits = {key: HourlyLimit(clock, what) for key, what in LIMITS.items()}
        self.reset()

    def reset(self) -> None:
        """Forget every operation; settings, limits and pipelines as at start."""
        self.settings = self.initial
        self.completions.clear()
        self.blobs.clear()
        for records in (self.imports, self.refreshes, self.exports, self.scans):
            records.clear()
        self.deployments.clear()
        for limit in self.limits.values():
            limit.clear()
        self.pipelines = seed_pipelines(self.clock.now())

    def settle(self) -> None:
        """Apply what operations that ended by now change (call before serving a request)."""
        self.completions.settle(self.clock.now())

    def limit(self, key: str) -> None:
        """Count a request against the hourly limit sized by setting `key`, or raise 429."""
        flow, name = key.split(".")
        self.limits[key].admit(int(getattr(getattr(self.settings, flow), name)))

    def take_failure(self, flow: str) -> bool:
        """Whether the operation of `flow` starting now is one set to fail (counting it)."""
        section = getattr(self.settings, flow)
        if section.fail <= 0:
            return False
        changed = dataclasses.replace(section, fail=section.fail - 1)
        self.settings = dataclasses.replace(self.settings, **{flow: changed})
        return True

    def configure(self, patch: Mapping[str, object]) -> None:
        """Change settings (raises FlowSettingsError); `fail` counts are set as given."""
        self.settings = self.settings.merged(patch)

    def _jobs(self) -> Iterator[_Timed]:
        yield from self.imports.values()
        yield from self.exports.values()
        yield from self.scans.values()
        yield from self.deployments.values()
        for history in self.refreshes.values():
            yield from history

    def to_json(self) -> dict[str, object]:
        """Settings, what each flow holds, and the hourly limits used, for the control API."""
        running = self.clock.now()
        return {
            "settings": self.settings.to_json(),
            "imports": len(self.imports),
            "refreshes": sum(len(items) for items in self.refreshes.values()),
            "exports": len(self.exports),
            "scans": len(self.scans),
            "deployments": len(self.deployments),
            "running": sum(not job.timeline.finished(running) for job in self._jobs()),
            "limits_used": {key: limit.used() for key, limit in self.limits.items()},
        }
