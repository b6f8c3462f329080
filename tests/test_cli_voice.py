"""Every command speaks to people: ``push``, ``jobs`` and ``connections`` print tables, local
times and a sentence when there is nothing, say an error once on stderr, and give the envelope
with ``--json``; one connection lookup everywhere; a push's bar and summary agree; a bad CSV cell
is named by its line; ``docs ACTION`` reads well on a terminal; help has examples; a mistyped
flag is answered by the command's own usage with a suggestion.

Each test runs the installed command in a subprocess (in a pseudo-terminal where a terminal
changes what is shown) against the emulator over loopback HTTP.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

import pexpect
import pytest

from test_cli import ANSI, COMMAND, ENV, SALES, ck, write_connection

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import running

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from powerbi_emulator import EmulatorHandle

COLUMNS = [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}]
# A zone far from UTC, so that a local time cannot pass for a UTC one.
LOCAL = {"TZ": "Asia/Kathmandu"}


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    with running() as emulator:
        yield emulator


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"CONNECTORKIT_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}", **LOCAL}


def local(stamp: float, fmt: str) -> str:
    """``stamp`` as a person in LOCAL's zone reads it."""
    import os  # noqa: PLC0415

    saved = os.environ.get("TZ")
    os.environ["TZ"] = LOCAL["TZ"]
    time.tzset()
    try:
        return time.strftime(fmt, time.localtime(stamp))
    finally:
        if saved is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = saved
        time.tzset()


