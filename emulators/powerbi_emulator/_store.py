"""What the emulated service holds: workspaces, datasets, tables, rows, reports, dashboards."""

from __future__ import annotations

import dataclasses
import random
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock

__all__ = [
    "MY_WORKSPACE",
    "SEED_IDS",
    "Column",
    "Dashboard",
    "Dataset",
    "IdFactory",
    "Report",
    "Store",
    "Table",
    "Workspace",
]

MY_WORKSPACE: str | None = None  # the workspace key of My workspace
WEB = "https://app.powerbi.com"

# Fixed identifiers of the seed data, so that docs, demos and tests can name them.
SEED_IDS = {
    "sales_analytics": "c0ffee00-5a1e-4a1a-8a1b-000000000001",
    "operations": "c0ffee00-5a1e-4a1a-8a1b-000000000002",
    "my_dataset": "d47a5e70-0000-4000-8000-000000000001",
    "sales_dataset": "d47a5e70-0000-4000-8000-000000000002",
    "my_report": "4e907000-0000-4000-8000-000000000001",
    "sales_report": "4e907000-0000-4000-8000-000000000002",
    "my_dashboard": "da5b0a4d-0000-4000-8000-000000000001",
    "sales_dashboard": "da5b0a4d-0000-4000-8000-000000000002",
    "my_tile": "711e0000-0000-4000-8000-000000000001",
    "sales_tile": "711e0000-0000-4000-8000-000000000002",
}


class IdFactory:
    """New UUIDs: reproducible with a seed, random without."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed) if seed is not None else None  # noqa: S311 - ids only

    def new(self) -> str:
        """A new version-4 UUID string."""
        if self._rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


@dataclasses.dataclass
class Workspace:
    """A workspace (group); `modified` is the emulated time its content last changed."""

    id: str
    name: str
    modified: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The Group shape of Groups_GetGroups."""
        return {
            "id": self.id,
            "isReadOnly": False,
            "isOnDedicatedCapacity": False,
            "type": "Workspace",
            "name": self.name,
        }


@dataclasses.dataclass
class Column:
    """A table column; `extra` keeps the optional Column properties as sent."""

    name: str
    data_type: str
    extra: dict[str, object] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The Column shape."""
        return {"name": self.name, "dataType": self.data_type, **self.extra}


@dataclasses.dataclass
class Table:
    """A push dataset table with its stored rows (oldest first)."""

    name: str
    columns: list[Column]
    rows: list[dict[str, object]] = dataclasses.field(default_factory=list)
    extra: dict[str, object] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The Table shape (schema only; Power BI never returns rows here)."""
        return {"name": self.name, "columns": [c.to_json() for c in self.columns], **self.extra}


@dataclasses.dataclass
class Dataset:
    """A dataset: a push dataset (tables, rows) or an imported one (no push API)."""

    id: str
    name: str
    workspace_id: str | None
    configured_by: str
    created: str
    push: bool = True
    retention_policy: str = "None"
    mode: str = "Push"
    tables: dict[str, Table] = dataclasses.field(default_factory=dict)
    relationships: list[object] = dataclasses.field(default_factory=list)

    def table(self, name: str) -> Table | None:
        """A table by name; names compare case-insensitively, as in Power BI."""
        return self.tables.get(name.casefold())

    def to_json(self) -> dict[str, object]:
        """The Dataset shape of Datasets_GetDatasets."""
        group = self.workspace_id or "me"
        return {
            "id": self.id,
            "name": self.name,
            "webUrl": f"{WEB}/groups/{group}/datasets/{self.id}",
            "addRowsAPIEnabled": self.push,
            "configuredBy": self.configured_by,
            "isRefreshable": not self.push,
            "isEffectiveIdentityRequired": False,
            "isEffectiveIdentityRolesRequired": False,
            "isOnPremGatewayRequired": False,
            "targetStorageMode": "Abf",
            "createdDate": self.created,
            "createReportEmbedURL": f"{WEB}/reportEmbed?config=emulator&datasetId={self.id}",
            "qnaEmbedURL": f"{WEB}/qnaEmbed?config=emulator&datasetId={self.id}",
            "upstreamDatasets": [],
            "users": [],
            "queryScaleOutSettings": {"autoSyncReadOnlyReplicas": True, "maxReadOnlyReplicas": 0},
        }


@dataclasses.dataclass
class Report:
    """A report, bound to a dataset unless it is paginated."""

    id: str
    name: str
    workspace_id: str | None
    dataset_id: str | None
    report_type: str = "PowerBIReport"

    def to_json(self) -> dict[str, object]:
        """The Report shape of Reports_GetReports."""
        group = self.workspace_id or "me"
        body: dict[str, object] = {
            "id": self.id,
            "reportType": self.report_type,
            "name": self.name,
            "webUrl": f"{WEB}/groups/{group}/reports/{self.id}",
            "embedUrl": f"{WEB}/reportEmbed?reportId={self.id}&config=emulator",
            "isFromPbix": self.report_type == "PowerBIReport",
            "isOwnedByMe": True,
        }
        if self.dataset_id is not None:
            body["datasetId"] = self.dataset_id
            body["datasetWorkspaceId"] = self.workspace_id or ""
        return body | {"users": [], "subscriptions": []}


