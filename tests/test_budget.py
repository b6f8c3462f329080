"""The bounds of a call: the whole-call time budget, the longest wait, the largest response.

Against a real HTTP server on a free port (``faultserver``): a body that drips one byte every
50 ms passes every per-read timeout, so only a budget over the whole call can stop it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from conftest import FakeClock, assert_envelope, sp_connection, user_connection
from connectorkit.call._run import Runner
from connectorkit.core import _errors
from connectorkit.core._template import render_path
from connectorkit.http._bounds import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_TIMEOUT_S,
    Budget,
    CallBounds,
    Watchdog,
)
from connectorkit.http._retry import MAX_BACKOFF_S, RetryPolicy
from connectorkit.protocol._protocol import respond
from faultserver import FaultServer


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def connection_to(server: FaultServer) -> dict:
    connection = user_connection()
    connection["values"]["base_url"] = server.base_url
    return connection


def run(pack, request: dict, runner: Runner | None = None) -> dict:
    own = runner is None
    runner = runner or Runner()
    try:
        response, _ = respond(pack, runner, json.dumps(request))
    finally:
        if own:
            runner.close()
    assert_envelope(response)
    return response


# -- the whole-call time budget --------------------------------------------------------------


@pytest.mark.slow
def test_a_dripping_body_does_not_outlive_the_calls_timeout(pack, server):
    server.plan = ["drip:1000"]  # 50 s of body at one byte per 50 ms
    started = time.monotonic()
    response = run(
        pack,
        {"action": "list_groups", "inputs": {"timeout": 1000}, "connection": connection_to(server)},
    )
    elapsed = time.monotonic() - started
    assert response["error"]["type"] == "timeout", response
    assert response["error"]["timeout_ms"] == 1000
    assert elapsed < 20  # the body alone would take 50 s


@pytest.mark.slow
def test_a_dripping_token_answer_is_bounded_by_the_same_budget(pack, server):
    """The call's one budget travels on the auth flow's own requests too: a token endpoint
    whose answer never ends is cut at the call's timeout, and so is a too large one."""
    server.plan = ["drip:1000"]
    connection = sp_connection(token_url=f"{server.base_url}/token", base_url=server.base_url)
    started = time.monotonic()
    request = {"action": "list_groups", "inputs": {"timeout": 1000}, "connection": connection}
    response = run(pack, request)
    assert response["error"]["type"] == "timeout", response
    assert response["error"]["timeout_ms"] == 1000
    assert time.monotonic() - started < 20  # the token answer alone would take 50 s
    server.plan = ["length:5000"]
    request["inputs"] = {"max_response_bytes": 1000}
    response = run(pack, request)
    assert response["error"]["max_response_bytes"] == 1000, response


def test_without_a_timeout_the_process_default_budget_bounds_the_call(pack, server, monkeypatch):
    monkeypatch.setenv("CONNECTORKIT_TIMEOUT_MS", "800")
    server.plan = ["drip:1000"]
    started = time.monotonic()
    response = run(pack, {"action": "list_groups", "connection": connection_to(server)})
    assert response["error"]["type"] == "timeout", response
    assert response["error"]["timeout_ms"] == 800
    assert time.monotonic() - started < 20  # the body alone would take 50 s


def test_the_watchdog_cuts_an_earlier_deadline_armed_after_a_later_one():
    watchdog = Watchdog()
    late, late_peer = socket.socketpair()
    early, early_peer = socket.socketpair()
    try:
        late_ticket = watchdog.arm(time.monotonic() + 3600, late)
        early_ticket = watchdog.arm(time.monotonic() + 0.2, early)
        early.settimeout(30)
        assert early.recv(1) == b""  # shut down at its deadline: the blocked read ends
        assert watchdog.disarm(early_ticket) is True  # the watchdog says it cut it
        late_peer.sendall(b"x")
        assert late.recv(1) == b"x"  # the later deadline is untouched
        assert watchdog.disarm(late_ticket) is False
    finally:
        for sock in (late, late_peer, early, early_peer):
            sock.close()


