"""The commands for people: ``run``, ``check``, ``actions``, ``describe``/``docs ACTION``, help,
completion, ``-v``/``-vv`` and progress.

Each test runs the installed ``connectorkit`` in a subprocess against the emulator (in a thread
of the test process, over loopback HTTP), and, where a terminal changes what is shown, in a
pseudo-terminal through pexpect. The assertions are what a person would see, plus what the
emulator received.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pexpect
import pytest

from conftest import PACK, copy_pack
from connectorkit import load_pack

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import SEED_IDS, running

if TYPE_CHECKING:
    from collections.abc import Iterator

    from powerbi_emulator import EmulatorHandle

COMMAND = str(Path(sys.executable).parent / "connectorkit")
ENV = {
    **{k: v for k, v in os.environ.items() if k not in {"CONNECTORKIT_PACK", "NO_COLOR"}},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
SALES = SEED_IDS["sales_analytics"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def ck(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None):
    """Run the command off a terminal; no traceback, whatever happens."""
    done = subprocess.run(
        [COMMAND, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**ENV, **(env or {})},
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def on_terminal(*args: str, cwd: Path, columns: int = 120) -> tuple[int, str]:
    """Run the command in a pseudo-terminal; its exit code and everything it showed."""
    child = pexpect.spawn(
        COMMAND,
        list(args),
        cwd=str(cwd),
        env={**ENV, "TERM": "xterm"},
        dimensions=(40, columns),
        encoding="utf-8",
        timeout=120,
    )
    shown = child.read()
    child.close()
    assert "Traceback" not in shown, shown
    return child.exitstatus, shown


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[EmulatorHandle]:
    with running() as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: EmulatorHandle) -> EmulatorHandle:
    """The module's emulator, back to its seed data with no faults, log or tokens."""
    shared_emulator.reset(tokens=True)
    return shared_emulator


def write_connection(path: Path, emu: EmulatorHandle, **values: Any) -> Path:
    """A connection file for the emulator's service principal."""
    connection = {
        "key": "client_credentials",
        "values": {
            "tenant_id": emu.tenant,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "token_url": emu.token_url,
            "base_url": emu.base_url,
            **values,
        },
    }
    path.write_text(json.dumps(connection), encoding="utf-8")
    return path


# -- run ----------------------------------------------------------------------------------------


