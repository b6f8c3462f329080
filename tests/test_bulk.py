"""Bulk pushes end to end: the real command against the emulator, rows checked, paced, resumed.

Each test runs ``connectorkit invoke`` / ``push`` / ``jobs`` in a subprocess and looks at both
sides: what the command answered, and what the emulator stored (each row exactly once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from test_e2e import (
    COMMAND,
    ENV,
    SALES,
    Cli,
    cli,
    dataset_state,
    emulator,
    push_dataset,
    shared_emulator,
)

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import running

__all__ = ["cli", "emulator", "shared_emulator"]  # fixtures, imported for pytest

COLUMNS = [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}]


def rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"Product": f"P{i}", "Qty": i} for i in range(start, start + count)]


def stored_qty(emu: Any, dataset_id: str) -> list[int]:
    """The Qty of every row the emulator holds in the Sales table, in the order stored."""
    return [int(row["Qty"]) for row in emu.rows(dataset_id, "Sales")]


def api(run: Any) -> list[tuple[str, str]]:
    return [(method, path.rsplit("/", 2)[-1]) for method, path, _ in run.api()]


def test_every_row_is_checked_before_anything_is_sent(cli: Cli, emulator: Any) -> None:
    dataset_id = push_dataset(emulator)
    data = rows(20_000)
    data[15_000]["Qty"] = "many"
    data[17_500]["Colour"] = "red"
    # No columns given (null is "not given"): Create Rows asks the service for them.
    on_table = {"dataset_id": dataset_id, "table_name": "Sales", "group_id": SALES, "columns": None}
    run = cli.invoke("create_rows", {**on_table, "rows": data}, cli.app())
    assert run.code == 2
    error = run.error
    assert error["type"] == "invalid_input"
    assert error["details"] == [
        {"field": "rows[15000].Qty", "message": 'input should be a valid integer (got "many")'},
        {"field": "rows[17500].Colour", "message": "is not a column of the table"},
    ]
    # The columns were asked of the service (nothing remembered them); no row was sent.
    assert api(run) == [("GET", "tables")]
    assert dataset_state(emulator, dataset_id)["tables"][0]["rows"] == 0


def test_bad_rows_can_be_skipped_and_are_listed(cli: Cli, emulator: Any) -> None:
    dataset_id = push_dataset(emulator)
    data = rows(30)
    data[7]["Qty"] = 1.5
    inputs = {
        "dataset_id": dataset_id,
        "table_name": "Sales",
        "group_id": SALES,
        "rows": data,
        "columns": COLUMNS,
        "skip_bad_rows": True,
    }
    run = cli.invoke("create_rows", inputs, cli.app())
    result = run.result
    assert (result["rows"], result["committed"], result["skipped_count"]) == (29, 29, 1)
    assert result["skipped"][0]["row"] == 7
    assert dataset_state(emulator, dataset_id)["tables"][0]["rows"] == 29


def test_five_batches_in_flight_store_every_row_once(cli: Cli, emulator: Any) -> None:
    dataset_id = push_dataset(emulator)
    inputs = {
        "dataset_id": dataset_id,
        "table_name": "Sales",
        "group_id": SALES,
        "rows": rows(45_000),
        "columns": COLUMNS,
    }
    run = cli.invoke("create_rows", inputs, cli.app())
    result = run.result
    assert (result["rows"], result["batches"], result["committed"]) == (45_000, 5, 45_000)
    assert sorted(api(run)) == [("POST", "rows")] * 5
    assert sorted(stored_qty(emulator, dataset_id)) == list(range(45_000))


def _push(
    cli: Cli, args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cli.cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
def test_push_reads_a_csv_file_with_flat_memory_and_types_its_cells(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    dataset_id = push_dataset(emulator)
    csv = tmp_path / "sales.csv"
    csv.write_text(
        "Product,Qty\n" + "".join(f"P{i},{i}\n" for i in range(25_000)), encoding="utf-8"
    )
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps(cli.app()), encoding="utf-8")
    env = {**ENV, "CONNECTORKIT_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}"}
    done = _push(
        cli,
        # An input after the options is taken as well as one before them.
        ["push", str(csv), f"dataset_id={dataset_id}", "table_name=Sales",
         "--connection", str(connection), "--job-id", "csv-1", f"group_id={SALES}", "--json"],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["result"]["committed"] == 25_000
    assert response["result"]["job_id"] == "csv-1"
    assert "rows committed" in done.stderr  # one progress line per batch when not a terminal
    assert sorted(stored_qty(emulator, dataset_id)) == list(range(25_000))
    listed = _push(cli, ["jobs", "list", "--json"], env)
    assert [(j["job_id"], j["state"]) for j in json.loads(listed.stdout)["result"]] == [
        ("csv-1", "done")
    ]


@pytest.mark.e2e
def test_a_push_killed_mid_way_resumes_without_doubling_a_committed_row(
    cli: Cli, tmp_path: Path
) -> None:
    total = 200_000
    with running(latency_ms=600) as emu:
        cli.attach(emu)
        dataset_id = push_dataset(emu)
        data = tmp_path / "rows.ndjson"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows(total)), encoding="utf-8")
        connection = tmp_path / "connection.json"
        connection.write_text(json.dumps(cli.app()), encoding="utf-8")
        # Time-scaled budgets: the killed worker's pending slots free in a second, not minutes.
        env = {
            **ENV,
            "CONNECTORKIT_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}",
            "CONNECTORKIT_LIMITS_TIME_SCALE": "100",
        }
        args = ["push", str(data), f"dataset_id={dataset_id}", "table_name=Sales",
                f"group_id={SALES}", "--connection", str(connection),
                "--job-id", "kill-1"]  # fmt: skip
        with subprocess.Popen(
            [str(COMMAND), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cli.cwd,
            env=env,
        ) as victim:
            deadline = time.monotonic() + 60
            while dataset_state(emu, dataset_id)["tables"][0]["rows"] < 50_000:
                assert time.monotonic() < deadline, "the push never got going"
                time.sleep(0.05)
            time.sleep(0.3)  # the first answers reach the client; the next batches are in flight
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
        time.sleep(1.5)  # requests the dead worker had in flight finish at the service
        before = dataset_state(emu, dataset_id)["tables"][0]["rows"]
        assert 0 < before < total

        shown = _push(cli, ["jobs", "show", "kill-1", "--json"], env)
        ledger = json.loads(shown.stdout)["result"]["ledger"]
        committed = {e["batch"] for e in ledger if e["status"] == "committed"}
        unknown = {e["batch"] for e in ledger if e["status"] == "unknown"}
        assert committed | unknown
        assert 10_000 * len(committed) <= before <= 10_000 * len(committed | unknown)

        if unknown:  # the batches in flight at the kill: the caller must decide
            asked = _push(cli, ["jobs", "resume", "kill-1", "--json"], env)
            assert asked.returncode == 2
            assert json.loads(asked.stdout)["error"]["details"][0]["field"] == "unknown_batches"
        resumed = _push(
            cli, ["jobs", "resume", "kill-1", "--unknown-batches", "skip", "--json"], env
        )
        assert resumed.returncode == 0, resumed.stderr
        result = json.loads(resumed.stdout)["result"]
        assert result["resumed"] is True
        sent_now = result["sent_now"]
        after = dataset_state(emu, dataset_id)["tables"][0]["rows"]
        # Exactly the batches neither committed nor skipped were sent again: nothing doubled.
        assert sent_now == total - 10_000 * len(committed | unknown)
        assert after == before + sent_now
        stored = stored_qty(emu, dataset_id)
        assert len(stored) == len(set(stored)), "a row was stored twice"
        skipped = {q for n in unknown for q in range((n - 1) * 10_000, n * 10_000)}
        assert set(range(total)) - skipped <= set(stored)


def _stall_first_batch(emu: Any) -> None:
    # The first POST of rows to arrive is held 1.5 s before the service stores it: with five in
    # flight the batches sent beside it are stored first (out of order), unless the push sends
    # one batch at a time. (Which batch arrives first with five in flight is not fixed, so the
    # out-of-order case is shown by these tests failing without the fix, not by a test of it.)
    emu.set_fault(path=r"/rows$", method="POST", action="stall", stall_ms=1500, count=1)


def _ordered(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"table_name": "Sales", "group_id": SALES, "rows": rows(30_000), **inputs}


def test_keep_order_sends_one_batch_at_a_time(cli: Cli, emulator: Any) -> None:
    dataset_id = push_dataset(emulator)
    _stall_first_batch(emulator)
    inputs = _ordered({"dataset_id": dataset_id, "columns": COLUMNS, "keep_order": True})
    run = cli.invoke("create_rows", inputs, cli.app())
    assert run.result["committed"] == 30_000
    assert stored_qty(emulator, dataset_id) == list(range(30_000))


def test_a_basic_fifo_dataset_is_pushed_in_arrival_order(
    cli: Cli, emulator: Any, tmp_path: Path
) -> None:
    # Create Dataset remembers the policy in the state store; Create Rows, in another process
    # sharing that store, then keeps the order without being asked.
    state = ("--state", f"sqlite:///{tmp_path / 'state.sqlite3'}")
    created = cli.invoke(
        "create_dataset",
        {"dataset_name": "Fifo", "table_name": "Sales", "columns": COLUMNS,
         "group_id": SALES, "default_retention_policy": "basicFIFO"},
        cli.app(),
        *state,
    )  # fmt: skip
    dataset_id = created.result["id"]
    _stall_first_batch(emulator)
    run = cli.invoke("create_rows", _ordered({"dataset_id": dataset_id}), cli.app(), *state)
    assert run.result["committed"] == 30_000
    assert stored_qty(emulator, dataset_id) == list(range(30_000))
