"""What `jobs list` and `jobs show` say of a push job: its state, and rows and batches by status."""

from __future__ import annotations

import pytest

from connectorkit.bulk._jobs import job_summary

ABOUT = {"action": "create_rows", "inputs": {"dataset_id": "d1"}, "created": 1_750_000_000}


def batch(status: str, count: int = 10) -> dict[str, object]:
    return {"status": status, "first": 0, "count": count}


@pytest.mark.parametrize(
    ("batches", "state"),
    [
        ({}, "started"),
        ({1: batch("committed"), 2: batch("committed")}, "done"),
        ({1: batch("committed"), 2: batch("unknown")}, "needs a decision"),
        ({1: batch("unknown"), 2: batch("failed")}, "needs a decision"),
        ({1: batch("committed"), 2: batch("failed")}, "stopped"),
        ({1: batch("not_sent")}, "stopped"),
        ({1: batch("committed"), 2: batch("sending")}, "open"),
    ],
)
def test_the_state_of_a_job(batches, state):
    assert job_summary(ABOUT, batches)["state"] == state


def test_rows_and_batches_are_counted_by_status():
    batches = {
        1: batch("committed", 10),
        2: batch("committed", 10),
        3: batch("unknown", 7),
        4: {"status": "not_sent"},  # no count recorded: no rows counted
    }
    assert job_summary(ABOUT, batches) == {
        "action": "create_rows",
        "inputs": {"dataset_id": "d1"},
        "created": 1_750_000_000,
        "state": "needs a decision",
        "batches": {
            "committed": {"batches": 2, "rows": 20},
            "unknown": {"batches": 1, "rows": 7},
            "not_sent": {"batches": 1, "rows": 0},
        },
    }


def test_a_job_described_without_inputs_shows_none():
    summary = job_summary({"action": "create_rows"}, {})
    assert (summary["inputs"], summary["created"]) == ({}, None)
