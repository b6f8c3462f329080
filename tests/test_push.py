"""Batching and the concurrent pusher: sizes, order, accounting of every batch."""

from __future__ import annotations

import json
import threading
import time

import orjson
import pytest

from connectorkit.bulk._batching import Batch, BodyFrame, BodySpool, placeholder, split_rows
from connectorkit.bulk._pusher import BatchRecord, BatchStatus, Pusher
from connectorkit.core._errors import (
    HttpError,
    InvalidInput,
    NetworkError,
    RateLimited,
    TimeoutError,
)

FRAME = BodyFrame.around({"rows": placeholder()})


def rows(n, start=0):
    return [{"Id": i, "Name": f"row {i}"} for i in range(start, start + n)]


def test_frame_splices_rows_into_the_body_template():
    frame = BodyFrame.around({"a": 1, "rows": placeholder(), "z": [True]})
    (batch,) = split_rows(rows(2), frame, max_rows=10, max_bytes=10_000)
    assert json.loads(batch.body) == {"a": 1, "rows": rows(2), "z": [True]}


def test_frame_needs_the_placeholder():
    with pytest.raises(ValueError, match="batch input"):
        BodyFrame.around({"rows": []})


def test_split_at_row_count():
    batches = list(split_rows(rows(25), FRAME, max_rows=10, max_bytes=10**9))
    assert [(b.number, b.first, b.count) for b in batches] == [(1, 0, 10), (2, 10, 10), (3, 20, 5)]
    assert [r for b in batches for r in json.loads(b.body)["rows"]] == rows(25)


def test_split_at_encoded_size_before_row_count():
    big = [{"s": "x" * 1000} for _ in range(50)]
    row_size = len(orjson.dumps(big[0]))
    limit = FRAME.overhead + 10 * row_size + 9  # exactly ten rows and their commas
    batches = list(split_rows(big, FRAME, max_rows=10_000, max_bytes=limit))
    assert [b.count for b in batches] == [10] * 5
    assert all(len(b.body) <= limit for b in batches)
    assert len(batches[0].body) == limit


def test_split_counts_positions_from_start():
    batches = list(split_rows(rows(5, start=100), FRAME, max_rows=2, max_bytes=10**9, start=100))
    assert [(b.first, b.end) for b in batches] == [(100, 102), (102, 104), (104, 105)]


def test_batches_cut_by_size_and_by_count_are_numbered_and_placed_in_order():
    # The first four rows are large: their chunk is cut one row a batch; the next four are
    # small and go together. Numbers and positions run on across both kinds of cut, as the
    # ledger, the progress line and a resumed push read them.
    data = [{"s": "x" * 100} for _ in range(4)] + rows(4, start=4)
    batches = list(split_rows(data, FRAME, max_rows=4, max_bytes=FRAME.overhead + 150))
    assert [(b.number, b.first, b.count) for b in batches] == [
        (1, 0, 1),
        (2, 1, 1),
        (3, 2, 1),
        (4, 3, 1),
        (5, 4, 4),
    ]
    assert [r for b in batches for r in json.loads(b.body)["rows"]] == data


def test_a_large_body_template_counts_against_max_bytes():
    frame = BodyFrame.around({"note": "n" * 300, "rows": placeholder()})
    data = [{"s": "x" * 40} for _ in range(20)]
    limit = frame.overhead + 200
    batches = list(split_rows(data, frame, max_rows=1000, max_bytes=limit))
    row = len(orjson.dumps(data[0]))
    fits = (200 + 1) // (row + 1)  # rows and their commas within what the template leaves
    assert all(len(b.body) <= limit for b in batches)
    assert [b.count for b in batches[:-1]] == [fits] * (len(batches) - 1)
    assert sum(b.count for b in batches) == 20


