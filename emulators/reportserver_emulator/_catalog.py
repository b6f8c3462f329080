"""The report server's catalog: folders and items, their policies, refresh plans and data roles.

Shapes follow the Report Server REST API v2.0 (PascalCase properties, OData envelopes). One
lock guards the whole catalog: the server answers from many connection threads at once.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["SEED", "Catalog", "CatalogError", "Item"]

_NAMESPACE = uuid.UUID("5e1f0c1e-7a2b-4c3d-9e8f-0123456789ab")


def _id(name: str) -> str:
    """A stable GUID for a seeded object, so tests and docs can name it."""
    return str(uuid.uuid5(_NAMESPACE, name))


# Seeded objects by a short name (tests and the README use these).
SEED = {
    "root": _id("folder:/"),
    "sales": _id("folder:/Sales"),
    "finance": _id("folder:/Finance"),
    "archive": _id("folder:/Sales/Archive"),
    "revenue": _id("report:/Sales/Revenue"),
    "pipeline": _id("report:/Sales/Pipeline"),
    "budget": _id("report:/Finance/Budget 2026"),
    "revenue_2024": _id("report:/Sales/Archive/Revenue 2024"),
    "invoice": _id("paginated:/Finance/Invoice"),
    "plan_daily": _id("plan:revenue-daily"),
    "plan_hourly": _id("plan:revenue-hourly"),
    "plan_budget": _id("plan:budget-weekly"),
    "role_west": _id("role:revenue-west"),
    "role_east": _id("role:revenue-east"),
    "role_finance": _id("role:budget-finance"),
}

_ROLES = {
    "Browser": "May view folders, reports and subscribe to reports.",
    "Content Manager": "May manage content in the Report Server.",
    "Publisher": "May publish reports and linked reports to the Report Server.",
}
_SEED_TIME = "2026-01-05T09:30:00Z"


class CatalogError(Exception):
    """A request the catalog refuses: HTTP status, the server's error code, a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class Item:
    """One catalog item (folder, Power BI report, paginated report, resource)."""

    id: str
    path: str
    type: str
    description: str = ""
    hidden: bool = False
    size: int = 0
    content: bytes = b""
    created_by: str = "CONTOSO\\rsadmin"
    created: str = _SEED_TIME
    modified_by: str = "CONTOSO\\rsadmin"
    modified: str = _SEED_TIME
    inherit_policy: bool = True
    policies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The last segment of the path (empty for the root folder)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent_path(self) -> str | None:
        """The path of the folder holding this item, ``None`` for the root."""
        if self.path == "/":
            return None
        parent = self.path.rsplit("/", 1)[0]
        return parent or "/"


def _policy(who: str, *roles: str) -> dict[str, Any]:
    return {
        "GroupUserName": who,
        "Roles": [{"Name": r, "Description": _ROLES[r]} for r in roles],
    }


def _schedule(recurrence: dict[str, Any], start: str) -> dict[str, Any]:
    return {
        "ScheduleID": None,
        "Definition": {
            "StartDateTime": start,
            "EndDate": "0001-01-01T00:00:00Z",
            "EndDateSpecified": False,
            "Recurrence": {
                "MinuteRecurrence": None,
                "DailyRecurrence": None,
                "WeeklyRecurrence": None,
                "MonthlyRecurrence": None,
                "MonthlyDOWRecurrence": None,
                **recurrence,
            },
        },
    }