@dataclasses.dataclass
class Dashboard:
    """A dashboard and its tiles (each tile a JSON object of the Tile shape)."""

    id: str
    name: str
    workspace_id: str | None
    tiles: list[dict[str, object]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The Dashboard shape."""
        group = self.workspace_id or "me"
        return {
            "id": self.id,
            "displayName": self.name,
            "isReadOnly": False,
            "webUrl": f"{WEB}/groups/{group}/dashboards/{self.id}",
            "embedUrl": f"{WEB}/dashboardEmbed?dashboardId={self.id}&config=emulator",
            "users": [],
            "subscriptions": [],
        }


class Store:
    """Everything the service holds, with deterministic seed data."""

    def __init__(self, clock: EmulatorClock) -> None:
        self.clock = clock
        self.workspaces: dict[str, Workspace] = {}
        self.datasets: dict[str, Dataset] = {}
        self.reports: dict[str, Report] = {}
        self.dashboards: dict[str, Dashboard] = {}
        self.parameters: dict[str, list[dict[str, object]]] = {}
        self.group_users: dict[str, list[dict[str, object]]] = {}
        self.seed()

    def seed(self) -> None:
        """Replace everything with the seed data.

        Two workspaces, a report in each of My workspace and "Sales Analytics", and the
        (imported) datasets behind them.
        """
        self.workspaces.clear()
        self.datasets.clear()
        self.reports.clear()
        self.dashboards.clear()
        self.parameters.clear()
        self.group_users.clear()
        for key, name in (("sales_analytics", "Sales Analytics"), ("operations", "Operations")):
            self.workspaces[SEED_IDS[key]] = Workspace(SEED_IDS[key], name, self.clock.now())
        created = self.clock.isoformat()
        sales = SEED_IDS["sales_analytics"]
        for dataset_key, report_key, workspace, name in (
            ("my_dataset", "my_report", MY_WORKSPACE, "Retail Analysis Sample"),
            ("sales_dataset", "sales_report", sales, "Sales Pipeline"),
        ):
            dataset_id, report_id = SEED_IDS[dataset_key], SEED_IDS[report_key]
            self.datasets[dataset_id] = Dataset(
                dataset_id, name, workspace, "emulator.user@contoso.com", created,
                push=False, mode="Import",
            )  # fmt: skip
            self.reports[report_id] = Report(report_id, name, workspace, dataset_id)
            self.parameters[dataset_id] = [
                {"name": "Server", "type": "Text", "currentValue": "sql.contoso.com",
                 "isRequired": True, "suggestedValues": ["sql.contoso.com"]},
                {"name": "Region", "type": "Text", "currentValue": "EU",
                 "isRequired": False, "suggestedValues": ["EU", "US"]},
            ]  # fmt: skip
        for key, workspace, name in (
            ("my_dashboard", MY_WORKSPACE, "Retail Overview"),
            ("sales_dashboard", sales, "Sales Overview"),
        ):
            dashboard = Dashboard(SEED_IDS[key], name, workspace)
            report_id = SEED_IDS["sales_report" if workspace else "my_report"]
            tile_id = (
                SEED_IDS["sales_tile"] if workspace else "711e0000-0000-4000-8000-000000000001"
            )
            dashboard.tiles.append({
                "id": tile_id, "title": "Revenue", "rowSpan": 1, "colSpan": 1,
                "embedUrl": f"{WEB}/embed?dashboardId={dashboard.id}&tileId={tile_id}",
                "embedData": "{}", "reportId": report_id,
                "datasetId": SEED_IDS["sales_dataset" if workspace else "my_dataset"],
            })  # fmt: skip
            self.dashboards[dashboard.id] = dashboard
        for workspace_id in self.workspaces:
            self.group_users[workspace_id] = [
                {"emailAddress": "emulator.user@contoso.com", "displayName": "Emulator User",
                 "identifier": "emulator.user@contoso.com", "groupUserAccessRight": "Admin",
                 "principalType": "User"},
            ]  # fmt: skip

    def datasets_in(self, workspace_id: str | None) -> list[Dataset]:
        """The datasets of one workspace, in creation order."""
        return [d for d in self.datasets.values() if d.workspace_id == workspace_id]

    def reports_in(self, workspace_id: str | None) -> list[Report]:
        """The reports of one workspace, in creation order."""
        return [r for r in self.reports.values() if r.workspace_id == workspace_id]

    def touch(self, workspace_id: str | None, when: float) -> None:
        """Note that a workspace's content changed at emulated time `when`."""
        workspace = self.workspaces.get(workspace_id) if workspace_id else None
        if workspace is not None:
            workspace.modified = max(workspace.modified, when)

    def summary(self) -> dict[str, object]:
        """Counts of everything held, for the state endpoint."""
        datasets = []
        for dataset in self.datasets.values():
            tables = [
                {"name": t.name, "columns": len(t.columns), "rows": len(t.rows)}
                for t in dataset.tables.values()
            ]
            datasets.append({
                "id": dataset.id,
                "name": dataset.name,
                "workspace_id": dataset.workspace_id,
                "push": dataset.push,
                "default_retention_policy": dataset.retention_policy,
                "tables": tables,
            })  # fmt: skip
        return {
            "workspaces": [w.to_json() for w in self.workspaces.values()],
            "datasets": datasets,
            "reports": len(self.reports),
            "rows": sum(len(t.rows) for d in self.datasets.values() for t in d.tables.values()),
        }