def test_a_push_holds_at_most_64_mib_of_bodies_in_memory_and_the_rest_on_disk():
    body = b"x" * (1 << 20)  # one object: the part held in memory costs no copy
    spool = BodySpool()
    for number in range(1, 71):
        spool.add(Batch(number, number - 1, 1, body))
    assert spool.in_memory == 64 << 20
    back = list(spool)
    assert [b.number for b in back] == list(range(1, 71))
    assert all(b.body == body for b in back)
    spool.close()


def test_a_spool_sets_aside_what_passes_its_bound_and_gives_every_body_back_in_order():
    spool = BodySpool(in_memory=100)
    bodies = [bytes([65 + i]) * 40 for i in range(5)]
    for number, body in enumerate(bodies, 1):
        spool.add(Batch(number, number, 1, body))
        assert spool.in_memory <= 100
    assert spool.in_memory == 80
    assert [b.body for b in spool] == bodies
    assert [b.body for b in spool] == bodies  # read back again (a retried send)
    spool.close()
    assert len(spool) == 0


def test_row_larger_than_any_request_is_refused_by_position():
    data = [*rows(3), {"s": "x" * 500}]
    with pytest.raises(InvalidInput) as info:
        list(split_rows(data, FRAME, max_rows=10, max_bytes=200))
    assert info.value.details == [{"field": "rows[3]", "message": "row too large"}]


def test_row_json_cannot_carry_is_refused_by_position():
    with pytest.raises(InvalidInput) as info:
        list(split_rows([{"a": 1}, {"a": object()}], FRAME, max_rows=10, max_bytes=10**6))
    assert info.value.details[0]["field"] == "rows[1]"


def test_integers_past_64_bits_are_sent_exactly():
    [batch] = split_rows([{"a": 2**70}], FRAME, max_rows=10, max_bytes=10**6)
    assert json.loads(batch.body)["rows"] == [{"a": 2**70}]


class Recorder:
    def __init__(self):
        self.records: list[BatchRecord] = []

    def record(self, record):
        self.records.append(record)


def test_all_committed_in_input_order_with_five_in_flight():
    seen = []
    lock = threading.Lock()
    active = 0
    peak = 0

    def send(batch):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01 * (batch.number % 3))
        with lock:
            active -= 1
            seen.append(batch.number)

    ledger = Recorder()
    report = Pusher(send, in_flight=5, on_record=ledger.record).run(
        split_rows(rows(100), FRAME, max_rows=5, max_bytes=10**6)
    )
    assert report.complete
    assert [r.number for r in report.records] == list(range(1, 21))
    assert report.committed_rows == 100
    assert sorted(seen) == list(range(1, 21))
    assert peak == 5
    # Each batch is filed as unknown just before it leaves, then as what became of it.
    by_batch = {}
    for record in ledger.records:
        by_batch.setdefault(record.number, []).append(record.status)
    assert by_batch == {n: [BatchStatus.UNKNOWN, BatchStatus.COMMITTED] for n in range(1, 21)}


def test_failure_stops_new_sends_and_lets_in_flight_finish():
    started = []

    def send(batch):
        started.append(batch.number)
        if batch.number == 3:
            raise HttpError("bad row", status=400)
        time.sleep(0.02)

    report = Pusher(send, in_flight=2).run(split_rows(rows(50), FRAME, max_rows=5, max_bytes=10**6))
    statuses = {r.number: r.status for r in report.records}
    assert statuses[3] is BatchStatus.FAILED
    assert isinstance(report.error, HttpError)
    assert statuses[1] is BatchStatus.COMMITTED
    assert statuses[2] is BatchStatus.COMMITTED
    # Nothing after the failure was sent except what was already in flight.
    assert all(statuses[n] is BatchStatus.NOT_SENT for n in range(5, 11))
    assert set(started) <= {1, 2, 3, 4}
    assert sum(r.count for r in report.records) == 50


