"""End to end: rows into a Lakehouse table through the real command against the Fabric emulator.

Each call is one `connectorkit invoke --pack packs/fabric` subprocess over loopback HTTP, signed
in as the emulator's service principal. The rows go to OneLake (the storage service, with a
token for the storage scope) as a CSV file, then Load Table runs and is waited for; the
emulator's own view of the table says what was stored.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, assert_envelope

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from connectorkit.pytest_plugin import Emulator
from fabric_emulator import SEED_IDS

WORKSPACE = SEED_IDS["sales_workspace"]
LAKEHOUSE = SEED_IDS["sales_lakehouse"]
STORAGE_SCOPE = "https://storage.azure.com/.default"
FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"

ROWS = [
    {"id": 1, "product": "Bike", "amount": 120.5, "paid": True, "day": "2026-12-01"},
    {"id": 2, "product": "Helmet", "amount": 35.0, "paid": False, "day": "2026-12-02"},
    {"id": 3, "product": "Lamp, front", "amount": None, "paid": True, "day": "2026-12-03"},
]


@pytest.fixture
def connectorkit_pack_dir():
    return ROOT / "packs" / "fabric"


@pytest.fixture
def pack_emulator_args():
    """The Fabric emulator's operations take one emulated second."""
    return ["--operation-seconds", "1", "--quiet"]


@pytest.fixture
def load(pack_emulator, invoke_command):
    """Run load_rows_into_table through `connectorkit invoke` as the service principal."""
    connection = pack_emulator.connection(
        "client_credentials",
        tenant_id=pack_emulator.urls["tenant"],
        client_id="connectorkit-demo",
        client_secret="demo-secret",
    )

    def run(**inputs):
        given = {"workspace_id": WORKSPACE, "lakehouse_id": LAKEHOUSE, **inputs}
        request = {"action": "load_rows_into_table", "inputs": given, "connection": connection}
        done = invoke_command(request)
        assert_envelope(done.response)
        return done

    return run


def control(pack_emulator, method, path):
    import httpx  # noqa: PLC0415

    answer = httpx.request(method, f"{pack_emulator.urls['url']}/_emulator/{path}")
    answer.raise_for_status()
    return answer.json()


def table(pack_emulator, name):
    return control(pack_emulator, "GET", f"lakehouses/{LAKEHOUSE}/tables/{name}/rows?top=100")


def log(pack_emulator, kind):
    return control(pack_emulator, "GET", f"requests?kind={kind}")["value"]


def test_rows_go_through_onelake_into_a_new_table_then_are_appended(pack_emulator, load):
    done = load(table_name="sales", rows=ROWS)
    assert (done.response["ok"], done.exit_code) == (True, 0), done.response
    result = done.response["result"]
    assert (result["table"], result["mode"], result["status"]) == ("sales", "Append", "Succeeded")
    assert result["file"].startswith("Files/connectorkit/")
    assert done.response["meta"]["staged"]["rows"] == 3

    stored = table(pack_emulator, "sales")
    assert stored["rows"] == 3
    assert stored["value"] == [
        {"id": "1", "product": "Bike", "amount": "120.5", "paid": "true", "day": "2026-12-01"},
        {"id": "2", "product": "Helmet", "amount": "35.0", "paid": "false", "day": "2026-12-02"},
        {"id": "3", "product": "Lamp, front", "amount": None, "paid": "true", "day": "2026-12-03"},
    ]

    # The file went to OneLake's file API (create, append, flush), with a storage token.
    onelake = [(e["method"], e["query"].get("action") or e["query"].get("resource"), e["status"])
               for e in log(pack_emulator, "onelake")]  # fmt: skip
    assert onelake[-3:] == [("PUT", "file", 201), ("PATCH", "append", 202), ("PATCH", "flush", 200)]
    written = log(pack_emulator, "onelake")[-1]["path"]
    assert written == f"/onelake/{WORKSPACE}/{LAKEHOUSE}/{result['file']}"
    scopes = [e.get("scope") for e in log(pack_emulator, "identity")]
    assert sorted(set(scopes)) == [FABRIC_SCOPE, STORAGE_SCOPE]

    # Appending checks the rows against the table's columns, read from its Delta log.
    more = [{"id": 4, "product": "Bell", "amount": 9.99, "paid": True, "day": "2026-12-04"}]
    done = load(table_name="sales", rows=more)
    assert done.response["ok"], done.response
    assert table(pack_emulator, "sales")["rows"] == 4
    reads = [e["path"] for e in log(pack_emulator, "onelake") if e["method"] == "GET"]
    assert f"/onelake/{WORKSPACE}/{LAKEHOUSE}/Tables/sales/_delta_log/{0:020d}.json" in reads


