"""Push dataset limits as Power BI documents them, enforced by the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from powerbi_emulator import PushLimits, running

ROWS_PER_HOUR_MESSAGE = "You are over your rows per hour limit for this dataset."


def column(name, data_type="Int64"):
    return {"name": name, "dataType": data_type}


def table(name="T", columns=None):
    return {"name": name, "columns": [column("n")] if columns is None else list(columns)}


class Pusher:
    """A user of one emulator that creates push datasets and posts rows."""

    def __init__(self, emu):
        self.emu = emu
        token = emu.issue_token()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=emu.base_url, headers=self.headers, timeout=30)

    def create(self, tables=None, policy=None):
        params = {"defaultRetentionPolicy": policy} if policy else {}
        body = {"name": "Limits", "tables": [table()] if tables is None else tables}
        return self.http.post("/datasets", json=body, params=params)

    def dataset(self, tables=None, policy=None):
        response = self.create(tables, policy)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def post(self, dataset_id, rows, table_name="T"):
        return self.http.post(
            f"/datasets/{dataset_id}/tables/{table_name}/rows", json={"rows": rows}
        )

    def post_raw(self, dataset_id, content, table_name="T"):
        return self.http.post(
            f"/datasets/{dataset_id}/tables/{table_name}/rows",
            content=content,
            headers={"Content-Type": "application/json"},
        )


@pytest.fixture(scope="module")
def emu():
    with running() as handle:
        yield handle


@pytest.fixture
def pusher(emu):
    emu.reset()
    client = Pusher(emu)
    yield client
    client.http.close()


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def retry_after(response):
    assert response.status_code == 429, response.text
    value = response.headers["retry-after"]
    assert value.isdigit()
    assert response.json()["error"]["code"] == "TooManyRequests"
    return int(value)


def test_defaults_are_the_documented_limits():
    limits = PushLimits()
    assert (limits.max_tables, limits.max_columns) == (75, 75)
    assert (limits.max_rows_per_post, limits.max_string_length) == (10_000, 4_000)
    assert (limits.posts_per_minute, limits.rows_per_hour) == (120, 1_000_000)
    assert (limits.max_pending_posts, limits.fifo_max_rows) == (5, 200_000)
    assert (limits.max_rows_per_table, limits.large_table_rows) == (5_000_000, 250_000)
    assert limits.large_table_posts_per_hour == 120


# -- dataset definitions ----------------------------------------------------------------------


def test_75_tables_per_dataset(pusher):
    assert pusher.create([table(f"T{i}") for i in range(75)]).status_code == 201
    error = error_of(pusher.create([table(f"T{i}") for i in range(76)]), 400)
    assert "at most 75 tables" in error["message"]


def test_75_columns_per_table(pusher):
    assert pusher.create([table(columns=[column(f"c{i}") for i in range(75)])]).status_code == 201
    error = error_of(pusher.create([table(columns=[column(f"c{i}") for i in range(76)])]), 400)
    assert "at most 75 columns" in error["message"]


@pytest.mark.parametrize(
    ("tables", "fragment"),
    [
        ([table(columns=[column("a", "Text")])], "Column 'a' has dataType 'Text'"),
        ([table(columns=[column("a"), column("A")])], "duplicate column names"),
        ([table("T"), table("t")], "Duplicate table name"),
        ([table("a/b")], "tables[0].name"),
        ([table("x" * 101)], "1 to 100 characters"),
        ([table(columns=[])], "columns is required"),
        ([{"name": "T", "columns": [{"name": "", "dataType": "Int64"}]}], "columns[0].name"),
        ([{"name": "T", "columns": [{**column("a"), "sortByColumn": "zz"}]}], "sortByColumn"),
        ([{"name": "T", "columns": [{**column("a"), "isHidden": "no"}]}], "isHidden"),
        ([], "tables' is required"),
    ],
)
def test_invalid_definitions_name_the_problem(pusher, tables, fragment):
    error = error_of(pusher.create(tables), 400)
    assert error["code"] == "InvalidRequest"
    assert fragment in error["message"]


def test_dataset_name_and_mode_are_checked(pusher):
    no_name = pusher.http.post("/datasets", json={"tables": [table()]})
    assert "'name' is required" in error_of(no_name, 400)["message"]
    live = pusher.http.post(
        "/datasets", json={"name": "x", "defaultMode": "AsAzure", "tables": [table()]}
    )
    assert "defaultMode" in error_of(live, 400)["message"]


# -- rows per request, values -----------------------------------------------------------------


def test_10000_rows_per_post(emu, pusher):
    dataset_id = pusher.dataset()
    assert pusher.post(dataset_id, [{"n": i} for i in range(10_000)]).status_code == 200
    error = error_of(pusher.post(dataset_id, [{"n": i} for i in range(10_001)]), 400)
    assert "10001" in error["message"]
    assert "10000" in error["message"]
    assert emu.state()["rows"] == 10_000


def test_4000_characters_per_string_value(pusher):
    dataset_id = pusher.dataset([table(columns=[column("s", "String")])])
    assert pusher.post(dataset_id, [{"s": "x" * 4000}]).status_code == 200
    error = error_of(pusher.post(dataset_id, [{"s": "ok"}, {"s": "x" * 4001}]), 400)
    assert error["message"].startswith("Row 1: column 's' is 4001 characters long")


VALUES = {
    "Int64": ([0, -(2**63), 2**63 - 1, 3.0, None], [2**63, -(2**63) - 1, 1.5, "1", True, 1e20]),
    "Double": ([0, -1.5, 1e308, 2**70, None], ["1.5", True, 2**1100, [1]]),
    "Decimal": ([1.25, -3, 922337203685477.5], ["1.25", 1e16, False]),
    "Boolean": ([True, False, None], [1, 0, "true"]),
    "DateTime": (
        [
            "2024-05-01T13:45:00Z",
            "2024-05-01T13:45:00.123+02:00",
            "2024-05-01",
            "07/30/2014",
            "7/4/2014 5:06 PM",
            "07/30/2014 17:06:07",
        ],
        ["yesterday", "13/45/2014", "2024-02-30", 20240501, "7/4/2014 13:00 PM"],
    ),
    "String": (["", "x", "ünïcødé"], [1, True, {"a": 1}]),
}


@pytest.mark.parametrize("data_type", sorted(VALUES))
def test_values_are_checked_against_column_types(emu, pusher, data_type):
    good, bad = VALUES[data_type]
    dataset_id = pusher.dataset([table(columns=[column("v", data_type)])])
    accepted = pusher.post(dataset_id, [{"v": value} for value in good])
    assert accepted.status_code == 200, accepted.text
    for value in bad:
        rows = [{"v": good[0]}, {"v": value}]
        error = error_of(pusher.post(dataset_id, rows), 400)
        assert error["message"].startswith("Row 1: column 'v' "), (value, error)
        assert error["details"][0]["target"] == "rows[1].v"
    assert len(emu.rows(dataset_id, "T")) == len(good)  # rejected requests store nothing


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_not_json(pusher, literal):
    dataset_id = pusher.dataset([table(columns=[column("v", "Double")])])
    response = pusher.post_raw(dataset_id, f'{{"rows": [{{"v": {literal}}}]}}'.encode())
    assert error_of(response, 400)["code"] == "InvalidRequest"


def test_unknown_columns_are_rejected_and_every_problem_is_detailed(pusher):
    dataset_id = pusher.dataset([table(columns=[column("n"), column("s", "String")])])
    rows = [{"n": 1}, {"n": 2, "color": "red"}, "not a row", {"s": 5}]
    error = error_of(pusher.post(dataset_id, rows), 400)
    assert error["message"].startswith("Row 1: column 'color' does not exist in table 'T'.")
    assert [d["target"] for d in error["details"]] == ["rows[1].color", "rows[2]", "rows[3].s"]


def test_rows_body_shape(pusher):
    dataset_id = pusher.dataset()
    assert error_of(pusher.post_raw(dataset_id, b'{"data": []}'), 400)["code"] == "InvalidRequest"
    assert error_of(pusher.post_raw(dataset_id, b"[]"), 400)["code"] == "InvalidRequest"
    assert pusher.post(dataset_id, []).status_code == 200


# -- rate windows -----------------------------------------------------------------------------


def test_120_post_rows_requests_per_minute(emu, pusher):
    dataset_id = pusher.dataset()
    other_id = pusher.dataset()
    for _ in range(120):
        assert pusher.post(dataset_id, [{"n": 1}]).status_code == 200
    throttled = pusher.post(dataset_id, [{"n": 1}])
    assert 55 <= retry_after(throttled) <= 60  # real seconds at time scale 1
    assert "120 per minute" in throttled.json()["error"]["message"]
    assert pusher.post(other_id, [{"n": 1}]).status_code == 200  # per dataset
    emu.advance_clock(60)
    assert pusher.post(dataset_id, [{"n": 1}]).status_code == 200
    assert len(emu.rows(dataset_id, "T")) == 121


def test_time_scale_shortens_windows_and_retry_after_is_in_real_seconds():
    limits = PushLimits(posts_per_minute=3)
    with running(time_scale=60, limits=limits) as emu:
        pusher = Pusher(emu)
        dataset_id = pusher.dataset()
        started = time.monotonic()
        for _ in range(3):
            assert pusher.post(dataset_id, [{"n": 1}]).status_code == 200
        # The emulated minute lasts one real second, so what is left of it rounds up to 1.
        assert retry_after(pusher.post(dataset_id, [{"n": 1}])) == 1
        time.sleep(max(0.0, started + 1.05 - time.monotonic()))
        assert pusher.post(dataset_id, [{"n": 1}]).status_code == 200
        pusher.http.close()
    with running(time_scale=30, limits=limits) as emu:
        pusher = Pusher(emu)
        dataset_id = pusher.dataset()
        for _ in range(3):
            pusher.post(dataset_id, [{"n": 1}])
        assert retry_after(pusher.post(dataset_id, [{"n": 1}])) == 2  # ceil(< 60 / 30)
        pusher.http.close()


def test_1000000_rows_per_hour_and_fifo_keeps_the_newest_200000(emu, pusher):
    dataset_id = pusher.dataset(policy="basicFIFO")
    batch = json.dumps({"rows": [{"n": i} for i in range(10_000)]}).encode()
    for _ in range(100):
        assert pusher.post_raw(dataset_id, batch).status_code == 200
    throttled = pusher.post(dataset_id, [{"n": -1}])
    assert 3500 <= retry_after(throttled) <= 3600
    assert ROWS_PER_HOUR_MESSAGE in throttled.json()["error"]["message"]
    [summary] = [d for d in emu.state()["datasets"] if d["id"] == dataset_id]
    assert summary["tables"] == [{"name": "T", "columns": 1, "rows": 200_000}]
    assert summary["throttle"]["rows_last_hour"] == 1_000_000
    emu.advance_clock(3600)
    token = emu.issue_token()["access_token"]  # the old one expired with the hour
    pusher.http.headers["Authorization"] = f"Bearer {token}"
    assert pusher.post(dataset_id, [{"n": -1}]).status_code == 200
    rows = emu.rows(dataset_id, "T")
    assert len(rows) == 200_000
    assert rows[-1] == {"n": -1}
    assert rows[0] == {"n": 1}  # everything older was dropped, oldest first


def test_fifo_drops_the_oldest_rows():
    with running(limits=PushLimits(fifo_max_rows=5)) as emu:
        pusher = Pusher(emu)
        dataset_id = pusher.dataset(policy="basicFIFO")
        pusher.post(dataset_id, [{"n": i} for i in range(3)])
        pusher.post(dataset_id, [{"n": i} for i in range(3, 7)])
        assert emu.rows(dataset_id, "T") == [{"n": i} for i in range(2, 7)]
        pusher.http.close()


def test_tables_without_retention_stop_at_their_row_limit():
    with running(limits=PushLimits(max_rows_per_table=10)) as emu:
        pusher = Pusher(emu)
        dataset_id = pusher.dataset()
        assert pusher.post(dataset_id, [{"n": i} for i in range(10)]).status_code == 200
        assert (
            "would exceed 10 rows" in error_of(pusher.post(dataset_id, [{"n": 1}]), 400)["message"]
        )
        pusher.http.close()


def test_large_tables_take_120_posts_per_hour():
    limits = PushLimits(large_table_rows=5, large_table_posts_per_hour=2)
    with running(limits=limits) as emu:
        pusher = Pusher(emu)
        dataset_id = pusher.dataset()
        assert pusher.post(dataset_id, [{"n": i} for i in range(5)]).status_code == 200
        assert pusher.post(dataset_id, [{"n": 5}]).status_code == 200
        throttled = pusher.post(dataset_id, [{"n": 6}])
        assert 3500 <= retry_after(throttled) <= 3600
        assert "per hour" in throttled.json()["error"]["message"]
        pusher.http.close()


def test_5_pending_post_rows_requests_per_dataset():
    with running(latency_ms=600) as emu:
        token = emu.issue_token()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{emu.base_url}/datasets",
            headers=headers,
            json={"name": "P", "tables": [table()]},
            timeout=10,
        )
        url = f"{emu.base_url}/datasets/{created.json()['id']}/tables/T/rows"

        async def burst():
            limits = httpx.Limits(max_connections=10)
            async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:
                return await asyncio.gather(
                    *(client.post(url, json={"rows": [{"n": i}]}) for i in range(6))
                )

        statuses = sorted(r.status_code for r in asyncio.run(burst()))
        assert statuses == [200] * 5 + [429]
        [throttled] = [r for r in asyncio.run(burst()) if r.status_code == 429]
        assert retry_after(throttled) == 1
        assert "pending" in throttled.json()["error"]["message"]
        [summary] = [d for d in emu.state()["datasets"] if d["id"] == created.json()["id"]]
        assert summary["throttle"]["pending"] == 0
        assert summary["tables"][0]["rows"] == 10
