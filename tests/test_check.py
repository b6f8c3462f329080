"""``connectorkit check`` diagnoses each misconfiguration by the step that failed and the value
to fix: a token URL that is no token endpoint (404), a host nobody listens on, a name that does
not resolve, a wrong ``base_url``, and a token endpoint that takes the connection and never
answers (shown while it waits). A token that was not used is never reported as valid.

Every case runs the real command against the emulator over loopback HTTP.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import TYPE_CHECKING

import pexpect
import pytest

from test_cli import ANSI, COMMAND, ENV, ck, write_connection

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import running

if TYPE_CHECKING:
    from collections.abc import Iterator

    from powerbi_emulator import EmulatorHandle


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    with running() as emulator:
        yield emulator


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check(conn, tmp_path, *extra):
    done = ck("check", "-c", str(conn), *extra, cwd=tmp_path, env={"COLUMNS": "400"})
    return done, done.stdout.splitlines()


def test_a_token_url_that_is_no_token_endpoint_is_named(tmp_path, emu):
    wrong = emu.token_url.removesuffix("/token") + "/tokn"
    conn = write_connection(tmp_path / "c.json", emu, token_url=wrong)
    done, lines = check(conn, tmp_path)
    assert done.returncode == 1
    assert lines[1:] == [
        "  ✓ values are complete",
        "  ✗ token: token_url answered 404 Not Found: no token endpoint there",
        (
            f"  → check token_url: {wrong} answered 404 Not Found, so it is not the identity "
            "platform's token endpoint; the pack's default is "
            f"https://login.microsoftonline.com/{emu.tenant}/oauth2/v2.0/token"
        ),
        "the connection does not work (auth_error)",
    ]
    assert "client_secret" not in done.stdout  # not blamed on the credentials


def test_a_token_host_nobody_listens_on_is_the_network_or_token_url(tmp_path, emu):
    port = closed_port()
    conn = write_connection(tmp_path / "c.json", emu, token_url=f"http://127.0.0.1:{port}/t")
    done, lines = check(conn, tmp_path)
    assert done.returncode == 1
    assert lines[2] == (
        f"  ✗ token: cannot reach 127.0.0.1:{port} (token_url): connection refused "
        "(nothing listens on that port)"
    )
    assert lines[3].startswith("  → check token_url (its host and port), and the network")
    assert not any("list_groups" in line for line in lines)  # the call was never made


def test_a_name_that_does_not_resolve_says_dns(tmp_path, emu):
    conn = write_connection(tmp_path / "c.json", emu, token_url="http://no-such-host.invalid/t")
    done, lines = check(conn, tmp_path)
    assert done.returncode == 1
    assert lines[2] == (
        "  ✗ token: cannot reach no-such-host.invalid (token_url): the name does not resolve (DNS)"
    )


def test_an_unreachable_service_never_calls_an_unused_token_valid(tmp_path, emu):
    conn = write_connection(tmp_path / "c.json", emu)
    first, _ = check(conn, tmp_path)
    assert first.returncode == 0  # a token is now in the connection file
    saved = json.loads(conn.read_text())
    port = closed_port()
    saved["values"]["base_url"] = f"http://127.0.0.1:{port}/v1.0/myorg"
    conn.write_text(json.dumps(saved))
    done, lines = check(conn, tmp_path)
    assert done.returncode == 1
    assert lines[2] == (
        "  · token: not tested: the token of the connection was not used (the service did not "
        "answer)"
    )
    assert lines[3] == (
        f"  ✗ list_groups top=1: cannot reach 127.0.0.1:{port} (base_url): connection refused "
        "(nothing listens on that port)"
    )
    assert lines[4].startswith("  → check base_url (its host and port), and the network")
    assert not any("✓ token" in line for line in lines)


def test_a_wrong_base_url_is_named_with_the_packs_default(tmp_path, emu):
    conn = write_connection(tmp_path / "c.json", emu, base_url=emu.base_url + "s")
    done, lines = check(conn, tmp_path)
    assert done.returncode == 1
    assert lines[2].startswith("  ✓ token: a new one, valid until ")
    assert lines[3] == "  ✗ list_groups top=1: base_url answered 404 Not Found"
    assert lines[4] == (
        f"  → check base_url: the service has no {emu.base_url}s/groups (404 Not Found); the "
        "pack's default is https://api.powerbi.com/v1.0/myorg"
    )


def test_a_token_endpoint_that_never_answers_is_shown_while_waiting(tmp_path, emu, silent_port):
    conn = write_connection(
        tmp_path / "c.json", emu, token_url=f"http://127.0.0.1:{silent_port}/token"
    )
    done, lines = check(conn, tmp_path, "--timeout", "3")
    assert done.returncode == 1
    assert lines[2] == f"  ✗ token: no answer from 127.0.0.1:{silent_port} (token_url) in 3 s"
    assert lines[3].startswith(f"  → check token_url (127.0.0.1:{silent_port} takes the")
    assert "base_url" not in done.stdout  # not blamed on the service's address
    assert lines[-1] == "the connection does not work (timeout)"
    assert (
        f"connectorkit: … waiting for the token endpoint at 127.0.0.1:{silent_port}: 1 s\n"
        in done.stderr
    )
    assert emu.requests(kind="api") == []


def test_on_a_terminal_the_wait_is_one_line_updated_in_place(tmp_path, emu, silent_port):
    conn = write_connection(
        tmp_path / "c.json", emu, token_url=f"http://127.0.0.1:{silent_port}/token"
    )
    child = pexpect.spawn(
        COMMAND,
        ["check", "-c", str(conn), "--timeout", "3"],
        cwd=str(tmp_path),
        env={**ENV, "TERM": "xterm"},
        dimensions=(40, 200),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(r"… waiting for the token endpoint at 127\.0\.0\.1:\d+: 2 s")
    shown = child.read()
    child.close()
    assert child.exitstatus == 1
    assert "  ✗ token: no answer from" in ANSI.sub("", shown)