def test_a_bad_row_is_refused_by_position_and_column_before_anything_is_written(
    pack_emulator, load
):
    assert load(table_name="orders", rows=ROWS).response["ok"]
    before = len(log(pack_emulator, "onelake"))
    loads = [e for e in log(pack_emulator, "api") if e["path"].endswith("/load")]
    bad = [*ROWS[:2], {"id": "three", "product": "Lamp", "amount": 1, "paid": True}]
    done = load(table_name="orders", rows=[*bad, {"id": 5, "colour": "red"}])

    assert (done.response["ok"], done.exit_code) == (False, 2), done.response
    error = done.response["error"]
    assert error["type"] == "invalid_input"
    assert error["details"] == [
        {"field": "rows[2].id", "message": 'input should be a valid integer (got "three")'},
        {"field": "rows[3].colour", "message": "is not a column of the table"},
    ]
    assert error["message"].startswith("2 of the rows do not fit the table's columns")
    # Only the table's log was read: no file was created, appended to or loaded.
    after = log(pack_emulator, "onelake")[before:]
    assert {e["method"] for e in after} == {"GET"}
    assert [e for e in log(pack_emulator, "api") if e["path"].endswith("/load")] == loads
    assert table(pack_emulator, "orders")["rows"] == 3


def test_overwrite_replaces_the_rows_and_a_csv_file_is_loaded_as_it_is(
    pack_emulator, load, tmp_path
):
    assert load(table_name="stock", rows=ROWS).response["ok"]
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text("sku,count\nA-1,4\nB-2,\n")
    done = load(table_name="stock", file={"path": str(csv_file)}, mode="Overwrite")
    assert done.response["ok"], done.response
    stored = table(pack_emulator, "stock")
    assert stored == {
        "rows": 2,
        "value": [{"sku": "A-1", "count": "4"}, {"sku": "B-2", "count": None}],
    }

    # Appending a file checks its cells against the columns the table now has.
    csv_file.write_text("sku,count\nC-3,many\n")
    done = load(table_name="stock", file={"path": str(csv_file)})
    assert done.response["ok"] is False
    assert done.response["error"]["details"] == [
        {"field": "file[0].count", "message": "'many' is not a whole number (line 2)"}
    ]
    assert table(pack_emulator, "stock")["rows"] == 2


# -- docs/from-push-datasets-to-fabric.md, replayed -------------------------------------------

GUIDE = ROOT / "docs" / "from-push-datasets-to-fabric.md"
GUIDE_PORT = "8653"


