"""Rate budgets declared by the pack, taken from the store before sending."""

from __future__ import annotations

import pytest

from conftest import FakeClock
from connectorkit.core._errors import RateLimited
from connectorkit.http._limits import Limiter
from connectorkit.pack._budgets import BudgetDef, WindowDef
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


def test_which_actions_the_budgets_cover(limiter):
    assert limiter.covers("create_rows")  # takes from the push budget
    assert limiter.covers("delete_rows")  # empties the table the hourly cap counts
    assert not limiter.covers("list_groups")


def test_without_a_call_budget_a_wait_just_over_a_minute_is_refused(limiter, clock):
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
    with pytest.raises(RateLimited) as caught:
        limiter.admit("create_rows", rows(1), unbounded)
    assert caught.value.retry_after == pytest.approx(60.25)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("time_scale", "env", "wait"),
    [
        (None, None, 60.25),
        (None, "0", 60.25),  # not a speed-up: ignored
        (None, "-2", 60.25),
        (None, "4", 15.25),
        (0.5, None, 120.25),  # an emulator whose clock runs slower
    ],
)
def test_the_time_scale_from_the_caller_or_the_environment(
    pack, clock, monkeypatch, time_scale, env, wait
):
    if env is None:
        monkeypatch.delenv("CONNECTORKIT_LIMITS_TIME_SCALE", raising=False)
    else:
        monkeypatch.setenv("CONNECTORKIT_LIMITS_TIME_SCALE", env)
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    limiter = Limiter(state, pack.budgets, time_scale=time_scale, sleep=clock.sleep)
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
    limiter.admit("create_rows", rows(1), lambda: 600.0)
    assert clock.sleeps == [pytest.approx(wait)]


def test_the_margin_follows_the_slowest_recent_request_not_the_fastest(pack, clock):
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    elapsed = FakeClock(1_000_000.0)
    limiter = Limiter(state, pack.budgets, time_scale=1.0, sleep=clock.sleep, clock=elapsed)
    for number in range(120):
        tickets = limiter.admit("create_rows", rows(1), unbounded)
        elapsed.now += 2.0 if number == 60 else 0.0  # one slow request among fast ones
        limiter.done(tickets, committed=True)
    limiter.admit("create_rows", rows(1), lambda: 120.0)
    assert clock.sleeps == [pytest.approx(63.0)]


def test_a_wait_of_exactly_the_time_left_is_refused(limiter, clock):
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
    with pytest.raises(RateLimited):
        limiter.admit("create_rows", rows(1), lambda: 60.25)
    assert clock.sleeps == []


def test_retry_after_is_given_to_the_millisecond(limiter, clock):
    for _ in range(120):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
    clock.now += 0.1234567
    with pytest.raises(RateLimited) as caught:
        limiter.admit("create_rows", rows(1), lambda: 5.0)
    assert caught.value.retry_after == 60.127


def test_the_slot_of_a_worker_that_died_frees_itself_on_the_scaled_clock(pack, clock):
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    fast = Limiter(state, pack.budgets, time_scale=60.0, sleep=clock.sleep)
    for _ in range(5):
        fast.admit("create_rows", rows(1), unbounded)  # never given back: the worker died
    with pytest.raises(RateLimited):
        fast.admit("create_rows", rows(1), lambda: 0.01)
    clock.now += 130.0 / 60 + 0.01  # past an attempt's longest time, on the emulator's clock
    fast.admit("create_rows", rows(1), lambda: 0.001)


def test_rows_of_a_request_that_was_not_committed_do_not_fill_the_table(limiter, clock):
    for _ in range(25):
        limiter.done(limiter.admit("create_rows", rows(10_000), unbounded), committed=False)
        clock.now += 1.0
    clock.now += 3600
    for _ in range(121):  # the table holds nothing: no hourly cap of 120 requests
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
        clock.now += 0.6


def test_a_table_just_under_250000_rows_is_not_capped(limiter, clock):
    for count in [10_000] * 24 + [9_999]:
        limiter.done(limiter.admit("create_rows", rows(count), unbounded), committed=True)
        clock.now += 1.0
    clock.now += 3600
    for _ in range(121):
        limiter.done(limiter.admit("create_rows", rows(1), unbounded), committed=True)
        clock.now += 0.6


