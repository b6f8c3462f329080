"""What the emulated Fabric tenant holds: workspaces, items, lakehouse tables, OneLake, jobs."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from typing import TYPE_CHECKING

from fabric_emulator._onelake_files import ItemFiles

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock

__all__ = [
    "SEED_IDS",
    "Column",
    "DataFile",
    "IdFactory",
    "Item",
    "JobInstance",
    "Store",
    "Table",
    "Workspace",
]


def _seed_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fabric-emulator/{name}"))


SEED_IDS = {
    name: _seed_id(name)
    for name in ("sales_workspace", "sales_lakehouse", "sales_notebook", "sales_pipeline")
}


class IdFactory:
    """New GUIDs: random, or reproducible from a seed."""

    def __init__(self, seed: int | None) -> None:
        self._seed = seed
        self._count = 0

    def new(self) -> str:
        """The next id."""
        self._count += 1
        if self._seed is None:
            return str(uuid.uuid4())
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fabric-emulator/{self._seed}/{self._count}"))


@dataclasses.dataclass
class Workspace:
    """A workspace."""

    id: str
    display_name: str
    description: str = ""
    capacity_id: str | None = None

    def to_json(self) -> dict[str, object]:
        """The workspace as the API shows it."""
        body: dict[str, object] = {
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "type": "Workspace",
        }
        if self.capacity_id:
            body["capacityId"] = self.capacity_id
        return body


@dataclasses.dataclass
class Item:
    """An item of a workspace (a lakehouse, a notebook, a pipeline...)."""

    id: str
    workspace_id: str
    type: str
    display_name: str
    description: str = ""
    folder_id: str | None = None

    def to_json(self) -> dict[str, object]:
        """The item's common properties as the API shows them."""
        body: dict[str, object] = {
            "id": self.id,
            "type": self.type,
            "displayName": self.display_name,
            "description": self.description,
            "workspaceId": self.workspace_id,
        }
        if self.folder_id:
            body["folderId"] = self.folder_id
        return body


@dataclasses.dataclass(frozen=True)
class Column:
    """A table column: its name and Delta type (long, double, boolean, timestamp, date, string)."""

    name: str
    type: str


@dataclasses.dataclass(frozen=True)
class DataFile:
    """Rows a load added: the CSV text they came from (kept as sent), and how to read it."""

    content: bytes
    rows: int
    header: bool
    delimiter: str
    order: tuple[int, ...]  # for each table column, its position in the file


@dataclasses.dataclass
class Table:
    """A managed Delta table of a lakehouse."""

    name: str
    columns: list[Column]
    files: list[DataFile] = dataclasses.field(default_factory=list)
    version: int = -1  # the last Delta log version written

    @property
    def rows(self) -> int:
        """How many rows the table holds."""
        return sum(f.rows for f in self.files)


@dataclasses.dataclass
class JobInstance:
    """A run of an item's job, timed on the emulated clock."""

    id: str
    workspace_id: str
    item_id: str
    job_type: str
    created: float
    invoke_type: str = "Manual"
    cancelled_at: float | None = None


class Store:
    """Everything the API changes; `lock` guards what worker threads (table loads) touch."""

    def __init__(self, clock: EmulatorClock, ids: IdFactory) -> None:
        self._clock = clock
        self.ids = ids
        self.lock = threading.Lock()
        self.workspaces: dict[str, Workspace] = {}
        self.items: dict[str, Item] = {}
        self.tables: dict[str, dict[str, Table]] = {}  # by lakehouse id, then folded name
        self.files: dict[str, ItemFiles] = {}  # OneLake, by item id
        self.jobs: dict[str, JobInstance] = {}
        self.seed()

    def seed(self) -> None:
        """Back to the seed data: the Sales workspace with a lakehouse, a notebook, a pipeline."""
        with self.lock:
            self.workspaces.clear()
            self.items.clear()
            self.tables.clear()
            self.files.clear()
            self.jobs.clear()
        workspace = Workspace(
            SEED_IDS["sales_workspace"], "Sales", "The emulator's seed workspace."
        )
        self.workspaces[workspace.id] = workspace
        for key, kind, name in (
            ("sales_lakehouse", "Lakehouse", "SalesLakehouse"),
            ("sales_notebook", "Notebook", "Daily refresh"),
            ("sales_pipeline", "DataPipeline", "Nightly load"),
        ):
            self.add_item(Item(SEED_IDS[key], workspace.id, kind, name))

    def add_item(self, item: Item) -> Item:
        """Store a new item (a lakehouse gets its OneLake folders and no tables)."""
        self.items[item.id] = item
        self.files[item.id] = ItemFiles(self._clock)
        if item.type == "Lakehouse":
            self.tables[item.id] = {}
            for folder in ("Files", "Tables"):
                self.files[item.id].make_directory(folder)
        return item

    def remove_item(self, item_id: str) -> None:
        """Forget an item, its files, tables and job instances."""
        with self.lock:
            self.items.pop(item_id, None)
            self.files.pop(item_id, None)
            self.tables.pop(item_id, None)
            for job_id in [j.id for j in self.jobs.values() if j.item_id == item_id]:
                del self.jobs[job_id]

    def items_in(self, workspace_id: str, kind: str | None = None) -> list[Item]:
        """A workspace's items, of one type or all, oldest first."""
        return [
            item
            for item in self.items.values()
            if item.workspace_id == workspace_id and kind in {None, item.type}
        ]

    def find_workspace(self, name_or_id: str) -> Workspace | None:
        """A workspace by id or display name (OneLake takes either)."""
        found = self.workspaces.get(name_or_id.lower())
        if found is not None:
            return found
        return next((w for w in self.workspaces.values() if w.display_name == name_or_id), None)

    def find_item(self, workspace: Workspace, name_or_id: str) -> Item | None:
        """An item of a workspace by id, or as `DisplayName.Type` (OneLake takes either)."""
        found = self.items.get(name_or_id.lower())
        if found is not None and found.workspace_id == workspace.id:
            return found
        name, _, kind = name_or_id.rpartition(".")
        return next(
            (
                i
                for i in self.items_in(workspace.id)
                if i.display_name == name and i.type.lower() == kind.lower()
            ),
            None,
        )

    def summary(self) -> dict[str, object]:
        """What is stored, for the control API: workspaces, items, tables with rows and columns."""
        with self.lock:
            lakehouses = [
                {
                    "id": item_id,
                    "workspaceId": self.items[item_id].workspace_id,
                    "displayName": self.items[item_id].display_name,
                    "tables": [
                        {
                            "name": table.name,
                            "rows": table.rows,
                            "columns": [dataclasses.asdict(c) for c in table.columns],
                        }
                        for table in tables.values()
                    ],
                }
                for item_id, tables in self.tables.items()
                if item_id in self.items
            ]
        return {
            "workspaces": [w.to_json() for w in self.workspaces.values()],
            "items": [i.to_json() for i in self.items.values()],
            "lakehouses": lakehouses,
            "jobs": len(self.jobs),
        }
