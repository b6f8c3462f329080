"""Workers sharing state, end to end: real `connectorkit` processes, a real SQLite file shared
between them, a real redis-server, and the emulator with rotating refresh tokens.

Each case makes exactly one refresh per expiry, and no request fails. (bench/shared_state.py
runs the same cases at full size and prints the figures.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from connectorkit.state import KEY_ENV, new_key
from fleet import COMMAND, Emulator, Gate, env, invoke_many, request, serve_waves

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")


@pytest.fixture
def emulator():
    running = Emulator()
    yield running
    running.close()


def refreshes(emulator):
    grants = emulator.token_requests()
    assert all(status == 200 for _, status in grants), grants  # no invalid_grant: no reuse
    return sum(1 for grant, _ in grants if grant == "refresh_token")


def assert_all_ok(results):
    failed = [r for code, r in results if code != 0 or not r["ok"]]
    assert not failed, failed[:3]


def test_concurrent_invokes_on_one_sqlite_file_refresh_once_per_expiry(emulator, tmp_path):
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    expired = emulator.user_token(expired=True)
    text = request(emulator.connection(expired))
    first = invoke_many(20, text, state)
    assert_all_ok(first)
    assert refreshes(emulator) == 1
    # The platform stores nothing: the next wave still carries the first token; the new one
    # expires at the service meanwhile (a 401), so exactly one more refresh happens.
    emulator.expire_access_tokens()
    second = invoke_many(10, text, state)
    assert_all_ok(second)
    assert refreshes(emulator) == 2
    # The response's `token` keeps working for platforms that store tokens themselves.
    tokens = {json.dumps(r.get("token"), sort_keys=True) for _, r in second}
    assert all(r["token"]["refresh_token"] != expired["refresh_token"] for _, r in second)
    assert len(tokens) == 1


def test_serve_workers_on_one_sqlite_file_refresh_once_per_expiry(emulator, tmp_path):
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    responses = serve_waves(
        emulator,
        [state] * 4,
        emulator.user_token(expired=True),
        per_wave=50,
        waves=2,
        concurrency=50,
    )
    assert len(responses) == 400
    assert all(r["ok"] for r in responses), [r for r in responses if not r["ok"]][:3]
    assert refreshes(emulator) == 2


def test_two_machines_sharing_only_redis_refresh_once_per_expiry(emulator, tmp_path, redis_url):
    key = new_key()
    machines = [  # each "machine" has its own state folder (and so its own default SQLite file)
        {"XDG_STATE_HOME": str(tmp_path / "machine-a"), KEY_ENV: key},
        {"XDG_STATE_HOME": str(tmp_path / "machine-b"), KEY_ENV: key},
    ]
    token = emulator.user_token(expired=True)
    results = invoke_many(10, request(emulator.connection(token)), redis_url, machines)
    assert_all_ok(results)
    assert refreshes(emulator) == 1
    responses = serve_waves(
        emulator,
        [redis_url] * 4,
        token,
        per_wave=25,
        waves=2,
        concurrency=25,
        extra_env=machines,
    )
    assert all(r["ok"] for r in responses), [r for r in responses if not r["ok"]][:3]
    # The invokes' token is still good for serve's first wave; its second wave renews it once.
    assert refreshes(emulator) == 2


def test_a_worker_killed_holding_the_lease_blocks_the_others_no_longer_than_its_ttl(
    emulator, tmp_path
):
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    ttl = 2.0
    # The token endpoint is reached through a gate: the first worker's refresh hangs there,
    # unanswered and unprocessed, while it holds the lease; then it is killed.
    gate = Gate(urlsplit(emulator.urls["url"]).port)
    connection = emulator.connection(emulator.user_token(expired=True))
    token_url = urlsplit(emulator.urls["token_url"])
    connection["values"]["token_url"] = token_url._replace(netloc=f"127.0.0.1:{gate.port}").geturl()
    text = request(connection)
    lease_env = env(CONNECTORKIT_LEASE_TTL=str(ttl))
    holder = subprocess.Popen(
        [COMMAND, "invoke", "--quiet", "--state", state],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=lease_env,
    )
    assert holder.stdin is not None
    holder.stdin.write(text)
    holder.stdin.close()
    try:
        deadline = time.monotonic() + 60
        while not gate._held and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gate._held, "the first worker never reached the token endpoint"
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        holder.wait()
        holder.stdout.close()
        gate.open()
        waiter = subprocess.run(
            [COMMAND, "invoke", "--quiet", "--state", state],
            input=text,
            capture_output=True,
            text=True,
            env=lease_env,
            check=False,
        )
        waited = time.monotonic() - killed
    finally:
        gate.close()
    response = json.loads(waiter.stdout)
    assert response["ok"], response
    # The lease was taken before the kill, so it lapses at most one TTL after it: the call
    # itself (its start-up aside, seconds on a loaded machine) waits no longer than that.
    assert response["meta"]["duration_ms"] < (ttl + 2.0) * 1000
    assert waited < 60
    # The dead worker's refresh never arrived; the next worker's is the only one, and it worked.
    assert refreshes(emulator) == 1


def test_a_stored_connection_is_named_in_requests_and_renewed_in_the_store(emulator, tmp_path):
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    connection = emulator.connection(emulator.user_token(expired=True))
    added = subprocess.run(
        [COMMAND, "connections", "--state", state, "add", "sales"],
        input=json.dumps(connection),
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert added.returncode == 0, added.stderr
    text = json.dumps({"action": "list_groups", "connection": {"name": "sales"}})
    results = invoke_many(8, text, state)
    assert_all_ok(results)
    assert all("token" not in r for _, r in results)  # the store keeps it, stdout does not
    assert refreshes(emulator) == 1
    listed = subprocess.run(
        [COMMAND, "connections", "--state", state, "list", "--json"],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    (entry,) = json.loads(listed.stdout)["result"]
    assert entry["name"] == "sales"
    assert entry["expires_at"] > time.time()  # the renewed token, filed back in the store
    shown = subprocess.run(
        [COMMAND, "connections", "--state", state, "show", "sales", "--json"],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    assert json.loads(shown.stdout)["result"]["values"]["client_secret"] == "***"
    assert "demo-secret" not in shown.stdout + shown.stderr
    missing = subprocess.run(
        [COMMAND, "invoke", "--state", state],
        input=json.dumps({"action": "list_groups", "connection": {"name": "nobody"}}),
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert missing.returncode == 2
    error = json.loads(missing.stdout)["error"]
    assert error["type"] == "invalid_connection"
    assert error["details"] == [
        {"field": "connection.name", "message": "no such stored connection"}
    ]
    removed = subprocess.run(
        [COMMAND, "connections", "--state", state, "remove", "sales", "--json"],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    assert json.loads(removed.stdout) == {"ok": True, "result": {"removed": "sales"}}


def test_a_bad_state_url_is_a_clear_invalid_request(emulator):
    run = subprocess.run(
        [COMMAND, "invoke", "--state", "ftp://nowhere"],
        input=request(emulator.connection(emulator.user_token(expired=True))),
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert run.returncode == 2
    error = json.loads(run.stdout)["error"]
    assert error["type"] == "invalid_request"
    assert "unknown state URL 'ftp://nowhere'" in error["message"]


def test_redis_without_a_key_is_refused_with_the_variable_named(emulator, redis_url):
    run = subprocess.run(
        [COMMAND, "invoke", "--state", redis_url],
        input=request(emulator.connection(emulator.user_token(expired=True))),
        capture_output=True,
        text=True,
        env={**env(), KEY_ENV: ""},
        check=False,
    )
    assert run.returncode == 2
    error = json.loads(run.stdout)["error"]
    assert "CONNECTORKIT_STATE_KEY is not set" in error["message"]
    assert "redis-test-pw" not in run.stdout + run.stderr