def test_a_window_that_waits_for_a_full_table_does_not_hide_the_windows_after_it(clock):
    budget = BudgetDef(
        name="capped",
        actions=("push",),
        resource="{dataset_id}",
        windows=(WindowDef(1, 3600.0, when_table_holds=100), WindowDef(2, 60.0)),
        table="{table_name}",
    )
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    limiter = Limiter(state, (budget,), time_scale=1.0, sleep=clock.sleep)
    for _ in range(2):
        limiter.done(limiter.admit("push", rows(1), unbounded), committed=True)
    with pytest.raises(RateLimited):  # the minute's two are taken; the table is nearly empty
        limiter.admit("push", rows(1), lambda: 5.0)


@pytest.mark.parametrize(
    ("durations", "wait"),
    [
        ([1.0] * 120, 61.5),  # 1.5 times the slowest
        ([0.0] * 55 + [2.0] + [0.0] * 64, 60.25),  # the slow one is older than the last 64
        ([0.0] * 56 + [2.0] + [0.0] * 63, 63.0),
    ],
)
def test_the_margin_is_one_and_a_half_times_the_slowest_of_the_last_64_requests(
    pack, clock, durations, wait
):
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    elapsed = FakeClock(1_000_000.0)
    limiter = Limiter(state, pack.budgets, time_scale=1.0, sleep=clock.sleep, clock=elapsed)
    for took in durations:
        tickets = limiter.admit("create_rows", rows(1), unbounded)
        elapsed.now += took
        limiter.done(tickets, committed=True)
    limiter.admit("create_rows", rows(1), lambda: 120.0)
    assert clock.sleeps == [pytest.approx(wait)]


@pytest.mark.parametrize("name", ["Dataset2", "_ds", "x", "ds_id", "DS"])
def test_a_budget_is_per_resource_whatever_the_inputs_name(clock, name):
    budget = BudgetDef(
        name="per_resource",
        actions=("push",),
        resource=f"{{{name}}}",
        windows=(WindowDef(1, 60.0),),
    )
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    limiter = Limiter(state, (budget,), time_scale=1.0, sleep=clock.sleep)
    limiter.done(limiter.admit("push", {name: "first"}, unbounded), committed=True)
    limiter.done(limiter.admit("push", {name: "second"}, unbounded), committed=True)
    with pytest.raises(RateLimited):  # the first one's own budget is spent
        limiter.admit("push", {name: "first"}, lambda: 5.0)


def one_budget(clock, *windows, table="{table_name}"):
    budget = BudgetDef(
        name="rows", actions=("push",), resource="{dataset_id}", windows=windows, table=table
    )
    state = State(MemoryStore(clock=clock), Sealer(["unused"], source="test"))
    return Limiter(state, (budget,), time_scale=1.0, sleep=clock.sleep)


def test_rows_fill_the_table_while_the_rows_window_still_waits_for_it(clock):
    # The only window counts rows, and only once the table holds 5: the rows sent before that
    # still fill the table, so the window starts to apply when they reach 5.
    limiter = one_budget(clock, WindowDef(100, 3600.0, units="rows", when_table_holds=5))
    limiter.done(limiter.admit("push", rows(5), unbounded), committed=True)
    limiter.done(limiter.admit("push", rows(100), unbounded), committed=True)
    with pytest.raises(RateLimited):  # the table holds 105: at most 100 rows an hour now
        limiter.admit("push", rows(1), lambda: 5.0)


def test_without_a_rows_window_requests_fill_no_table(clock):
    limiter = one_budget(clock, WindowDef(1, 3600.0, when_table_holds=1))
    for _ in range(5):  # nothing counts rows, so the table never holds one
        limiter.done(limiter.admit("push", rows(3), lambda: 5.0), committed=True)


def test_a_table_never_written_holds_no_rows(clock):
    limiter = one_budget(clock, WindowDef(1, 3600.0, when_table_holds=1))
    for _ in range(3):
        limiter.done(limiter.admit("push", rows(3), lambda: 5.0), committed=False)


def test_a_window_that_waits_for_a_table_never_applies_to_a_budget_without_one(clock):
    limiter = one_budget(clock, WindowDef(1, 3600.0, when_table_holds=1), table=None)
    for _ in range(3):
        limiter.done(limiter.admit("push", rows(3), lambda: 5.0), committed=True)


def test_a_request_without_its_rows_input_takes_no_rows(clock):
    limiter = one_budget(clock, WindowDef(2, 3600.0, units="rows"), table=None)
    limiter.done(limiter.admit("push", {"dataset_id": DATASET}, unbounded), committed=True)
    limiter.done(limiter.admit("push", rows(2), lambda: 5.0), committed=True)
    with pytest.raises(RateLimited):
        limiter.admit("push", rows(1), lambda: 5.0)