def dataset(tmp_path: Path, conn: Path, env: dict[str, str]) -> str:
    created = ck(
        "run", "create_dataset", "dataset_name=Sales", "table_name=Sales",
        f"columns={json.dumps(COLUMNS)}", f"group_id={SALES}", "-c", str(conn), "--json",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return str(json.loads(created.stdout)["result"]["id"])


def csv_file(path: Path, count: int, bad_at: int | None = None) -> Path:
    lines = ["Product,Qty"] + [f"P{i},{'x' if i == bad_at else i}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- connections --------------------------------------------------------------------------------


def test_connections_say_when_there_are_none_and_list_a_table(tmp_path, emu, state):
    empty = ck("connections", cwd=tmp_path, env=state)
    assert empty.returncode == 0
    assert empty.stdout.startswith("no stored connections in sqlite:///")
    assert "connectorkit connections add NAME" in empty.stdout
    assert json.loads(ck("connections", "--json", cwd=tmp_path, env=state).stdout) == {
        "ok": True,
        "result": [],
    }
    conn = write_connection(tmp_path / "sp.json", emu)
    added = ck("connections", "add", "sp", "--from", str(conn), cwd=tmp_path, env=state)
    assert added.stdout == (
        "saved connection 'sp' (client_credentials); use it with --connection sp\n"
    )
    listed = ck("connections", "list", cwd=tmp_path, env=state)
    header, row = listed.stdout.splitlines()
    assert header.split() == ["name", "key", "token", "saved"]
    assert row.split()[:3] == ["sp", "client_credentials", "none"]
    saved = json.loads(ck("connections", "--json", cwd=tmp_path, env=state).stdout)["result"][0]
    assert row.endswith(local(saved["saved_at"], "%H:%M"))  # the local time, not UTC
    shown = ck("connections", "show", "sp", cwd=tmp_path, env=state)
    assert re.search(r"^values\.client_secret +\*\*\*$", shown.stdout, re.MULTILINE)
    assert emu.client_secret not in shown.stdout


def test_connections_say_an_error_once_on_stderr(tmp_path, state):
    missing = ck("connections", "show", "nobody", cwd=tmp_path, env=state)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr.splitlines()[0].startswith(
        "error (invalid_request): there is no stored connection 'nobody' in sqlite:///"
    )
    as_json = ck("connections", "show", "nobody", "--json", cwd=tmp_path, env=state)
    assert as_json.returncode == 2
    assert as_json.stderr == ""
    assert json.loads(as_json.stdout)["error"]["type"] == "invalid_request"


# -- push and jobs ------------------------------------------------------------------------------


def test_push_finds_dot_name_json_and_prints_for_people(tmp_path, emu, state):
    # The README's flow leaves emulator.json here: push's own example must work with it.
    write_connection(tmp_path / "emulator.json", emu)
    dataset_id = dataset(tmp_path, tmp_path / "emulator.json", state)
    rows = csv_file(tmp_path / "rows.csv", 25_000)
    done = ck(
        "push", str(rows), f"dataset_id={dataset_id}", "table_name=Sales", f"group_id={SALES}",
        "--connection", "emulator", cwd=tmp_path, env=state,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    facts = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert (facts["rows"], facts["batches"], facts["committed"]) == ("25000", "3", "25000")
    assert len(emu.rows(dataset_id, "Sales")) == 25_000
    progress = [line for line in done.stderr.splitlines() if "rows committed" in line]
    assert progress[-1].startswith("connectorkit: create_rows: 25,000 of 25,000 rows committed")
    as_json = ck(
        "push", str(rows), f"dataset_id={dataset_id}", "table_name=Sales", f"group_id={SALES}",
        "-c", "emulator", "--json", cwd=tmp_path, env=state,
    )  # fmt: skip
    assert json.loads(as_json.stdout)["result"]["committed"] == 25_000


def test_a_bad_csv_cell_is_named_by_its_line_in_the_file(tmp_path, emu, state):
    conn = write_connection(tmp_path / "sp.json", emu)
    dataset_id = dataset(tmp_path, conn, state)
    rows = csv_file(tmp_path / "rows.csv", 30_001, bad_at=30_000)  # row 30000 is on line 30002
    done = ck(
        "push", str(rows), f"dataset_id={dataset_id}", "table_name=Sales", f"group_id={SALES}",
        "-c", str(conn), cwd=tmp_path, env=state,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "error (invalid_input): line 30002, column Qty: 'x' is not a whole number"
    assert lines[1] == "  rows.csv line 30002, Qty: 'x' is not a whole number"
    assert lines[2] == "  → fix the inputs named above (see: connectorkit docs create_rows)"
    assert emu.rows(dataset_id, "Sales") == []  # nothing was sent
    as_json = ck(
        "push", str(rows), f"dataset_id={dataset_id}", "table_name=Sales", f"group_id={SALES}",
        "-c", str(conn), "--json", cwd=tmp_path, env=state,
    )  # fmt: skip
    assert json.loads(as_json.stdout)["error"]["details"] == [
        {"field": "rows[30000].Qty", "message": "'x' is not a whole number", "line": 30002}
    ]


def test_a_row_the_columns_refuse_is_named_by_line_and_counted_in_words(tmp_path, emu, state):
    conn = write_connection(tmp_path / "sp.json", emu)
    dataset_id = dataset(tmp_path, conn, state)
    data = tmp_path / "rows.ndjson"
    lines = [json.dumps({"Product": "P", "Qty": i}) for i in range(3)]
    lines.insert(2, "")  # a blank line holds no row
    lines.append(json.dumps({"Product": "P", "Colour": "red"}))
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = ck(
        "push", str(data), f"dataset_id={dataset_id}", "table_name=Sales", f"group_id={SALES}",
        "-c", str(conn), cwd=tmp_path, env=state,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "error (invalid_input): 1 of the rows does not fit the table's columns; nothing was sent"
    )
    assert "  rows.ndjson line 5, Colour: " in done.stderr


def test_jobs_list_by_default_in_a_table_with_local_times(tmp_path, emu, state):
    empty = ck("jobs", cwd=tmp_path, env=state)
    assert empty.returncode == 0
    assert empty.stdout.startswith("no push jobs in sqlite:///")
    conn = write_connection(tmp_path / "sp.json", emu)
    dataset_id = dataset(tmp_path, conn, state)
    rows = csv_file(tmp_path / "rows.csv", 12_345)
    pushed = ck(
        "push", str(rows), f"dataset_id={dataset_id}", "table_name=Sales", f"group_id={SALES}",
        "-c", str(conn), "--job-id", "job-1", cwd=tmp_path, env=state,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    listed = ck("jobs", cwd=tmp_path, env=state)
    header, row = listed.stdout.splitlines()
    assert header.split() == ["job_id", "started", "action", "state", "committed", "target"]
    created = json.loads(ck("jobs", "--json", cwd=tmp_path, env=state).stdout)["result"][0]
    assert row.startswith(f"job-1   {local(created['created'], '%Y-%m-%d %H:%M')}  create_rows")
    # Counts line up on the right, under their header.
    assert header.index("committed") + len("committed") == row.index(" rows") + len(" rows")
    shown = ck("jobs", "show", "job-1", cwd=tmp_path, env=state)
    assert re.search(r"^committed +2 +12,345$", shown.stdout, re.MULTILINE), shown.stdout


def test_the_last_frame_of_the_bar_and_the_summary_agree(tmp_path, emu, state):
    conn = write_connection(tmp_path / "sp.json", emu)
    dataset_id = dataset(tmp_path, conn, state)
    rows = csv_file(tmp_path / "rows.csv", 30_000)
    child = pexpect.spawn(
        COMMAND,
        ["push", str(rows), f"dataset_id={dataset_id}", "table_name=Sales",
         f"group_id={SALES}", "-c", str(conn)],
        cwd=str(tmp_path), env={**ENV, **state, "TERM": "xterm"}, dimensions=(40, 200),
        encoding="utf-8", timeout=120,
    )  # fmt: skip
    shown = child.read()
    child.close()
    assert child.exitstatus == 0, shown
    frames = [f for f in re.split(r"\r\x1b\[2K", shown) if "rows committed" in f]
    last, _, summary = ANSI.sub("", frames[-1]).replace("\r\n", "\n").partition("\n")
    assert last.startswith("[####################] create_rows: 30,000 of 30,000 rows committed")
    assert ", 0 in flight" in last
    rate = re.search(r"\(100%\), ([\d,]+) rows/s", last)
    assert rate is not None, last
    assert f"connectorkit: {rate.group(1)} rows/s, " in summary  # the same figure, once
    assert summary.count("rows committed") == 0  # the bar is not drawn again after it
    assert re.search(r"^rows +30000$", summary, re.MULTILINE)  # the result on its own lines


# -- reading and asking -------------------------------------------------------------------------


def test_docs_on_a_terminal_is_formatted_paged_and_shows_how_to_run_it(tmp_path):
    pager = tmp_path / "pager"
    pager.write_text("#!/bin/sh\necho '[paged]'\ncat\n")
    pager.chmod(0o755)
    child = pexpect.spawn(
        COMMAND, ["docs", "list_groups"], cwd=str(tmp_path),
        env={**ENV, "TERM": "xterm", "PAGER": str(pager)}, dimensions=(40, 100),
        encoding="utf-8", timeout=60,
    )  # fmt: skip
    shown = ANSI.sub("", child.read())
    child.close()
    assert child.exitstatus == 0
    assert shown.startswith("[paged]")
    assert "List Groups  (list_groups)" in shown
    assert "<br>" not in shown
    assert "| --- |" not in shown
    assert "connectorkit run list_groups top=10 --connection NAME" in shown
    assert "Run it" in shown
    # Off a terminal (a file, a pipe) it stays Markdown, as before.
    assert ck("docs", "list_groups", cwd=tmp_path).stdout.startswith("# List Groups\n")


def test_an_unknown_action_suggests_one_and_lists_none(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    done = ck("run", "lst_groups", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        (
            "error (unknown_action): the pack 'powerbi' has no action 'lst_groups'; did you "
            "mean 'list_groups'?"
        ),
        "  → list the actions with: connectorkit actions",
    ]
    envelope = json.loads(ck("run", "lst_groups", "-c", str(conn), "--json", cwd=tmp_path).stdout)
    assert envelope["error"]["details"] == [
        {"field": "action", "message": "did you mean 'list_groups'?"}
    ]


@pytest.mark.parametrize(
    ("args", "usage", "meant"),
    [
        (["run", "list_groups", "--jsn"], "usage: connectorkit run ", "--json"),
        (["jobs", "list", "--jsn"], "usage: connectorkit jobs list ", "--json"),
        (["connections", "list", "--stae"], "usage: connectorkit connections list ", "--state"),
        (["check", "--conection", "x"], "usage: connectorkit check ", "--connection"),
    ],
)
def test_a_mistyped_flag_gets_the_commands_usage_and_a_suggestion(tmp_path, args, usage, meant):
    done = ck(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(usage)
    assert done.stderr.rstrip().endswith(f"(did you mean {meant}?)")


@pytest.mark.parametrize(
    "command",
    [
        "run", "check", "actions", "describe", "docs", "invoke", "serve", "validate",
        "completion", "push", "jobs", "jobs resume", "connections", "connections add",
        "emulator", "new", "new pack", "new action", "import-openapi", "studio", "auth",
    ],
)  # fmt: skip
def test_every_command_has_help_with_examples_and_whole_sentences(tmp_path, command):
    done = ck(*command.split(), "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "\nexamples:\n" in done.stdout, done.stdout
    examples = done.stdout.split("\nexamples:\n", 1)[1]
    assert f"connectorkit {command.split()[0]}" in examples
    rest = done.stdout.partition("\n\n")[2]
    description = " ".join(rest.split("\n\n", 1)[0].split())
    if command not in {"emulator", "auth"}:  # their own help leads with their options
        assert description.endswith((".", ":")), description


def test_import_openapi_dry_run_says_nothing_was_written(tmp_path):
    from conftest import ROOT  # noqa: PLC0415

    pack = tmp_path / "pack"
    assert ck("new", "pack", str(pack), cwd=tmp_path).returncode == 0
    spec = ROOT / "tests" / "data" / "weather-api.yaml"
    done = ck("import-openapi", str(spec), "--tag", "alerts", "--dry-run", cwd=pack)
    assert done.returncode == 0
    assert done.stderr.splitlines()[:3] == [
        (
            "2 operation(s): 2 action(s) would be created, 0 would be updated, 0 unchanged, 0 "
            "hand-written kept as they are (--dry-run: nothing was written)"
        ),
        "  would create  actions/list_alerts.yaml",
        "  would create  actions/create_alert.yaml",
    ]
    assert not (pack / "actions" / "list_alerts.yaml").exists()