def test_the_watchdog_forgets_deadlines_disarmed_before_they_came():
    # One request after another, each disarmed when its body is read: nothing piles up.
    watchdog = Watchdog()
    sock, peer = socket.socketpair()
    try:
        for _ in range(1000):
            watchdog.disarm(watchdog.arm(time.monotonic() + 300, sock))
        assert len(watchdog._heap) <= 1
    finally:
        sock.close()
        peer.close()


def test_the_documented_defaults():
    bounds = CallBounds.from_environment({})
    assert (
        (bounds.timeout_s, bounds.max_retry_wait_s, bounds.max_response_bytes)
        == (
            DEFAULT_TIMEOUT_S,
            DEFAULT_MAX_RETRY_WAIT_S,
            DEFAULT_MAX_RESPONSE_BYTES,
        )
        == (300.0, 60.0, 64 * 1024 * 1024)
    )
    bad = CallBounds.from_environment({"CONNECTORKIT_TIMEOUT_MS": "soon"})
    assert bad.timeout_s == DEFAULT_TIMEOUT_S


def test_a_wait_equal_to_the_time_left_is_not_started(pack, server):
    server.plan = ["429:2"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"timeout": 2000, "max_retry_count": 3},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == []
    assert response["error"]["type"] == "timeout"
    assert response["error"]["retry_after"] == 2


# -- the longest single wait -------------------------------------------------------------------


def test_a_retry_after_of_a_day_is_not_slept_but_rate_limited(pack, server):
    server.plan = ["429:86400"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"max_retry_count": 5},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == []
    assert response["error"]["type"] == "rate_limited"
    assert response["error"]["retry_after"] == 86400
    assert len(server.seen) == 1


@pytest.mark.parametrize(("max_wait_ms", "waits", "ok"), [(2000, [], False), (5000, [3.0], True)])
def test_max_retry_wait_ms_per_call(pack, server, max_wait_ms, waits, ok):
    server.plan = ["429:3"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"max_retry_count": 2, "max_retry_wait_ms": max_wait_ms},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == waits
    assert response["ok"] is ok, response
    if not ok:
        assert response["error"]["type"] == "rate_limited"
        assert response["error"]["retry_after"] == 3


def test_max_retry_wait_per_process(pack, server, monkeypatch):
    monkeypatch.setenv("CONNECTORKIT_MAX_RETRY_WAIT_MS", "1000")
    server.plan = ["429:3"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"max_retry_count": 2},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == []
    assert response["error"]["type"] == "rate_limited"


# -- the largest response ------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["big:3000000", "length:3000000"])
def test_a_response_past_max_response_bytes_is_a_clear_error(pack, server, step):
    server.plan = [step]
    request = {
        "action": "list_groups",
        "inputs": {"max_response_bytes": 1_000_000},
        "connection": connection_to(server),
    }
    response = run(pack, request)
    error = response["error"]
    assert error["type"] == "http_error", response
    assert error["code"] == "response_too_large"
    assert error["max_response_bytes"] == 1_000_000
    assert "max_response_bytes" in error["message"]


def test_max_response_bytes_per_process(pack, server, monkeypatch):
    monkeypatch.setenv("CONNECTORKIT_MAX_RESPONSE_BYTES", "100000")
    server.plan = ["big:300000"]
    response = run(pack, {"action": "list_groups", "connection": connection_to(server)})
    assert response["error"]["code"] == "response_too_large"


def test_a_response_within_the_limit_is_read_whole(pack, server):
    server.plan = ["big:300000"]
    request = {
        "action": "list_groups",
        "inputs": {"max_response_bytes": 300000},
        "connection": connection_to(server),
    }
    response = run(pack, request)
    assert response["ok"] is True, response
    assert len(response["result"]) == 300000 - 2


# -- behaviours no test pinned before ------------------------------------------------------------