def test_run_prints_a_table_and_saves_the_new_token_in_the_connection_file(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    done = ck("run", "list_groups", "--connection", str(conn), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "isReadOnly", "isOnDedicatedCapacity", "type"]
    assert lines[1].split()[:3] == [SALES, "Sales", "Analytics"]
    assert lines[-1] == "2 items"
    assert "2 requests, 0 retries" in done.stderr
    assert f"the new token is saved in {conn}" in done.stderr
    saved = json.loads(conn.read_text())
    assert saved["token"]["access_token"]
    assert saved["token"]["access_token"] not in done.stdout + done.stderr
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    # the saved token is used next time: one request, no token request
    again = ck("run", "list_groups", "top=1", "-c", str(conn), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 request, 0 retries" in again.stderr
    assert again.stdout.splitlines()[-1] == "1 item of 2"
    assert emu.client_secret not in done.stdout + done.stderr + again.stdout + again.stderr


def test_run_types_inputs_by_the_action_and_reads_files(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    columns = '[{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}]'
    created = ck(
        "run", "create_dataset", "dataset_name=Sales", "table_name=Sales", f"columns={columns}",
        f"group_id={SALES}", "-c", str(conn), "--json", cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    dataset_id = json.loads(created.stdout)["result"]["id"]
    (tmp_path / "rows.json").write_text('[{"Product": "A", "Qty": 3}, {"Product": "B", "Qty": 4}]')
    (tmp_path / "inputs.json").write_text(json.dumps({"table_name": "Sales", "group_id": SALES}))
    pushed = ck(
        "run", "create_rows", f"dataset_id={dataset_id}", "rows=@rows.json",
        "--inputs", "inputs.json", "-c", str(conn), cwd=tmp_path,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.split()[:6] == ["rows", "2", "batches", "1", "committed", "2"]
    assert pushed.stdout.split()[6] == "job_id"
    assert emu.rows(dataset_id, "Sales") == [{"Product": "A", "Qty": 3}, {"Product": "B", "Qty": 4}]
    # integers are sent as numbers: the query the service saw
    listed = ck("run", "list_groups", "top=1", "page_offset=1", "-c", str(conn), cwd=tmp_path)
    assert listed.returncode == 0
    last = emu.requests(kind="api")[-1]
    assert (last["path"], last["query"]) == ("/v1.0/myorg/groups", {"$top": "1", "$skip": "1"})


def test_run_names_the_bad_field_in_plain_words_and_exits_2(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    done = ck("run", "list_groups", "top=lots", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines()[:2] == [
        "error (invalid_input): action 'list_groups': invalid top",
        "  top: input should be a valid integer",
    ]
    typo = ck("run", "list_group", "-c", str(conn), cwd=tmp_path)
    assert typo.returncode == 2
    assert "did you mean 'list_groups'?" in typo.stderr
    missing = ck("run", "create_rows", "rows=@nowhere.json", "-c", str(conn), cwd=tmp_path)
    assert missing.returncode == 2
    assert "rows: cannot read nowhere.json" in missing.stderr


def test_run_json_is_the_envelope_invoke_gives_with_its_exit_code(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    connection = json.loads(conn.read_text())
    for inputs, code in (({"top": 1}, 0), ({"top": 0}, 2)):
        args = [f"{k}={v}" for k, v in inputs.items()]
        via_run = ck("run", "list_groups", *args, "--json", "-c", str(conn), cwd=tmp_path)
        request = {"action": "list_groups", "inputs": inputs, "connection": connection}
        via_invoke = ck("invoke", cwd=tmp_path, stdin=json.dumps(request))
        assert via_run.returncode == via_invoke.returncode == code
        ran, invoked = json.loads(via_run.stdout), json.loads(via_invoke.stdout)
        for response in (ran, invoked):
            response.pop("token", None)
            response.get("meta", {}).pop("duration_ms", None)
        assert ran == invoked
        assert len(via_run.stdout.splitlines()) == 1


def test_run_v_prints_one_masked_line_per_request_with_retries(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    emu.set_fault(path="/groups$", action="status", status=503, count=1)
    done = ck("run", "list_groups", "max_retry_count=2", "-v", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " → " in line]
    pattern = r"connectorkit: (POST|GET) (\S+) → (\d{3}) .* \d+ ms( \(retry \d\))?"
    seen = [re.fullmatch(pattern, line).groups() for line in lines]  # type: ignore[union-attr]
    assert [(m, u.split("?")[0], s, r) for m, u, s, r in seen] == [
        ("POST", emu.token_url, "200", None),
        ("GET", f"{emu.base_url}/groups", "503", None),
        ("GET", f"{emu.base_url}/groups", "200", " (retry 1)"),
    ]
    assert emu.client_secret not in done.stderr
    assert json.loads(conn.read_text())["token"]["access_token"] not in done.stderr


def test_run_vv_adds_headers_and_bodies_masked(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    done = ck("run", "list_groups", "-vv", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "authorization: ***" in done.stderr
    assert '"name":"Sales Analytics"' in done.stderr  # the response body
    assert "(form body hidden: it carries credentials)" in done.stderr
    assert emu.client_secret not in done.stderr
    assert json.loads(conn.read_text())["token"]["access_token"] not in done.stderr


def test_run_on_a_terminal_fits_the_width_and_uses_colour(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    code, shown = on_terminal("run", "list_groups", "-c", str(conn), cwd=tmp_path, columns=60)
    assert code == 0
    assert "\x1b[1mid" in shown  # a bold header
    table = [line for line in ANSI.sub("", shown).splitlines() if SALES in line]
    assert table
    assert all(len(line) <= 60 for line in table)
    assert "isOnDedicatedCapacity" not in shown  # the column that does not fit is left out


def test_run_shows_a_live_bar_on_a_terminal_and_plain_lines_elsewhere(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    created = ck(
        "run", "create_dataset", "dataset_name=Big", "table_name=T",
        'columns=[{"name": "N", "dataType": "Int64"}]', f"group_id={SALES}",
        "-c", str(conn), "--json", cwd=tmp_path,
    )  # fmt: skip
    dataset_id = json.loads(created.stdout)["result"]["id"]
    (tmp_path / "rows.json").write_text(json.dumps([{"N": i} for i in range(25_000)]))
    args = ["run", "create_rows", f"dataset_id={dataset_id}", "table_name=T", "rows=@rows.json",
            f"group_id={SALES}", "-c", str(conn)]  # fmt: skip
    plain = ck(*args, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split()[:6] == ["rows", "25000", "batches", "3", "committed", "25000"]
    assert [line for line in plain.stderr.splitlines() if "batches" in line] == [
        f"connectorkit: create_rows: 25000 rows: {n}/3 batches" for n in (1, 2, 3)
    ]
    code, shown = on_terminal(*args, cwd=tmp_path)
    assert code == 0
    assert re.search(r"create_rows: 25000 rows: 100%\|.*\| 3/3", shown), shown
    assert len(emu.rows(dataset_id, "T")) == 50_000


# -- check --------------------------------------------------------------------------------------


def test_check_says_what_works(tmp_path, emu):
    conn = write_connection(tmp_path / "sp.json", emu)
    done = ck("check", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"checking connection 'client_credentials' from {conn}",
        "  ✓ values are complete",
        done.stdout.splitlines()[2],
        "  ✓ list_groups top=1: the service answered (2 visible)",
        "the connection works",
    ]
    assert done.stdout.splitlines()[2].startswith("  ✓ token: a new one, valid until ")
    assert [(e["method"], e["path"], e["query"]) for e in emu.requests(kind="api")] == [
        ("GET", "/v1.0/myorg/groups", {"$top": "1"})
    ]


def test_check_names_a_wrong_secret(tmp_path, emu):
    conn = write_connection(tmp_path / "bad.json", emu, client_secret="not-the-secret")
    done = ck("check", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[2].startswith("  ✗ token: the token endpoint")  # the identity platform's words
    assert "AADSTS7000215" in lines[2]
    assert lines[3].startswith("  → Wrong secret: Entra ID refused client_secret.")
    assert lines[-1] == "the connection does not work (auth_error)"
    assert "not-the-secret" not in done.stdout + done.stderr


def test_check_names_a_wrong_tenant_and_missing_values(tmp_path, emu):
    conn = write_connection(
        tmp_path / "t.json", emu, token_url=emu.token_url.replace(emu.tenant, "elsewhere")
    )
    done = ck("check", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 1
    assert "  → Wrong tenant or cloud:" in done.stdout
    no_token = tmp_path / "no-token.json"
    no_token.write_text(
        json.dumps({"key": "oauth2", "values": {"client_id": "a", "client_secret": "b"}})
    )
    done = ck("check", "-c", str(no_token), cwd=tmp_path)
    assert done.returncode == 2
    assert "  ✗ token: connection 'oauth2' has no token" in done.stdout
    assert "  → sign in: `connectorkit auth login --values FILE` prints a token" in done.stdout
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"key": "client_credentials", "values": {"tenant_id": "x"}}))
    done = ck("check", "-c", str(incomplete), cwd=tmp_path)
    assert done.returncode == 2
    assert "  ✗ values:" in done.stdout
    assert "      connection.values.client_id: is required" in done.stdout


def test_check_explains_a_service_principal_that_is_not_allowed(tmp_path, emu):
    # A pack whose check lists My workspace's datasets: no service principal may do that.
    pack = copy_pack(tmp_path / "pack")
    text = (pack / "connector.yaml").read_text()
    (pack / "connector.yaml").write_text(
        text.replace("  action: list_groups\n", "  action: list_datasets\n", 1)
    )
    conn = write_connection(tmp_path / "sp.json", emu)
    done = ck("check", "-c", str(conn), "--pack", str(pack), cwd=tmp_path)
    assert done.returncode == 1
    assert "  ✗ list_datasets top=1: API is not accessible for application" in done.stdout
    assert "  → Service principal not allowed: a Power BI administrator" in done.stdout
    as_json = ck("check", "-c", str(conn), "--pack", str(pack), "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["error"]["code"] == "PowerBINotAuthorizedException"
    assert as_json.returncode == 1


# -- finding things -----------------------------------------------------------------------------


def test_actions_are_grouped_and_filtered(tmp_path):
    total = len(load_pack().actions)
    done = ck("actions", cwd=tmp_path)
    assert done.returncode == 0
    assert re.search(r"^  create_rows +Create Rows$", done.stdout, re.MULTILINE)
    assert re.search(r"^\S", done.stdout, re.MULTILINE)  # group headings, flush left
    assert done.stdout.splitlines()[-1] == f"{total} actions; details: connectorkit docs ACTION"
    # The nine everyday actions first, each listed once; the administrators' actions last.
    sections = done.stdout.split("\n\n")
    first = re.findall(r"^  (\w+)", sections[0], re.MULTILINE)
    assert sections[0].startswith("Important\n")
    assert sorted(first) == sorted(
        [
            "create_dataset",
            "create_rows",
            "delete_rows",
            "list_datasets",
            "list_groups",
            "list_reports",
            "list_tables",
            "update_table",
            "raw_request",
        ]
    )
    assert re.findall(r"^  (\w+)", done.stdout, re.MULTILINE).count("create_rows") == 1
    assert sections[-2].startswith("Admin\n")
    rows = ck("actions", "ROW", cwd=tmp_path)
    keys = re.findall(r"^  (\w+)", rows.stdout, re.MULTILINE)
    assert {"create_dataset", "create_rows", "delete_rows"} <= set(keys)  # "row" in a description
    assert "list_groups" not in keys
    assert rows.stdout.splitlines()[-1].endswith(
        f" of {total} actions; details: connectorkit docs ACTION"
    )
    nothing = ck("actions", "zebra", cwd=tmp_path)
    assert nothing.returncode == 1
    assert "no action mentions 'zebra'" in nothing.stderr


def test_pack_names_a_bundled_pack_unless_a_folder_is_called_so(tmp_path):
    bundled = ck("actions", "--pack", "reportserver", cwd=tmp_path)
    assert bundled.returncode == 0
    assert "list_power_bi_reports" in bundled.stdout
    assert "list_groups" not in bundled.stdout
    copy_pack(tmp_path / "reportserver")  # a folder of that name wins: here, a Power BI copy
    local = ck("actions", "--pack", "reportserver", cwd=tmp_path)
    assert "list_groups" in local.stdout
    unknown = ck("actions", "--pack", "nosuchpack", cwd=tmp_path)
    assert unknown.returncode == 2
    assert (
        "nosuchpack: no such folder, nor a bundled pack (bundled: fabric, powerbi, reportserver)"
        in (unknown.stderr)
    )


def test_describe_and_docs_show_one_action(tmp_path):
    described = ck("describe", "create_rows", cwd=tmp_path)
    assert described.returncode == 0
    entry = json.loads(described.stdout)
    assert entry["key"] == "create_rows"
    assert {"dataset_id", "table_name", "rows"} <= set(entry["inputs"]["properties"])
    assert len(described.stdout) < 20_000
    docs = ck("docs", "list_groups", cwd=tmp_path)
    assert docs.stdout.startswith("# List Groups\n\n`list_groups`\n")
    assert "| Top<br>`top` · integer |" in docs.stdout
    assert "## Call inputs" in docs.stdout
    wrong = ck("docs", "list_grups", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "did you mean 'list_groups'?" in wrong.stderr


def test_docs_begin_with_a_table_of_contents(tmp_path):
    docs = ck("docs", cwd=tmp_path).stdout
    contents = docs.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    assert "  - [Create Rows](#create-rows) (`create_rows`)" in contents
    assert "  - [OAuth 2.0 (signed-in user)](#oauth-20-signed-in-user)" in contents
    assert "### Create Rows" in docs


@pytest.mark.parametrize(
    "command",
    ["run", "check", "actions", "describe", "docs", "invoke", "serve", "validate", "completion"],
)
def test_every_command_has_help_with_an_example(tmp_path, command):
    done = ck(command, "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: connectorkit {command}")
    examples = done.stdout.split("\nexamples:\n", 1)[1]
    assert f"connectorkit {command}" in examples


def test_completion_offers_commands_actions_and_inputs(tmp_path):
    def complete(line: str) -> list[str]:
        out = tmp_path / "completions"
        env = {
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        }
        ck(cwd=tmp_path, env=env)
        return sorted(c.rstrip(" ") for c in out.read_text().split("\n"))

    assert {"run", "check", "actions"} <= set(complete("connectorkit "))
    # Every action whose key starts so, from the pack's own files.
    assert complete("connectorkit run list_") == sorted(
        p.stem for p in (PACK / "actions").glob("list_*.yaml")
    )
    assert complete("connectorkit run list_ta") == ["list_tables"]
    assert complete("connectorkit run list_tables dat") == ["dataset_id="]
    assert "top=" not in complete("connectorkit run list_tables top=3 ")
    assert complete("connectorkit run list_groups use_exponential_backoff=") == [
        "use_exponential_backoff=false", "use_exponential_backoff=true",
    ]  # fmt: skip
    assert complete("connectorkit docs create_r") == ["create_rows"]
    for name in ("emulator.json", "emulator-sp.json"):
        (tmp_path / name).write_text("{}")
    assert complete("connectorkit check -c emu") == ["emulator", "emulator-sp"]
    assert complete("connectorkit run list_groups --connection emulator-") == ["emulator-sp"]
    script = ck("completion", "bash", cwd=tmp_path)
    assert "complete " in script.stdout
    assert "connectorkit" in script.stdout


def test_an_input_the_service_lists_completes_from_the_service(tmp_path, emu):
    write_connection(tmp_path / "emu.json", emu)

    def complete(line: str) -> list[str]:
        out = tmp_path / "completions"
        env = {
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        }
        ck(cwd=tmp_path, env=env)
        return sorted(c.rstrip(" ") for c in out.read_text().split("\n") if c)

    sales = "c0ffee00-5a1e-4a1a-8a1b-000000000001"
    line = "connectorkit run --connection emu.json list_tables "
    assert complete(line + "group_id=") == [
        f"group_id={sales}",
        "group_id=c0ffee00-5a1e-4a1a-8a1b-000000000002",
    ]
    assert complete(line + "group_id=c0ffee00-5a1e-4a1a-8a1b-0000000000") == [
        f"group_id={sales}",
        "group_id=c0ffee00-5a1e-4a1a-8a1b-000000000002",
    ]
    # The datasets of the workspace already on the line.
    assert complete(line + f"group_id={sales} dataset_id=") == [
        "dataset_id=d47a5e70-0000-4000-8000-000000000002"
    ]
    api = [e["path"] for e in emu.requests(kind="api")]
    assert api.count(f"/v1.0/myorg/groups/{sales}/datasets") == 1
    # Without a connection, or when the service refuses, nothing is offered (and nothing shown).
    assert complete(f"connectorkit run list_tables group_id={sales} dataset_id=") == []
    write_connection(tmp_path / "bad.json", emu, client_secret="wrong-secret-completion-1")
    bad = "connectorkit run --connection bad.json list_tables group_id="
    assert complete(bad) == []


# -- tokens, the emulator's connections, auth -----------------------------------------------------


def test_run_saves_a_rotated_refresh_token_back_to_the_connection_file(tmp_path, emu):
    issued = emu.issue_token(principal="user")
    conn = tmp_path / "user.json"
    old = {
        "access_token": issued["access_token"],
        "refresh_token": issued["refresh_token"],
        "expires_at": 1_000_000,  # long expired: the runtime refreshes before the call
        "token_type": "Bearer",
    }
    values = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "authorize_url": emu.authorize_url,
        "token_url": emu.token_url,
        "base_url": emu.base_url,
    }
    conn.write_text(json.dumps({"key": "oauth2", "values": values, "token": old}))
    done = ck("run", "list_groups", "-c", str(conn), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = json.loads(conn.read_text())
    assert saved["values"] == values
    assert saved["token"]["refresh_token"] not in {None, old["refresh_token"]}  # rotated
    assert saved["token"]["expires_at"] > old["expires_at"]
    again = ck("run", "list_groups", "-c", str(conn), cwd=tmp_path)  # the saved token as it is
    assert again.returncode == 0, again.stderr
    assert "1 request, 0 retries" in again.stderr


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
def test_the_emulator_writes_ready_connections_for_a_second_terminal(tmp_path, tls):
    # Under --tls its own sign-in trusts the CA it made; a second terminal trusts it by
    # SSL_CERT_FILE, as the emulator's docs say.
    folder = tmp_path / "conns"
    flags = ["--tls"] if tls else []
    with subprocess.Popen(
        [COMMAND, "emulator", "--port", "0", "--connections-dir", str(folder), "--quiet", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    ) as emulator:
        try:
            assert emulator.stdout is not None
            assert emulator.stderr is not None
            urls = json.loads(emulator.stdout.readline())  # stdout: the emulator's own line only
            notes = [emulator.stderr.readline() for _ in range(4)]
            assert notes[0].startswith("connectorkit: the service principal's connection")
            pasted = json.loads(notes[1])
            assert pasted["values"]["base_url"] == urls["base_url"]
            assert notes[2] == (
                f"connectorkit: written to {folder}/emulator.json and {folder}/emulator-sp.json; "
                "try:\n"
            )
            assert stat.S_IMODE((folder / "emulator.json").stat().st_mode) == 0o600
            user = json.loads((folder / "emulator.json").read_text())
            assert user["key"] == "oauth2"
            assert user["token"]["refresh_token"]
            assert user["values"]["base_url"].startswith("https://" if tls else "http://")
            trust = {"SSL_CERT_FILE": urls["ca_file"]} if tls else {}
            for name in ("emulator.json", "emulator-sp.json"):
                done = ck("run", "list_groups", "-c", str(folder / name), cwd=tmp_path, env=trust)
                assert done.returncode == 0, done.stderr
                assert done.stdout.splitlines()[-1] == "2 items"
            sp = str(folder / "emulator-sp.json")
            checked = ck("check", "-c", sp, cwd=tmp_path, env=trust)
            assert checked.returncode == 0
            assert checked.stdout.splitlines()[-1] == "the connection works"
        finally:
            emulator.terminate()
    assert emulator.returncode is not None


def test_auth_help_says_what_it_does_and_takes_a_connection_file(tmp_path, emu):
    shown = ck("auth", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "login      sign in through the browser" in shown.stdout
    assert "connectorkit auth login --values emulator.json" in shown.stdout
    bare = ck("auth", cwd=tmp_path)
    assert bare.returncode == 2
    assert "subcommands:" in bare.stderr
    # one flag, not six: the login reads key and values from a connection file
    conn = tmp_path / "emulator.json"
    values = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "authorize_url": emu.authorize_url,
        "token_url": emu.token_url,
        "base_url": emu.base_url,
    }
    conn.write_text(json.dumps({"key": "oauth2", "values": values}))
    with subprocess.Popen(
        [COMMAND, "auth", "login", "--no-browser", "--values", str(conn), "--timeout", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    ) as login:
        assert login.stderr is not None
        assert login.stdout is not None
        url = next(line for line in login.stderr if line.startswith("http"))
        import httpx  # noqa: PLC0415

        with httpx.Client(trust_env=False, timeout=10) as browser:
            approved = browser.get(url.strip())
            assert approved.status_code == 302
            browser.get(approved.headers["location"])
        token = json.loads(login.stdout.read())
    assert login.returncode == 0
    assert token["refresh_token"]


def test_validate_names_a_check_of_an_action_the_pack_lacks(tmp_path):
    pack = copy_pack(tmp_path / "pack")
    text = (pack / "connector.yaml").read_text()
    (pack / "connector.yaml").write_text(
        text.replace("  action: list_groups\n", "  action: list_grups\n")
    )
    done = ck("validate", str(pack), cwd=tmp_path)
    assert done.returncode == 1
    assert (
        "at check.action 'list_grups' is not an action of this pack; did you mean 'list_groups'?"
        in done.stdout
    )


@pytest.mark.parametrize("columns", [60, 100])
def test_help_is_wrapped_to_the_width_columns_gives(tmp_path, columns):
    shown = ck("invoke", "--help", cwd=tmp_path, env={"COLUMNS": str(columns)})
    assert shown.returncode == 0
    # (The examples are shown as written, whatever the width.)
    lines = shown.stdout.split("examples:")[0].splitlines()
    assert max(len(line) for line in lines) <= columns - 2
    # The width is used, not merely respected: the options' help fills its lines.
    assert max(len(line) for line in lines) > columns - 12