def transcript(name: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of a marked console block, each with the lines it shows."""
    text = GUIDE.read_text(encoding="utf-8")
    block = text.split(f"<!-- transcript: {name} -->\n```console\n", 1)[1].split("\n```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def matches(expected: str, shown: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, shown) is not None


def test_the_guide_from_push_datasets_shows_what_the_commands_print(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"CONNECTORKIT_PACK", "NO_COLOR"}},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "100",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "CONNECTORKIT_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}",
    }
    [(start, announced)] = transcript("fabric-emulator")
    with subprocess.Popen(
        shlex.split(start.replace(GUIDE_PORT, port)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as emulator:
        try:
            shown = [emulator.stdout.readline().rstrip("\n") for _ in announced]
            wanted = [line.replace(GUIDE_PORT, port) for line in announced]
            assert all(map(matches, wanted, shown)), (wanted, shown)
            for command, expected in transcript("fabric-session"):
                done = subprocess.run(
                    ["bash", "-c", command.replace(GUIDE_PORT, port)],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=120,
                    check=False,
                )
                lines = done.stdout.replace(port, GUIDE_PORT).splitlines()
                same = len(expected) == len(lines) and all(map(matches, expected, lines))
                assert same, f"$ {command}\nthe guide says:\n" + "\n".join(
                    [*expected, "it shows:", *lines]
                )
        finally:
            emulator.terminate()
            emulator.wait(15)


# -- connectorkit push --to lakehouse: a job that survives SIGKILL -------------------------------


@pytest.fixture
def slow_emulator(connectorkit_pack):
    """The Fabric emulator with 4-second loads and 150 ms added to every request."""
    command = [sys.executable, "-m", "connectorkit", "emulator", "fabric", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--operation-seconds", "4", "--latency", "150", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        urls = json.loads(process.stdout.readline())
        yield Emulator(urls=urls, process=process, pack=connectorkit_pack)
    finally:
        process.terminate()
        process.wait(15)
        process.stdout.close()


def push_command(emulator, tmp_path, rows_file, job_id):
    connection = emulator.connection(
        "client_credentials",
        tenant_id=emulator.urls["tenant"],
        client_id="connectorkit-demo",
        client_secret="demo-secret",
    )
    (tmp_path / "fabric.json").write_text(json.dumps(connection))
    return [
        sys.executable, "-m", "connectorkit", "push", str(rows_file), "--to", "lakehouse",
        f"workspace_id={WORKSPACE}", f"lakehouse_id={LAKEHOUSE}", "table_name=events",
        "--connection", str(tmp_path / "fabric.json"), "--job-id", job_id,
        "--state", f"sqlite:///{tmp_path / 'state.sqlite3'}", "--json",
    ]  # fmt: skip


def rows_file(tmp_path, count):
    path = tmp_path / "events.ndjson"
    with path.open("w") as out:
        for number in range(count):
            out.write(json.dumps({"id": number, "kind": "click", "value": number * 0.5}) + "\n")
    return path


def killed_when(emulator, command, seen):
    """Start ``command``; SIGKILL it once the emulator's log holds a request ``seen`` picks."""
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if any(seen(e) for e in control(emulator, "GET", "requests")["value"]):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        process.wait(15)
    assert process.returncode == -signal.SIGKILL, "the push ended before it was killed"


def loads_sent(emulator):
    log = control(emulator, "GET", "requests?kind=api")["value"]
    return [e for e in log if e["method"] == "POST" and e["path"].endswith("/load")]


def test_a_push_killed_while_its_load_runs_resumes_it_and_stores_the_rows_once(
    slow_emulator, tmp_path
):
    command = push_command(slow_emulator, tmp_path, rows_file(tmp_path, 20_000), "load-1")
    killed_when(slow_emulator, command, lambda e: "/operations/" in e["path"])
    assert len(loads_sent(slow_emulator)) == 1

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    response = json.loads(done.stdout)
    assert (response["ok"], done.returncode) == (True, 0), response
    assert response["result"]["status"] == "Succeeded"
    assert response["result"]["job_id"] == "load-1"
    assert len(loads_sent(slow_emulator)) == 1  # followed, not loaded again
    assert table(slow_emulator, "events")["rows"] == 20_000

    # Once more: the job is done, and nothing is sent.
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert json.loads(again.stdout)["result"]["resumed"] is True
    assert len(loads_sent(slow_emulator)) == 1
    assert table(slow_emulator, "events")["rows"] == 20_000


def test_a_push_killed_while_writing_its_file_writes_it_again_then_loads_once(
    slow_emulator, tmp_path
):
    command = push_command(slow_emulator, tmp_path, rows_file(tmp_path, 20_000), "load-2")
    killed_when(slow_emulator, command, lambda e: e["kind"] == "onelake" and e["method"] == "PUT")
    assert loads_sent(slow_emulator) == []

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    response = json.loads(done.stdout)
    assert (response["ok"], done.returncode) == (True, 0), response
    assert response["result"]["rows"] == 20_000
    assert len(loads_sent(slow_emulator)) == 1
    # Progress on stderr (a line each here; one line redrawn on a terminal).
    said = done.stderr.splitlines()
    assert any(re.fullmatch(r"connectorkit: 0\.\d of 0\.\d MB written, .* s", s) for s in said)
    assert re.fullmatch(r"connectorkit: loading into events: Succeeded, 100 %, .* s", said[-2])
    # The same file (the job's), created again and written from its start.
    log = control(slow_emulator, "GET", "requests?kind=onelake")["value"]
    created = [e["path"] for e in log if e["method"] == "PUT"]
    assert created == [f"/onelake/{WORKSPACE}/{LAKEHOUSE}/Files/connectorkit/load-2.csv"] * 2
    assert table(slow_emulator, "events")["rows"] == 20_000


def test_a_signed_in_users_refresh_token_gets_the_onelake_token(pack_emulator, invoke_command):
    import httpx  # noqa: PLC0415

    fabric = "https://api.fabric.microsoft.com"
    token = httpx.post(
        f"{pack_emulator.urls['url']}/_emulator/tokens",
        json={
            "principal": "user",
            "scope": f"{fabric}/Workspace.ReadWrite.All {fabric}/Item.ReadWrite.All offline_access",
        },
    ).json()
    connection = pack_emulator.connection(
        "oauth2", client_id="connectorkit-demo", client_secret="demo-secret"
    )
    connection["token"] = token
    inputs = {"workspace_id": WORKSPACE, "lakehouse_id": LAKEHOUSE, "table_name": "by_user"}
    request = {
        "action": "load_rows_into_table",
        "inputs": {**inputs, "rows": ROWS},
        "connection": connection,
    }
    done = invoke_command(request)
    assert done.response["ok"], done.response
    assert table(pack_emulator, "by_user")["rows"] == 3
    # One refresh, for the storage scope; the caller's own token is the one it keeps.
    asked = [(e.get("grant_type"), e.get("scope")) for e in log(pack_emulator, "identity")]
    assert asked == [("refresh_token", STORAGE_SCOPE)]
    assert "token" not in done.response


def test_a_push_on_a_terminal_redraws_one_progress_line(pack_emulator, tmp_path):
    import pty  # noqa: PLC0415

    command = push_command(pack_emulator, tmp_path, rows_file(tmp_path, 5_000), "on-a-tty")
    command.remove("--json")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=follower, timeout=120, check=False
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0, shown
    frames = shown.decode().split("\r\x1b[2K")
    assert re.match(r"\[#{20}\] 0\.\d of 0\.\d MB written, ", frames[1])
    assert re.match(r"loading into events: Succeeded, 100 %, .* s\r?\n", frames[-1])
    assert b"job_id  on-a-tty" in done.stdout


def test_a_load_that_failed_is_loaded_again_and_a_job_keeps_its_file(pack_emulator, tmp_path):
    rows = tmp_path / "events.csv"
    rows.write_text("id,kind\n1,click\n2,view,extra\n")  # a row the service refuses
    command = push_command(pack_emulator, tmp_path, rows, "ragged")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    response = json.loads(done.stdout)
    assert (response["ok"], done.returncode) == (False, 1)
    assert response["error"]["operation"]["status"] == "failed"
    assert "row 3 has 3 values, not 2" in response["error"]["message"]

    rows.write_text("id,kind\n1,click\n2,view\n")  # mended: the job loads it
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert json.loads(done.stdout)["ok"], done.stdout
    assert len(loads_sent(pack_emulator)) == 2
    assert table(pack_emulator, "events")["rows"] == 2

    other = tmp_path / "other.csv"
    other.write_text("id,kind\n3,click\n")
    command[command.index(str(rows))] = str(other)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    response = json.loads(done.stdout)
    assert (response["ok"], done.returncode) == (False, 2)
    assert response["error"]["message"].startswith(f"job ragged loads {rows} with other inputs")
    assert len(loads_sent(pack_emulator)) == 2