def test_delete_is_idempotent_and_retried_after_a_5xx(pack, server):
    server.plan = ["500", "ok"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "delete_rows",
        "inputs": {
            "dataset_id": "cfafbeb1-8037-4d0c-896e-a46fb27ff229",
            "table_name": "Sales",
            "max_retry_count": 1,
        },
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert response["ok"] is True, response
    assert [method for method, _ in server.seen] == ["DELETE", "DELETE"]
    assert response["meta"]["retries"] == 1


def test_a_post_is_not_retried_after_a_5xx(pack, server):
    server.plan = ["500_after_commit"]
    request = {
        "action": "create_rows",
        "inputs": {
            "dataset_id": "cfafbeb1-8037-4d0c-896e-a46fb27ff229",
            "table_name": "Sales",
            "rows": [{"a": 1}],
            "columns": [{"name": "a", "dataType": "Int64"}],
            "max_retry_count": 3,
        },
        "connection": connection_to(server),
    }
    response = run(pack, request)
    assert response["ok"] is False
    assert len(server.seen) == 1


def test_the_backoff_ceiling():
    policy = RetryPolicy(
        max_retries=10, delay_s=20.0, exponential=True, jitter=lambda low, high: high
    )
    assert [policy.delay(n) for n in (1, 2, 3, 4, 10)] == [20.0, 40.0, MAX_BACKOFF_S] + [
        MAX_BACKOFF_S
    ] * 2
    low = RetryPolicy(max_retries=10, delay_s=20.0, exponential=True, jitter=lambda low, _: low)
    assert low.delay(10) == MAX_BACKOFF_S / 2


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"g": "G", "d": "D"}, "/groups/G/datasets/D/tables"),
        ({"d": "D"}, "/datasets/D/tables"),
        ({"g": "G"}, "/groups/G/tables"),
        ({}, "/tables"),
    ],
)
def test_an_optional_path_part_appears_only_when_all_its_placeholders_have_values(values, path):
    assert render_path("[/groups/{g}][/datasets/{d}]/tables", values) == path
    assert render_path("[/groups/{g}/datasets/{d}]/tables", values) == (
        "/groups/G/datasets/D/tables" if len(values) == 2 else "/tables"
    )


@pytest.mark.slow
def test_httpx_timeouts_alone_would_not_stop_the_drip(server):
    """The premise of the budget: per-read timeouts of 0.5 s never fire on a dripping body."""
    server.plan = ["drip:30"]
    started = time.monotonic()
    with httpx.Client(timeout=0.5) as client:
        response = client.get(server.base_url + "/groups")
    assert response.status_code == 200
    assert time.monotonic() - started > 1.2


def test_the_watchdog_never_cuts_a_socket_before_its_deadline():
    watchdog = Watchdog()
    sock, peer = socket.socketpair()
    try:
        deadline = time.monotonic() + 0.3
        ticket = watchdog.arm(deadline, sock)
        sock.settimeout(30)
        assert sock.recv(1) == b""  # the blocked read ends when the watchdog cuts the socket...
        assert time.monotonic() >= deadline  # ...which is never before its deadline
        assert watchdog.disarm(ticket) is True
    finally:
        sock.close()
        peer.close()


def test_a_budget_spent_while_the_body_arrives_says_the_request_was_sent(pack, server):
    server.plan = ["drip:1000"]
    response = run(
        pack,
        {"action": "list_groups", "inputs": {"timeout": 500}, "connection": connection_to(server)},
    )
    assert response["error"]["type"] == "timeout", response
    assert response["error"]["request_sent"] is True
    assert response["error"]["timeout_ms"] == 500


def test_a_timeout_of_0_from_a_pack_that_allows_it_means_the_default_budget():
    defaults = CallBounds(timeout_s=120.0)
    assert defaults.for_call(timeout_ms=0).timeout_s == 120.0
    assert defaults.for_call(timeout_ms=1500).timeout_s == 1.5
    assert defaults.for_call(max_retry_wait_ms=0).max_retry_wait_s == 0


def test_a_max_retry_wait_of_0_waits_for_nothing(pack, server):
    server.plan = ["429:1"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"max_retry_count": 2, "max_retry_wait_ms": 0},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == []
    assert response["error"]["type"] == "rate_limited"
    assert len(server.seen) == 1


