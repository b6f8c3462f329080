"""The activity log: `admin/activityevents`, a day's events paged by continuation tokens.

As the service requires, `startDateTime` and `endDateTime` are quoted (`'2024-05-01T00:00:00Z'`)
and fall in the same UTC day, within the last 30 days; `$filter` takes `Activity eq '…'` and
`UserId eq '…'` joined by `and`. Each answer holds at most `activity.page_size` events of
one hour of the window: `continuationUri` and `continuationToken` lead to the next (a page
may be empty), and the last page says `lastResultSet: true` with both of them null.

The events are computed, not stored: event `i` of a day happens at `i / events_per_day` of
it, and everything about it follows from the seed, the day and `i`. So any window of a
million events is the same on every run and is served in constant memory.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, unquote

from powerbi_emulator._flows._jobs import parse_utc
from powerbi_emulator._http import ApiError, HttpResponse
from powerbi_emulator._store import SEED_IDS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from powerbi_emulator._context import ApiContext
    from powerbi_emulator._flows._state import Flows

__all__ = ["HANDLERS", "event", "event_json", "event_time", "events", "first_at"]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
RETENTION_DAYS = 30
MASK = (1 << 64) - 1
ACTIVITIES = (
    ("ViewReport", 50), ("ViewDashboard", 15), ("ExportReport", 8), ("ViewTile", 8),
    ("RefreshDataset", 6), ("ShareReport", 4), ("CreateReport", 3), ("EditReport", 3),
    ("DeleteReport", 1), ("GenerateEmbedToken", 2),
)  # fmt: skip
_WEIGHTED = tuple(name for name, weight in ACTIVITIES for _ in range(weight))
USERS = (
    "emulator.user@contoso.com", "adele.vance@contoso.com", "alex.wilber@contoso.com",
    "megan.bowen@contoso.com", "nestor.wilke@contoso.com", "lynne.robbins@contoso.com",
    "diego.siciliani@contoso.com", "isaiah.langer@contoso.com",
)  # fmt: skip
ITEMS = (  # (workspace id, workspace name, report id, dataset id, name) of the seed data
    (SEED_IDS["sales_analytics"], "Sales Analytics", SEED_IDS["sales_report"],
     SEED_IDS["sales_dataset"], "Sales Pipeline"),
    (None, "My workspace", SEED_IDS["my_report"], SEED_IDS["my_dataset"],
     "Retail Analysis Sample"),
)  # fmt: skip
AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Safari/605.1.15"
    ),
)
_QUOTED = re.compile(r"'(.*)'", re.DOTALL)
_CLAUSE = re.compile(r"\s*(Activity|UserId)\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)


def _mix(value: int) -> int:
    """splitmix64: a well-spread 64-bit hash of `value`, fast in pure Python."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def event_time(day: int, index: int, per_day: int) -> int:
    """When event `index` of UTC day `day` (days since the epoch) happens, in epoch ms."""
    return day * DAY_MS + index * DAY_MS // per_day