def test_broken_after_sending_is_unknown_not_failed():
    def send(batch):
        if batch.number == 2:
            raise NetworkError("dropped", request_sent=True)

    report = Pusher(send).run(split_rows(rows(30), FRAME, max_rows=10, max_bytes=10**6))
    assert [r.status for r in report.records] == [
        BatchStatus.COMMITTED,
        BatchStatus.UNKNOWN,
        BatchStatus.NOT_SENT,
    ]


def test_timeout_while_waiting_for_the_answer_is_unknown():
    def send(batch):
        raise TimeoutError("slow", request_sent=True)

    report = Pusher(send).run(split_rows(rows(5), FRAME, max_rows=10, max_bytes=10**6))
    assert report.records[0].status is BatchStatus.UNKNOWN


def test_refused_before_sending_is_failed():
    def send(batch):
        raise NetworkError("no route", request_sent=False)

    report = Pusher(send).run(split_rows(rows(5), FRAME, max_rows=10, max_bytes=10**6))
    assert report.records[0].status is BatchStatus.FAILED


def test_a_wait_past_the_budget_pauses_the_push():
    def send(batch):
        if batch.number == 2:
            raise RateLimited("no room in the budget", status=None, retry_after=3600.0)

    report = Pusher(send).run(split_rows(rows(30), FRAME, max_rows=10, max_bytes=10**6))
    assert isinstance(report.error, RateLimited)
    assert [r.status for r in report.records] == [
        BatchStatus.COMMITTED,
        BatchStatus.FAILED,
        BatchStatus.NOT_SENT,
    ]
    assert not report.complete


def test_batches_set_aside_past_the_memory_bound_come_back_whole_and_in_order():
    from connectorkit.bulk._batching import Batch, BodySpool  # noqa: PLC0415

    spool = BodySpool(in_memory=25)
    bodies = [bytes([65 + n]) * (7 + n) for n in range(6)]  # 7..12 bytes: three fit in memory
    for number, body in enumerate(bodies, start=1):
        spool.add(Batch(number, (number - 1) * 2, 2, body))
    assert len(spool) == 6
    back = list(spool)
    assert [b.body for b in back] == bodies
    assert [(b.number, b.first, b.count) for b in back] == [
        (n, (n - 1) * 2, 2) for n in range(1, 7)
    ]
    assert [b.body for b in spool] == bodies  # read again, the same
    spool.close()
    assert list(spool) == []


def test_a_row_that_alone_fills_a_request_exactly_is_sent():
    row = {"s": "x" * 100}
    limit = FRAME.overhead + len(orjson.dumps(row))
    (batch,) = split_rows([row], FRAME, max_rows=10, max_bytes=limit)
    assert len(batch.body) == limit
    [first, second] = split_rows([row, row], FRAME, max_rows=10, max_bytes=limit)
    assert (first.count, second.count, second.first) == (1, 1, 1)


def test_only_the_placeholder_becomes_the_rows_other_strings_stay():
    frame = BodyFrame.around({"name": "Sales", "rows": placeholder(), "mode": "Push"})
    (batch,) = split_rows(rows(2), frame, max_rows=10, max_bytes=10_000)
    assert json.loads(batch.body) == {"name": "Sales", "rows": rows(2), "mode": "Push"}


def test_a_frame_of_plain_bytes_splices_the_rows_between_them():
    frame = BodyFrame(prefix=b'{"table":"T","rows":[', suffix=b"]}")
    batches = list(split_rows(rows(3), frame, max_rows=2, max_bytes=10_000))
    assert [json.loads(b.body) for b in batches] == [
        {"table": "T", "rows": rows(2)},
        {"table": "T", "rows": rows(1, start=2)},
    ]


def test_a_row_json_cannot_carry_is_named_with_the_reason():
    with pytest.raises(InvalidInput) as info:
        list(split_rows([{"a": 1}, {"a": {1, 2}.__iter__()}], FRAME, max_rows=10, max_bytes=10**6))
    [detail] = info.value.details
    assert detail["field"] == "rows[1]"
    assert "set_iterator" in detail["message"]  # the encoder's reason names the value's type