class Catalog:
    """The whole mutable state of one emulated report server."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.items: dict[str, Item] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.model_roles: dict[str, list[dict[str, Any]]] = {}
        self.role_assignments: dict[str, list[dict[str, Any]]] = {}
        self._seed()

    # -- seed ---------------------------------------------------------------------------------

    def _add(self, key: str, path: str, type_: str, **extra: Any) -> Item:
        item = Item(id=SEED[key], path=path, type=type_, **extra)
        self.items[item.id] = item
        return item

    def _seed(self) -> None:
        self._add(
            "root",
            "/",
            "Folder",
            inherit_policy=False,
            policies=[
                _policy("BUILTIN\\Administrators", "Content Manager"),
                _policy("CONTOSO\\Domain Users", "Browser"),
            ],
        )
        self._add(
            "sales",
            "/Sales",
            "Folder",
            description="Sales team reports",
            inherit_policy=False,
            policies=[
                _policy("BUILTIN\\Administrators", "Content Manager"),
                _policy("CONTOSO\\Sales", "Browser"),
                _policy("CONTOSO\\alice", "Browser", "Publisher"),
            ],
        )
        self._add("finance", "/Finance", "Folder")
        self._add("archive", "/Sales/Archive", "Folder", hidden=True)
        pbix = b"PK\x03\x04 emulated pbix"
        self._add("revenue", "/Sales/Revenue", "PowerBIReport", content=pbix, size=len(pbix))
        self._add("pipeline", "/Sales/Pipeline", "PowerBIReport", content=pbix, size=len(pbix))
        self._add(
            "budget",
            "/Finance/Budget 2026",
            "PowerBIReport",
            description="Budget against actuals",
            content=pbix,
            size=len(pbix),
            inherit_policy=False,
            policies=[_policy("CONTOSO\\Finance", "Browser"), _policy("CONTOSO\\bob", "Browser")],
        )
        self._add(
            "revenue_2024",
            "/Sales/Archive/Revenue 2024",
            "PowerBIReport",
            content=pbix,
            size=len(pbix),
        )
        self._add("invoice", "/Finance/Invoice", "Report", size=2048)
        self.plans[SEED["plan_daily"]] = self._plan(
            SEED["plan_daily"],
            "/Sales/Revenue",
            "Daily at 02:00",
            _schedule({"DailyRecurrence": {"DaysInterval": 1}}, "2026-01-05T02:00:00Z"),
            last_status="Completed Data Refresh",
            last_run="2026-01-20T02:00:04Z",
        )
        self.plans[SEED["plan_hourly"]] = self._plan(
            SEED["plan_hourly"],
            "/Sales/Revenue",
            "Every hour in office hours",
            _schedule({"MinuteRecurrence": {"MinutesInterval": 60}}, "2026-01-05T08:00:00Z"),
        )
        self.plans[SEED["plan_budget"]] = self._plan(
            SEED["plan_budget"],
            "/Finance/Budget 2026",
            "Mondays",
            _schedule(
                {"WeeklyRecurrence": {"WeeksInterval": 1, "DaysOfWeek": {"Monday": True}}},
                "2026-01-05T06:00:00Z",
            ),
        )
        for plan_id in self.plans:
            self.history[plan_id] = []
        self.model_roles[SEED["revenue"]] = [
            {"ModelRoleId": SEED["role_west"], "ModelRoleName": "Region West"},
            {"ModelRoleId": SEED["role_east"], "ModelRoleName": "Region East"},
        ]
        self.role_assignments[SEED["revenue"]] = [
            {"GroupUserName": "CONTOSO\\alice", "DataModelRoles": [SEED["role_west"]]},
            {
                "GroupUserName": "CONTOSO\\Sales",
                "DataModelRoles": [SEED["role_west"], SEED["role_east"]],
            },
        ]
        self.model_roles[SEED["budget"]] = [
            {"ModelRoleId": SEED["role_finance"], "ModelRoleName": "Finance Readers"},
        ]
        self.role_assignments[SEED["budget"]] = []

    @staticmethod
    def _plan(
        plan_id: str,
        path: str,
        description: str,
        schedule: dict[str, Any],
        *,
        last_status: str = "New Scheduled Refresh Plan",
        last_run: str | None = None,
    ) -> dict[str, Any]:
        return {
            "Id": plan_id,
            "Owner": "CONTOSO\\rsadmin",
            "Description": description,
            "CatalogItemPath": path,
            "EventType": "DataModelRefresh",
            "Schedule": schedule,
            "ScheduleDescription": description,
            "LastRunTime": last_run,
            "LastStatus": last_status,
            "ModifiedBy": "CONTOSO\\rsadmin",
            "ModifiedDate": _SEED_TIME,
            "ParameterValues": [],
        }

    # -- lookups ------------------------------------------------------------------------------

    def find(self, key: str, *, type_: str | None = None) -> Item:
        """The item with GUID ``key``, or ``path='/a/b'``; 404 if absent or of another type."""
        with self.lock:
            item = self._lookup(key)
            if item is None or (type_ is not None and item.type != type_):
                raise CatalogError(
                    404, "rsItemNotFound", f"The item '{_shown(key)}' cannot be found."
                )
            return item

    def _lookup(self, key: str) -> Item | None:
        lowered = key.strip()
        if lowered.lower().startswith("path="):
            path = lowered[5:].strip()
            if len(path) >= 2 and path[0] == path[-1] == "'":  # noqa: PLR2004 - quote pair
                path = path[1:-1].replace("''", "'")
            return next((i for i in self.items.values() if i.path.lower() == path.lower()), None)
        try:
            wanted = str(uuid.UUID(lowered))
        except ValueError:
            raise CatalogError(
                400,
                "rsInvalidParameter",
                f"'{_shown(key)}' is neither an item's GUID nor path='/folder/item'.",
            ) from None
        return self.items.get(wanted)

    def of_type(self, *types: str) -> list[Item]:
        """Every item of these types (all items when none are named), in path order."""
        with self.lock:
            chosen = [i for i in self.items.values() if not types or i.type in types]
        return sorted(chosen, key=lambda i: i.path.lower())

    def children(self, folder: Item) -> list[Item]:
        """The items directly inside ``folder``."""
        with self.lock:
            return sorted(
                (i for i in self.items.values() if i.parent_path == folder.path),
                key=lambda i: i.path.lower(),
            )

    def entity(self, item: Item) -> dict[str, Any]:
        """An item as the API shows it."""
        parent = self._by_path(item.parent_path) if item.parent_path else None
        out: dict[str, Any] = {
            "Id": item.id,
            "Name": item.name,
            "Description": item.description or None,
            "Path": item.path,
            "Type": item.type,
            "Hidden": item.hidden,
            "Size": item.size,
            "ModifiedBy": item.modified_by,
            "ModifiedDate": item.modified,
            "CreatedBy": item.created_by,
            "CreatedDate": item.created,
            "ParentFolderId": parent.id if parent else None,
            "ContentType": None,
            "Content": "",
            "IsFavorite": False,
            "Roles": [],
        }
        if item.type == "PowerBIReport":
            out["HasDataSources"] = False
        return out

    def _by_path(self, path: str | None) -> Item | None:
        return next((i for i in self.items.values() if i.path == path), None)

    # -- policies -----------------------------------------------------------------------------

    def policies(self, item: Item) -> dict[str, Any]:
        """The item's ItemPolicy: its own policies, or the nearest ancestor's when inherited."""
        with self.lock:
            source: Item | None = item
            while source is not None and source.inherit_policy:
                source = self._by_path(source.parent_path)
            own = source.policies if source is not None else []
            return {
                "Id": item.id,
                "InheritParentPolicy": item.inherit_policy,
                "Policies": [dict(p) for p in own],
            }

    # -- refresh plans ------------------------------------------------------------------------

    def plans_of(self, item: Item) -> list[dict[str, Any]]:
        """The cache refresh plans of a report."""
        with self.lock:
            return [dict(p) for p in self.plans.values() if p["CatalogItemPath"] == item.path]

    def plan(self, key: str) -> dict[str, Any]:
        """One plan by GUID."""
        with self.lock:
            try:
                wanted = str(uuid.UUID(key))
            except ValueError:
                wanted = ""
            plan = self.plans.get(wanted)
            if plan is None:
                raise CatalogError(
                    404,
                    "rsItemNotFound",
                    f"The cache refresh plan '{_shown(key)}' cannot be found.",
                )
            return dict(plan)

    def execute(self, key: str, user: str) -> None:
        """Run a plan now: it completes at once and leaves a history record."""
        with self.lock:
            plan = self.plan(key)
            now = _now()
            stored = self.plans[plan["Id"]]
            stored["LastRunTime"] = now
            stored["LastStatus"] = "Completed Data Refresh"
            self.history[plan["Id"]].append(
                {
                    "PlanId": plan["Id"],
                    "StartTime": now,
                    "EndTime": now,
                    "Status": "Completed Data Refresh",
                    "Type": "DataModelRefresh",
                    "Message": f"Refresh started by {user}",
                }
            )

    # -- data model roles ---------------------------------------------------------------------

    def roles_of(self, item: Item) -> list[dict[str, Any]]:
        """The data model (row-level security) roles a Power BI report defines."""
        with self.lock:
            return [dict(r) for r in self.model_roles.get(item.id, [])]

    def assignments_of(self, item: Item) -> list[dict[str, Any]]:
        """Who is in which data model role of a Power BI report."""
        with self.lock:
            return [
                {**a, "DataModelRoles": list(a["DataModelRoles"])}
                for a in self.role_assignments.get(item.id, [])
            ]

    def replace_assignments(self, item: Item, body: Any) -> None:
        """Replace a report's role assignments; every role must be one the report defines."""
        if not isinstance(body, list):
            raise CatalogError(400, "rsInvalidParameter", "The body must be a JSON array.")
        known = {r["ModelRoleId"] for r in self.roles_of(item)}
        cleaned: list[dict[str, Any]] = []
        for entry in body:
            who = entry.get("GroupUserName") if isinstance(entry, dict) else None
            roles = entry.get("DataModelRoles") if isinstance(entry, dict) else None
            if not isinstance(who, str) or not who or not isinstance(roles, list):
                raise CatalogError(
                    400,
                    "rsInvalidParameter",
                    "Each assignment needs GroupUserName and a DataModelRoles array.",
                )
            unknown = [r for r in roles if r not in known]
            if unknown:
                raise CatalogError(
                    400,
                    "rsInvalidParameter",
                    f"The data model role '{unknown[0]}' does not exist in this report.",
                )
            cleaned.append({"GroupUserName": who, "DataModelRoles": list(roles)})
        with self.lock:
            self.role_assignments[item.id] = cleaned

    # -- uploads ------------------------------------------------------------------------------

    def add_report(self, body: Any, user: str) -> Item:
        """Create a Power BI report from ``{"Name", "Path", "Content", ...}``."""
        if not isinstance(body, dict):
            raise CatalogError(400, "rsInvalidParameter", "The body must be a JSON object.")
        path = body.get("Path")
        name = body.get("Name")
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise CatalogError(
                400, "rsInvalidItemPath", "Path must be the item's full path, e.g. /Sales/Revenue."
            )
        if name is not None and name != path.rsplit("/", 1)[-1]:
            raise CatalogError(400, "rsInvalidItemName", "Name must be the last segment of Path.")
        try:
            content = base64.b64decode(str(body.get("Content") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise CatalogError(400, "rsInvalidParameter", "Content is not base64.") from None
        if not content:
            raise CatalogError(400, "rsInvalidParameter", "Content is empty.")
        return self._store_report(path, content, user, body)

    def _store_report(self, path: str, content: bytes, user: str, body: dict[str, Any]) -> Item:
        with self.lock:
            parent = self._by_path(path.rsplit("/", 1)[0] or "/")
            if parent is None or parent.type != "Folder":
                raise CatalogError(
                    404,
                    "rsItemNotFound",
                    f"The folder '{path.rsplit('/', 1)[0] or '/'}' cannot be found.",
                )
            if self._by_path(path) is not None:
                raise CatalogError(
                    409, "rsItemAlreadyExists", f"An item already exists at '{path}'."
                )
            now = _now()
            item = Item(
                id=str(uuid.uuid4()),
                path=path,
                type="PowerBIReport",
                description=str(body.get("Description") or ""),
                hidden=bool(body.get("Hidden")),
                size=len(content),
                content=content,
                created_by=user,
                created=now,
                modified_by=user,
                modified=now,
            )
            self.items[item.id] = item
            self.model_roles[item.id] = []
            self.role_assignments[item.id] = []
            return item

    def upload_content(self, key: str, content: bytes, user: str) -> Item:
        """``Model.Upload``: replace an existing report's file, or create one by path."""
        with self.lock:
            item = self._lookup(key)
            if item is not None:
                if item.type != "PowerBIReport":
                    raise CatalogError(
                        400, "rsWrongItemType", f"'{item.path}' is not a Power BI report."
                    )
                item.content = content
                item.size = len(content)
                item.modified_by = user
                item.modified = _now()
                return item
            if not key.lower().startswith("path="):
                raise CatalogError(
                    404, "rsItemNotFound", f"The item '{_shown(key)}' cannot be found."
                )
            path = key[5:].strip().strip("'").replace("''", "'")
            return self._store_report(path, content, user, {})

    def delete(self, item: Item) -> None:
        """Remove an item (a folder with everything in it)."""
        with self.lock:
            doomed = [
                i.id
                for i in self.items.values()
                if i.id == item.id or i.path.startswith(item.path.rstrip("/") + "/")
            ]
            paths = {self.items[key].path for key in doomed}
            for plan_id in [k for k, p in self.plans.items() if p["CatalogItemPath"] in paths]:
                del self.plans[plan_id]
            for key in doomed:
                self.items.pop(key, None)
                self.model_roles.pop(key, None)
                self.role_assignments.pop(key, None)


def _shown(text: str) -> str:
    return text if len(text) <= 200 else text[:200] + "…"  # noqa: PLR2004 - keep errors short