@pytest.mark.parametrize("kind", ["big", "length"])  # chunked, or with a Content-Length
def test_the_process_max_response_bytes_is_a_count_of_bytes(pack, server, monkeypatch, kind):
    monkeypatch.setenv("CONNECTORKIT_MAX_RESPONSE_BYTES", "300000")
    server.plan = [f"{kind}:300000", f"{kind}:300001"]
    connection = connection_to(server)
    response = run(pack, {"action": "list_groups", "connection": connection})
    assert response["ok"] is True, response  # exactly at the limit: read whole
    response = run(pack, {"action": "list_groups", "connection": connection})
    assert response["error"]["code"] == "response_too_large"
    assert response["error"]["max_response_bytes"] == 300000
    assert response["error"]["status"] == 200


def test_the_process_retry_wait_is_in_milliseconds(pack, server, monkeypatch):
    monkeypatch.setenv("CONNECTORKIT_MAX_RETRY_WAIT_MS", "3000")
    server.plan = ["429:3"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"max_retry_count": 1},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == [3.0], response  # a wait of exactly the most allowed is taken


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "", "ten"])
def test_a_process_bound_that_is_not_a_whole_number_of_1_or_more_is_ignored(value):
    bounds = CallBounds.from_environment(
        {
            "CONNECTORKIT_TIMEOUT_MS": value,
            "CONNECTORKIT_MAX_RETRY_WAIT_MS": value,
            "CONNECTORKIT_MAX_RESPONSE_BYTES": value,
        }
    )
    assert bounds == CallBounds()
    assert CallBounds.from_environment({"CONNECTORKIT_TIMEOUT_MS": "1"}).timeout_s == 0.001


@pytest.mark.slow
def test_a_body_that_stalls_past_the_deadline_is_cut_by_the_watchdog(pack, server):
    # Bytes at 1.5 s restart httpx's read timeout, which would then wait until 3.5 s; the
    # watchdog shuts the socket down at the 2 s deadline, so the call ends as its budget says.
    server.plan = ["stall_body:1.5,20"]
    response = run(
        pack,
        {"action": "list_groups", "inputs": {"timeout": 2000}, "connection": connection_to(server)},
    )
    assert response["error"]["type"] == "timeout", response
    assert "while the response was arriving" in response["error"]["message"]
    assert response["error"]["timeout_ms"] == 2000


def test_a_deadline_armed_after_the_watchdog_went_idle_is_kept():
    watchdog = Watchdog()
    first, first_peer = socket.socketpair()
    second, second_peer = socket.socketpair()
    try:
        first.settimeout(30)
        watchdog.arm(time.monotonic() + 0.05, first)
        assert first.recv(1) == b""  # cut: the watchdog has nothing left to watch
        ticket = watchdog.arm(time.monotonic() + 0.3, second)
        second.settimeout(30)
        assert second.recv(1) == b""
        assert watchdog.disarm(ticket) is True
    finally:
        for sock in (first, first_peer, second, second_peer):
            sock.close()


def test_an_earlier_deadline_is_kept_after_one_before_it_was_cut():
    # Waiting for a late deadline, the watchdog cuts an early one, then a third one (between
    # the two) is armed: it must be cut at its own time, not at the late one's.
    watchdog = Watchdog()
    late, late_peer = socket.socketpair()
    early, early_peer = socket.socketpair()
    middle, middle_peer = socket.socketpair()
    try:
        watchdog.arm(time.monotonic() + 3600, late)
        early.settimeout(30)
        watchdog.arm(time.monotonic() + 0.05, early)
        assert early.recv(1) == b""
        ticket = watchdog.arm(time.monotonic() + 0.3, middle)
        middle.settimeout(30)
        assert middle.recv(1) == b""
        assert watchdog.disarm(ticket) is True
    finally:
        for sock in (late, late_peer, early, early_peer, middle, middle_peer):
            sock.close()


