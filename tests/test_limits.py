"""Rate budgets declared by the pack, taken from the store before sending."""

from __future__ import annotations

import pytest

from conftest import FakeClock
from connectorkit.core._errors import RateLimited
from connectorkit.http._limits import Limiter
from connectorkit.state import Sealer, State
from connectorkit.state._memory import MemoryStore

DATASET = "d1d1d1d1-0000-4000-8000-000000000001"


@pytest.fixture
def clock():
    return FakeClock(1_000_000.0)


@pytest.fixture
def limiter(pack, clock):
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    return Limiter(state, pack.budgets, time_scale=1.0, sleep=clock.sleep)


def rows(n, dataset=DATASET, table="Sales"):
    return {"dataset_id": dataset, "table_name": table, "rows": [{"x": 1}] * n}


def unbounded():
    return None


def test_the_pack_declares_power_bi_push_limits(pack):
    (budget,) = [b for b in pack.budgets if b.name == "push_rows"]
    assert budget.actions == ("create_rows",)
    assert budget.pending == 5
    assert [(w.limit, w.seconds, w.units, w.when_table_holds) for w in budget.windows] == [
        (120, 60.0, None, None),
        (1_000_000, 3600.0, "rows", None),
        (120, 3600.0, None, 250_000),
    ]


def test_120_requests_a_minute_then_the_next_waits_for_room(limiter, clock):
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
    assert clock.sleeps == []
    limiter.admit("create_rows", rows(1), lambda: 120.0)
    assert clock.sleeps == [pytest.approx(60.25)]


def test_a_wait_past_the_call_budget_is_rate_limited_without_sleeping(limiter, clock):
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
    with pytest.raises(RateLimited) as caught:
        limiter.admit("create_rows", rows(1), lambda: 5.0)
    assert caught.value.retry_after == pytest.approx(60.25)
    assert caught.value.to_dict()["endpoint"] == "budget"
    assert "status" not in caught.value.to_dict()
    assert "push_rows" in caught.value.message
    assert clock.sleeps == []


def test_without_a_call_budget_a_long_wait_is_refused_too(limiter, clock):
    limiter.admit("create_rows", rows(1_000_000), unbounded)
    with pytest.raises(RateLimited) as caught:
        limiter.admit("create_rows", rows(1), unbounded)
    assert caught.value.retry_after == pytest.approx(3600.25)


def test_a_million_rows_an_hour(limiter, clock):
    for _ in range(100):
        limiter.done(limiter.admit("create_rows", rows(10_000), unbounded), committed=True)
        clock.now += 1.0  # stay under 120 a minute
    with pytest.raises(RateLimited):
        limiter.admit("create_rows", rows(1), lambda: 600.0)


def test_five_pending_requests_at_most(limiter, clock):
    held = [limiter.admit("create_rows", rows(1), unbounded) for _ in range(5)]
    with pytest.raises(RateLimited):  # polls until the call's budget runs short
        limiter.admit("create_rows", rows(1), lambda: 0.01)
    limiter.done(held.pop(), committed=True)
    limiter.admit("create_rows", rows(1), lambda: 0.01)


def test_budgets_are_per_dataset(limiter, clock):
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
        other = limiter.admit("create_rows", rows(1, dataset="other"), unbounded)
        limiter.done(other, committed=True)
    assert clock.sleeps == []


def test_a_table_of_250000_rows_takes_120_requests_an_hour(limiter, clock):
    for _ in range(25):
        limiter.done(limiter.admit("create_rows", rows(10_000), unbounded), committed=True)
        clock.now += 1.0
    clock.now += 3600  # every window is empty again; the table still holds 250,000 rows
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
        clock.now += 0.6
    with pytest.raises(RateLimited) as caught:
        limiter.admit("create_rows", rows(1), lambda: 600.0)
    assert caught.value.retry_after > 3000
    limiter.reset("delete_rows", rows(0))  # emptying the table lifts the hourly cap
    limiter.admit("create_rows", rows(1), lambda: 600.0)


def test_other_actions_take_nothing(limiter):
    assert limiter.admit("list_groups", {}, unbounded) == []
    assert limiter.operations == 0


def test_time_scale_shortens_every_window(pack, clock):
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    fast = Limiter(state, pack.budgets, time_scale=60.0, sleep=clock.sleep)
    for _ in range(121):
        fast.done(fast.admit("create_rows", rows(1), unbounded), committed=True)
    assert clock.sleeps == [pytest.approx(1.25)]


def test_the_window_outlasts_the_slowest_recent_request(pack, clock):
    # The service counts a request when it has taken it in, up to a whole request after the
    # budget was taken here: requests that took 2 s keep the window 3 s past its minute, so the
    # next one does not go out before the service's minute is over too.
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    elapsed = FakeClock(1_000_000.0)
    limiter = Limiter(state, pack.budgets, time_scale=1.0, sleep=clock.sleep, clock=elapsed)
    for _ in range(120):
        tickets = limiter.admit("create_rows", rows(1), unbounded)
        elapsed.now += 2.0
        limiter.done(tickets, committed=True)
    limiter.admit("create_rows", rows(1), lambda: 120.0)
    assert clock.sleeps == [pytest.approx(63.0)]


def test_the_margin_is_at_most_a_twentieth_of_the_window(pack, clock):
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    elapsed = FakeClock(1_000_000.0)
    limiter = Limiter(state, pack.budgets, time_scale=1.0, sleep=clock.sleep, clock=elapsed)
    for _ in range(120):
        tickets = limiter.admit("create_rows", rows(1), unbounded)
        elapsed.now += 100.0  # a stall: the minute window still waits only 3 s more
        limiter.done(tickets, committed=True)
    limiter.admit("create_rows", rows(1), lambda: 120.0)
    assert clock.sleeps == [pytest.approx(63.0)]