def first_at(day: int, moment: int, per_day: int) -> int:
    """The index of the first event of `day` at or after `moment` (epoch ms)."""
    offset = moment - day * DAY_MS
    if offset <= 0:
        return 0
    return min(per_day, -(-offset * per_day // DAY_MS))


def _uuid(value: int) -> str:
    """A version-4 UUID's text from 128 bits (as uuid.UUID would, several times faster)."""
    text = f"{value & ((1 << 128) - 1):032x}"
    variant = "89ab"[int(text[16], 16) & 3]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


@functools.cache
def _date(day: int) -> str:
    return dt.datetime.fromtimestamp(day * 86_400, dt.UTC).strftime("%Y-%m-%d")


@functools.cache
def _item_json(index: int) -> tuple[str, str]:
    """The JSON members an event has from the item it is about (its names and ids)."""
    workspace_id, workspace, report_id, dataset_id, name = ITEMS[index]
    quoted = json.dumps(name)
    members = [
        f'"ItemName":{quoted}', f'"WorkSpaceName":{json.dumps(workspace)}',
        f'"DatasetName":{quoted}', f'"ReportName":{quoted}', f'"ObjectId":{quoted}',
        f'"DatasetId":"{dataset_id}"', f'"ReportId":"{report_id}"',
    ]  # fmt: skip
    tail = f',"WorkspaceId":"{workspace_id}"' if workspace_id else ""
    return ",".join(members), tail


_AGENTS_JSON = tuple(json.dumps(agent) for agent in AGENTS)


def event_json(seed: int, tenant_id: str, day: int, index: int, per_day: int) -> str:
    """Event `index` of `day` as JSON text: the same for the same seed, every time."""
    first = _mix(seed * 1_000_003 + day * 7_919 + index * 104_729 + 1)
    second = _mix(first)
    third = _mix(second)
    activity = _WEIGHTED[first % len(_WEIGHTED)]
    user = USERS[(first >> 8) % len(USERS)]
    members, tail = _item_json((first >> 16) % len(ITEMS))
    seconds = event_time(day, index, per_day) // 1000 - day * 86_400
    hours, rest = divmod(seconds, 3600)
    moment = f"{_date(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    address = f"10.{(second >> 8) & 255}.{(second >> 16) & 255}.{second & 255}"
    return (
        f'{{"Id":"{_uuid(first << 64 | second)}","RecordType":20,"CreationTime":"{moment}",'
        f'"Operation":"{activity}","OrganizationId":"{tenant_id}","UserType":0,'
        f'"UserKey":"{(second >> 16) & 0xFFFFFFFFFFFF:012X}","Workload":"PowerBI",'
        f'"UserId":"{user}","ClientIP":"{address}",'
        f'"UserAgent":{_AGENTS_JSON[(second >> 24) % len(AGENTS)]},"Activity":"{activity}",'
        f'{members},"IsSuccess":true,"ReportType":"PowerBIReport",'
        f'"RequestId":"{_uuid(second << 64 | first)}","ActivityId":"{_uuid(third << 64 | first)}",'
        f'"DistributionMethod":"Workspace"{tail}}}'
    )


def _matches(seed: int, day: int, index: int, activity: str, user: str) -> bool:
    """Whether event `index` passes a filter, without making the whole event."""
    first = _mix(seed * 1_000_003 + day * 7_919 + index * 104_729 + 1)
    if activity and _WEIGHTED[first % len(_WEIGHTED)].casefold() != activity.casefold():
        return False
    return not user or USERS[(first >> 8) % len(USERS)].casefold() == user.casefold()


def event(seed: int, tenant_id: str, day: int, index: int, per_day: int) -> dict[str, object]:
    """Event `index` of `day` as an object (see `event_json`)."""
    return cast("dict[str, object]", json.loads(event_json(seed, tenant_id, day, index, per_day)))


def events(
    seed: int, tenant_id: str, start: int, end: int, per_day: int
) -> Iterator[dict[str, object]]:
    """Every event from `start` to `end` (epoch ms, both included) of one UTC day."""
    day = start // DAY_MS
    index = first_at(day, start, per_day)
    while index < per_day and event_time(day, index, per_day) <= end:
        yield event(seed, tenant_id, day, index, per_day)
        index += 1


def _parse_moment(text: str, name: str) -> int:
    quoted = _QUOTED.fullmatch(text.strip())
    if quoted is None:
        raise ApiError(
            400,
            "InvalidRequest",
            f"{name} must be an ISO 8601 UTC date-time in single quotes, e.g. "
            f"'2024-05-01T00:00:00.000Z'; got {text!r}.",
        )
    return int(parse_utc(quoted.group(1), name) * 1000)


def _parse_filter(text: str) -> tuple[str | None, str | None]:
    """(activity, user) of a `$filter` of `eq` clauses joined by `and`."""
    activity = user = None
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        found = _CLAUSE.fullmatch(clause)
        if found is None:
            raise ApiError(
                400,
                "InvalidRequest",
                f"Invalid $filter {text!r}: only Activity eq '...' and UserId eq '...', "
                "joined by 'and', are supported.",
            )
        value = found.group(2).replace("''", "'")
        if found.group(1).lower() == "activity":
            activity = value
        else:
            user = value
    return activity, user


class _Position:
    """Where a listing stands: its window, filter, and the next event to return."""

    def __init__(
        self, start: int, end: int, segment: int, index: int, *, activity: str, user: str
    ) -> None:
        self.start, self.end, self.segment, self.index = start, end, segment, index
        self.activity, self.user = activity, user

    def token(self) -> str:
        """The continuation token, as the service shows it: opaque and percent-encoded."""
        text = "\x1f".join(
            ["v1", str(self.start), str(self.end), str(self.segment), str(self.index),
             self.activity, self.user]
        )  # fmt: skip
        return quote(base64.b64encode(text.encode()).decode(), safe="")

    @classmethod
    def from_token(cls, raw: str) -> _Position:
        quoted = _QUOTED.fullmatch(raw.strip())
        token = quoted.group(1) if quoted else ""
        if "%" in token:  # sent as the body shows it, still percent-encoded
            token = unquote(token)
        try:
            fields = base64.b64decode(token, validate=True).decode().split("\x1f")
            version, start, end, segment, index, activity, user = fields
            numbers = [int(start), int(end), int(segment), int(index)]
        except ValueError:
            numbers, version = [], ""
        if version != "v1":
            raise ApiError(
                400,
                "InvalidRequest",
                "continuationToken is not a token this service issued; pass it in single "
                "quotes, as continuationUri does.",
            )
        start_ms, end_ms, segment_ms, index_no = numbers
        return cls(start_ms, end_ms, segment_ms, index_no, activity=activity, user=user)


def _start(ctx: ApiContext, flows: Flows) -> _Position:
    query = ctx.request.query
    if "startDateTime" not in query or "endDateTime" not in query:
        raise ApiError(
            400,
            "InvalidRequest",
            "Give either continuationToken, or both startDateTime and endDateTime.",
        )
    start = _parse_moment(query["startDateTime"], "startDateTime")
    end = _parse_moment(query["endDateTime"], "endDateTime")
    if start // DAY_MS != end // DAY_MS:
        raise ApiError(
            400,
            "InvalidRequest",
            "startDateTime and endDateTime must be in the same UTC day.",
        )
    if end < start:
        raise ApiError(400, "InvalidRequest", "endDateTime must not be before startDateTime.")
    today = int(flows.clock.now() * 1000) // DAY_MS
    if start // DAY_MS < today - RETENTION_DAYS:
        raise ApiError(
            400, "InvalidRequest", f"The activity log keeps the last {RETENTION_DAYS} days only."
        )
    activity, user = _parse_filter(query["$filter"]) if query.get("$filter") else (None, None)
    per_day = flows.settings.activity.events_per_day
    index = first_at(start // DAY_MS, start, per_day) if per_day else 0
    return _Position(start, end, start, index, activity=activity or "", user=user or "")


async def _activity_events(ctx: ApiContext) -> HttpResponse:
    """Admin_GetActivityEvents: one page of the window, and where the next one is."""
    flows = ctx.service.flows
    flows.limit("activity.per_hour")
    query = ctx.request.query
    if "continuationToken" in query:
        if "startDateTime" in query or "endDateTime" in query:
            raise ApiError(
                400,
                "InvalidRequest",
                "Give either continuationToken, or startDateTime and endDateTime, not both.",
            )
        position = _Position.from_token(query["continuationToken"])
    else:
        position = _start(ctx, flows)
    settings = flows.settings.activity
    per_day, day = settings.events_per_day, position.start // DAY_MS
    now = int(flows.clock.now() * 1000)
    segment_end = min((position.segment // HOUR_MS + 1) * HOUR_MS, position.end + 1)
    page: list[str] = []
    index = max(position.index, first_at(day, position.segment, per_day)) if per_day else 0
    taken = 0
    while per_day and index < per_day and taken < settings.page_size:
        moment = event_time(day, index, per_day)
        if moment >= segment_end or moment > now:
            break
        if _matches(settings.seed, day, index, position.activity, position.user):
            page.append(event_json(settings.seed, flows.tenant_id, day, index, per_day))
        index += 1
        taken += 1
    full = taken >= settings.page_size
    following = _Position(
        position.start, position.end, position.segment if full else segment_end, index,
        activity=position.activity, user=position.user,
    )  # fmt: skip
    if not full and segment_end > position.end:
        ending = '"continuationUri":null,"continuationToken":null,"lastResultSet":true'
    else:
        token = following.token()
        uri = f"{ctx.request.origin}/v1.0/myorg/admin/activityevents?continuationToken='{token}'"
        ending = (
            f'"continuationUri":{json.dumps(uri)},"continuationToken":"{token}",'
            '"lastResultSet":false'
        )
    ctx.log["events"] = len(page)
    body = f'{{"activityEventEntities":[{",".join(page)}],{ending}}}'
    return HttpResponse(200, body.encode(), [("content-type", "application/json; charset=utf-8")])


HANDLERS = {"Admin_GetActivityEvents": _activity_events}