def test_a_retry_after_of_exactly_the_calls_max_retry_wait_is_waited(pack, server):
    server.plan = ["429:3"]
    clock = FakeClock()
    runner = Runner(sleep=clock.sleep, clock=clock)
    request = {
        "action": "list_groups",
        "inputs": {"max_retry_count": 1, "max_retry_wait_ms": 3000},
        "connection": connection_to(server),
    }
    try:
        response = run(pack, request, runner)
    finally:
        runner.close()
    assert clock.sleeps == [3.0], response
    assert response["ok"] is True


def test_a_budget_spent_to_exactly_zero_is_the_contracts_timeout():
    clock = FakeClock()
    budget = Budget(1.5, clock=clock)
    clock.now += 1.25
    assert budget.remaining() == 0.25
    clock.now += 0.25  # exactly the whole budget: none is left
    with pytest.raises(_errors.TimeoutError) as caught:
        budget.remaining()
    assert caught.value.to_dict()["timeout_ms"] == 1500
    assert "1500 ms" in caught.value.message
    assert Budget(None, clock=clock).remaining() is None


def test_a_program_that_armed_the_watchdog_still_exits_when_it_is_done():
    # The runtime used as a library: its watchdog thread must not keep the program alive.
    program = (
        "import socket, time\n"
        "from connectorkit.http._bounds import Watchdog\n"
        "sock, peer = socket.socketpair()\n"
        "Watchdog().arm(time.monotonic() + 3600, sock)\n"
        "print('armed')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout) == (0, "armed\n"), done.stderr


def test_a_connection_that_breaks_mid_body_is_a_network_error_not_a_timeout(pack, server):
    server.plan = ["cut_body"]
    response = run(
        pack,
        {
            "action": "list_groups",
            "inputs": {"timeout": 60000},
            "connection": connection_to(server),
        },
    )
    assert response["error"]["type"] == "network_error", response
    assert response["error"]["request_sent"] is True


@pytest.mark.slow
def test_one_runner_keeps_answering_after_more_calls_than_its_pool_has_connections(pack, server):
    # serve: every response, read within its bounds, gives its connection back to the pool (of
    # 100): the 101st call would otherwise wait for one until its time budget ran out.
    runner = Runner()
    request = {
        "action": "list_groups",
        "inputs": {"timeout": 3000},
        "connection": connection_to(server),
    }
    try:
        for number in range(1, 111):
            response = run(pack, request, runner)
            assert response["ok"] is True, (number, response)
    finally:
        runner.close()


def test_a_content_length_past_the_limit_is_refused_before_any_body_arrives(pack, server):
    # The body would take long to come (it stalls): the declared length alone refuses it.
    server.plan = ["stall_body:1.5,20"]  # declares 1000 bytes
    response = run(
        pack,
        {
            "action": "list_groups",
            "inputs": {"timeout": 10000, "max_response_bytes": 500},
            "connection": connection_to(server),
        },
    )
    assert response["error"]["code"] == "response_too_large", response
    assert response["error"]["max_response_bytes"] == 500


def test_a_file_saved_to_disk_may_pass_max_response_bytes_a_body_held_in_memory_may_not(
    clock, httpx_mock, monkeypatch, tmp_path
):
    from jobs_helpers import BASE, Jobs  # noqa: PLC0415 - it imports conftest

    monkeypatch.setenv("CONNECTORKIT_MAX_RESPONSE_BYTES", "1000")
    jobs = Jobs(clock)
    body = bytes(range(256)) * 16  # 4096 bytes, past the limit
    httpx_mock.add_response(url=f"{BASE}/files/big.bin", content=body)
    response, code = jobs("download_file", {"name": "big.bin", "save_to": str(tmp_path)})
    assert code == 0, response
    assert response["result"]["saved_to"] == str(tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == body  # written whole
    # The same size as an answer the call reads into its result: refused.
    httpx_mock.add_response(url=f"{BASE}/things", json={"things": ["x" * 4096]})
    response, _ = jobs("list_things")
    assert response["error"]["code"] == "response_too_large", response
    assert response["error"]["max_response_bytes"] == 1000
