"""Which items a poll gives: each once, in order, whatever the polls' timing and limits.

The selection is pure (a position and a listing in, events and the next position out), so it is
driven here by a simulated service: items appear over time, several at one timestamp, and polls
come between and within ticks with a random ``max_events``. Every item must be given exactly
once, and the events of all polls together must be in order.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectorkit.core._errors import InvalidInput
from connectorkit.pack._triggers import OrderDef
from connectorkit.triggers._select import (
    SLACK_US,
    Candidate,
    by_changes,
    by_order,
    by_window,
    first_by_order,
    position_token,
    window_span,
)
from connectorkit.triggers._values import (
    MICROS,
    event_id,
    format_moment,
    matches,
    order_of,
    parse_since,
)

TIME = OrderDef(by="endTime")


def item(name: str, order: int) -> Candidate:
    return Candidate(id=name, order=order, at=order, event={"name": name})


def given_ids(selection) -> list[str]:
    return [c.id for c in selection.events]


# -- the high-water mark ---------------------------------------------------------------------


def test_items_sharing_the_marks_timestamp_are_each_given_once():
    first = by_order([item("a", 10), item("b", 10)], {"mark": None, "seen": {}}, 1, 0)
    assert given_ids(first) == ["a"]
    assert first.more
    second = by_order([item("a", 10), item("b", 10)], first.position, 1, 0)
    assert given_ids(second) == ["b"]
    # One that shows up later at the very same timestamp is new too; the others are not.
    third = by_order([item("a", 10), item("b", 10), item("c", 10)], second.position, 10, 0)
    assert given_ids(third) == ["c"]
    assert by_order([item("c", 10)], third.position, 10, 0).events == []


def test_a_first_poll_from_now_gives_nothing_and_keeps_the_ids_at_the_mark():
    position = first_by_order([item("a", 5), item("b", 9), item("c", 9), item("x", None)], 0)
    assert position == {"mark": 9, "seen": {"b": 9, "c": 9}}
    assert given_ids(by_order([item("b", 9), item("d", 9), item("e", 11)], position, 10, 0)) == [
        "d",
        "e",
    ]


def test_an_item_older_than_the_mark_is_given_only_within_the_overlap():
    position = {"mark": 100, "seen": {"a": 100}}
    late = [item("a", 100), item("b", 95), item("c", 80)]
    assert given_ids(by_order(late, position, 10, overlap=10)) == ["b"]
    assert given_ids(by_order(late, position, 10, overlap=0)) == []


def test_text_orders_compare_as_written():
    text = OrderDef(by="seq", type="text")
    items = [Candidate(i, order_of(text, {"seq": i}), i, None) for i in ("b2", "a1", "b1")]
    assert given_ids(by_order(items, {"mark": "a1", "seen": {"a1": "a1"}}, 10, 0)) == [
        "b1",
        "b2",
    ]


# -- the window ------------------------------------------------------------------------------


def test_a_window_moves_past_its_end_and_stops_at_the_last_given_when_cut():
    end = 10 * MICROS
    full = by_window([item("a", 4 * MICROS)], {"from": 0, "seen": {}}, 10, **_window(end))
    assert full.position["from"] == end + 1000
    assert not full.more
    cut = by_window(
        [item("a", 4 * MICROS), item("b", 6 * MICROS), item("c", 6 * MICROS)],
        {"from": 0, "seen": {}},
        2,
        **_window(end),
    )
    assert given_ids(cut) == ["a", "b"]
    assert cut.position["from"] == 6 * MICROS  # c, at the same moment, comes next
    assert cut.more


def test_a_window_cut_short_of_now_says_more_is_waiting():
    selection = by_window([], {"from": 0, "seen": {}}, 10, **_window(5, cut_short=True))
    assert selection.more


def test_window_span_stays_within_the_day_the_span_and_the_lookback():
    day = 86_400 * MICROS
    late = day - 10 * MICROS
    assert window_span(
        late, 2 * day, span=3600 * MICROS, step=1000, overlap=0, within_day=True, oldest=None
    ) == (
        late,
        day - 1000,
    )
    # The overlap does not reach back across midnight when windows stay within a day.
    assert (
        window_span(
            day,
            2 * day,
            span=60 * MICROS,
            step=1000,
            overlap=5 * MICROS,
            within_day=True,
            oldest=None,
        )[0]
        == day
    )
    assert window_span(0, day, span=day, step=1000, overlap=0, within_day=False, oldest=100) == (
        100,
        day - 1000,
    )
    _, end = window_span(50, 40, span=10, step=1, overlap=0, within_day=False, oldest=None)
    assert end < 50  # nothing to ask yet


def _window(end: int, *, cut_short: bool = False) -> dict:
    return {"overlap": 0, "window": (0, end), "step": 1000, "cut_short": cut_short}


# -- changes ---------------------------------------------------------------------------------


def test_appeared_gives_new_ids_in_list_order_and_a_cap_leaves_the_rest_new():
    known = {"known": {"a": {"name": "a"}}}
    listed = [item("c", 0), item("a", 0), item("b", 0)]
    first = by_changes(listed, known, 1, appeared=True)
    assert given_ids(first) == ["c"]
    assert first.more
    second = by_changes(listed, first.position, 5, appeared=True)
    assert given_ids(second) == ["b"]
    assert by_changes(listed, second.position, 5, appeared=True).events == []


def test_disappeared_gives_the_event_made_when_the_item_was_last_listed():
    before = {"known": {"a": {"name": "A as it was"}, "b": {"name": "b"}}}
    gone = by_changes([item("b", 0)], before, 5, appeared=False)
    assert [(c.id, c.event) for c in gone.events] == [("a", {"name": "A as it was"})]
    assert gone.position == {"known": {"b": {"name": "b"}}}
    capped = by_changes([], before, 1, appeared=False)
    assert len(capped.events) == 1
    assert capped.more
    assert len(by_changes([], capped.position, 5, appeared=False).events) == 1


# -- values ----------------------------------------------------------------------------------


def test_times_without_a_zone_are_utc_and_compare_across_spellings():
    assert order_of(TIME, {"endTime": "2024-05-01T10:00:00"}) == order_of(
        TIME, {"endTime": "2024-05-01T12:00:00+02:00"}
    )
    assert order_of(TIME, {"endTime": "2024-05-01T10:00:00.1234567Z"}) is not None
    assert order_of(TIME, {}) is None
    assert order_of(TIME, {"endTime": "soon"}) is None
    assert format_moment(order_of(TIME, {"endTime": "2024-05-01T10:00:00.5Z"}), "iso") == (
        "2024-05-01T10:00:00.500Z"
    )
    assert format_moment(0, "iso_seconds") == "1970-01-01T00:00:00Z"
    assert format_moment(1_500_000, "epoch_ms") == "1500"


def test_since_must_be_a_value_of_the_order_and_is_refused_by_name_otherwise():
    assert parse_since(TIME, "2024-05-01T00:00:00Z") == order_of(
        TIME, {"endTime": "2024-05-01T00:00:00Z"}
    )
    with pytest.raises(InvalidInput) as refused:
        parse_since(TIME, "yesterday")
    assert refused.value.details == [
        {"field": "since", "message": "must be an ISO 8601 date-time such as 2024-05-01T00:00:00Z"}
    ]


def test_conditions_compare_text_without_case_and_lists_as_any_of():
    assert matches({"status": "Failed"}, {"status": "failed"})
    assert matches({"a": {"b": 2}}, {"a.b": [1, 2]})
    assert not matches({"flag": 1}, {"flag": True})
    assert not matches({"status": "Completed"}, {"status": ["Failed", "Cancelled"]})


def test_event_ids_name_the_trigger_and_the_whole_key_and_stay_short():
    assert event_id("t", ["a", 2]) == "t:a/2"
    long = event_id("t", ["x" * 300])
    assert long.startswith("t:")
    assert len(long) == 42
    assert long == event_id("t", ["x" * 300])


def test_a_position_has_one_token_whatever_the_order_of_its_fields():
    one = {"mark": 1, "seen": {"a": 1, "b": 1}}
    two = json.loads(json.dumps({"seen": {"b": 1, "a": 1}, "mark": 1}))
    assert position_token(one) == position_token(two)
    assert position_token(one) != position_token({"mark": 2, "seen": {}})


# -- a simulated service ---------------------------------------------------------------------

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(1, 3)),
        st.tuples(st.just("item"), st.integers(0, 3)),
        st.tuples(st.just("poll"), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_every_item_is_given_once_and_in_order_however_polls_fall(steps):
    now, made, listed = 0, 0, []
    position = first_by_order([], 0)
    given_so_far: list[Candidate] = []
    for kind, amount in [*steps, ("poll", 1000)]:
        if kind == "tick":
            now += amount
        elif kind == "item":
            for _ in range(amount):  # items ending at the current moment: ties
                listed.append(item(f"i{made}", now))
                made += 1
        else:
            selection = by_order(listed, position, amount, 0)
            given_so_far += selection.events
            position = selection.position
    assert sorted(c.id for c in given_so_far) == sorted(c.id for c in listed)
    assert len({c.id for c in given_so_far}) == len(given_so_far)
    assert [c.order for c in given_so_far] == sorted(c.order for c in given_so_far)


WINDOW_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(1, 2500)),  # milliseconds
        st.tuples(st.just("item"), st.integers(0, 3)),
        st.tuples(st.just("poll"), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(WINDOW_STEPS, st.booleans())
def test_a_windowed_listing_gives_each_item_once_though_its_time_is_written_to_the_second(
    steps, catch_up
):
    """The service answers by an item's exact time; the item says it only to the second."""
    service = _WindowedService(catch_up)
    for kind, amount in steps:
        if kind == "tick":
            service.now += amount
        elif kind == "item":
            service.make(amount)
        else:
            service.poll(amount)
    # Later, a platform polls again, and at once while an answer says more is waiting.
    service.now += 3000
    for _ in range(50):
        if not service.poll(1000):
            break
    assert len(set(service.given)) == len(service.given)
    assert sorted(service.given) == sorted(
        i for exact, i in service.events if exact >= service.begun
    )


