"""create_rows under faults: the envelope says exactly what is committed, unknown and not sent.

A real HTTP server (``faultserver``) commits each batch before its scripted fault, as a service
that did the work and then failed to say so would. Each scenario then follows the README's
advice (re-send ``rows[resume_from:]``) and counts what the service holds.

The faults are scripted by arrival, so these scenarios push one batch at a time (the pack with
``in_flight: 1``, and columns given); tests/test_push.py and tests/test_bulk.py cover five in
flight.
"""

from __future__ import annotations

import json

import pytest

from conftest import assert_envelope, copy_pack, user_connection
from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond
from faultserver import FaultServer

DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
ROWS = [{"n": n} for n in range(25_000)]  # three batches: 10,000 + 10,000 + 5,000


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """The Power BI pack, its Create Rows sending one batch at a time."""
    root = copy_pack(tmp_path_factory.mktemp("sequential"))
    action = root / "actions" / "create_rows.yaml"
    text = action.read_text(encoding="utf-8")
    action.write_text(text.replace("in_flight: 5", "in_flight: 1"), encoding="utf-8")
    return load_pack(root)


COLUMNS = [{"name": "n", "dataType": "Int64"}]


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def push(pack, server: FaultServer, rows: list, **inputs) -> dict:
    connection = user_connection()
    connection["values"]["base_url"] = server.base_url
    request = {
        "action": "create_rows",
        "inputs": {
            "dataset_id": DATASET,
            "table_name": "Sales",
            "rows": rows,
            "columns": COLUMNS,
            **inputs,
        },
        "connection": connection,
    }
    runner = Runner(sleep=lambda _s: None)
    try:
        response, _ = respond(pack, runner, json.dumps(request))
    finally:
        runner.close()
    assert_envelope(response)
    return response


def statuses(response: dict) -> list[str]:
    return [batch["status"] for batch in response["error"]["details"]]


def numbers(server: FaultServer) -> list[int]:
    return [row["n"] for row in server.rows]


@pytest.mark.parametrize(
    ("step", "inputs"),
    [
        ("drop_after_commit", {}),  # the connection broke after the rows were sent
        ("500_after_commit", {}),  # the service failed after doing the work
        ("stall_after_commit:4", {"timeout": 1500}),  # the budget ran out awaiting the answer
    ],
)
def test_a_batch_whose_outcome_is_uncertain_is_unknown_and_resuming_doubles_nothing(
    pack, server, step, inputs
):
    server.plan = ["ok", step]
    response = push(pack, server, ROWS, **inputs)
    error = response["error"]
    assert error["type"] == "partial_failure", response
    assert statuses(response) == ["committed", "unknown", "not_sent"]
    assert error["ranges"] == {
        "committed": [[0, 10_000]],
        "unknown": [[10_000, 20_000]],
        "failed": [],
        "not_sent": [[20_000, 25_000]],
    }
    assert (error["committed"], error["total"], error["resume_from"]) == (10_000, 25_000, 20_000)
    assert "rows[10000:20000] may or may not have been committed" in error["message"]
    # The service did commit the unknown batch; the README's advice must not double it.
    assert push(pack, server, ROWS[error["resume_from"] :])["ok"] is True
    assert sorted(numbers(server)) == list(range(25_000))


def test_a_refused_batch_is_failed_and_resuming_from_it_loses_nothing(pack, server):
    server.plan = ["ok", "400"]
    response = push(pack, server, ROWS)
    error = response["error"]
    assert statuses(response) == ["committed", "failed", "not_sent"]
    assert error["ranges"]["failed"] == [[10_000, 20_000]]
    assert error["resume_from"] == 10_000
    assert push(pack, server, ROWS[error["resume_from"] :])["ok"] is True
    assert sorted(numbers(server)) == list(range(25_000))


def test_a_first_batch_refused_is_the_plain_error(pack, server):
    server.plan = ["400"]
    response = push(pack, server, ROWS)
    assert response["error"]["type"] == "http_error"
    assert server.rows == []


def test_a_single_batch_of_unknown_fate_is_still_accounted_for(pack, server):
    server.plan = ["drop_after_commit"]
    response = push(pack, server, ROWS[:5])
    error = response["error"]
    assert error["type"] == "partial_failure"
    assert error["ranges"]["unknown"] == [[0, 5]]
    assert (error["committed"], error["resume_from"]) == (0, 5)


def test_a_throttled_batch_past_the_longest_wait_pauses_the_push(pack, server):
    # Not slept in-process: the push answers when to come back, and the job resumes then.
    server.plan = ["ok", "ok", "429:3600"]
    response = push(pack, server, ROWS, max_retry_count=2)
    error = response["error"]
    assert error["type"] == "rate_limited"
    assert error["retry_after"] == 3600
    assert (error["committed"], error["total"]) == (20_000, 25_000)
    assert error["job_id"]
    assert statuses(response) == ["committed", "committed", "failed"]
    assert error["details"][2]["error"]["type"] == "rate_limited"
    assert len(server.rows) == 20_000


def test_a_batch_with_an_uncertain_earlier_attempt_stays_unknown(pack, server):
    # Attempt 1 failed after committing; the retry is throttled past the longest wait.
    server.plan = ["500_after_commit", "429:3600"]
    response = push(pack, server, ROWS, max_retry_count=3, retry_on_all_errors=True)
    error = response["error"]
    assert error["type"] == "rate_limited"
    assert statuses(response) == ["unknown", "not_sent", "not_sent"]
    assert len(server.rows) == 10_000