class _WindowedService:
    """Events at exact moments (ms); polls of windows written to the millisecond."""

    STEP = 1000  # µs

    def __init__(self, catch_up: bool) -> None:
        self.now = 1_700_000_000_000  # ms
        # A subscription from now starts just after it (what is there now is not new); one
        # that catches up starts a minute back.
        self.begun = (self.now - 60_000) * 1000 if catch_up else self.now * 1000 + self.STEP
        self.position = {"from": self.begun, "seen": {}, "origin": self.begun}
        self.events: list[tuple[int, str]] = []  # (exact µs, id)
        self.given: list[str] = []

    def make(self, count: int) -> None:
        for _ in range(count):
            self.events.append((self.now * 1000, f"e{len(self.events)}"))

    def poll(self, most: int) -> bool:
        """One poll; whether it said more is waiting."""
        begin = int(self.position["from"])
        start, end = window_span(
            begin, self.now * 1000, span=20 * MICROS, step=self.STEP, overlap=0,
            within_day=False, oldest=self.begun,
        )  # fmt: skip
        if end < begin:
            return False
        answered = [
            Candidate(i, exact // MICROS * MICROS, None, None)
            for exact, i in self.events
            if start <= exact <= end
        ]
        selection = by_window(
            answered, self.position, most, window=(start, end), overlap=0, step=self.STEP,
            cut_short=end < self.now * 1000,
        )  # fmt: skip
        self.given += [c.id for c in selection.events]
        self.position = selection.position
        floor = int(self.position["from"]) - SLACK_US
        assert all(order >= floor for order in self.position["seen"].values())
        self.now += 1  # what happens after an answer happens later than what it could hold
        return selection.more
