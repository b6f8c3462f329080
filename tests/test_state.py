"""The state store: every backend behaves the same, across threads and real processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from connectorkit.state import (
    KEY_ENV,
    JobLedger,
    Records,
    StateError,
    StoredConnections,
    StoreTokens,
    Window,
    lineage_of,
    new_key,
    open_state,
)
from connectorkit.state._memory import MemoryStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def state(request, tmp_path, monkeypatch):
    if request.param == "redis":
        monkeypatch.setenv(KEY_ENV, new_key())
        url = request.getfixturevalue("redis_url")
        opened = open_state(url)
        opened.store._redis.flushdb()
    elif request.param == "sqlite":
        monkeypatch.delenv(KEY_ENV, raising=False)
        opened = open_state(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    else:
        opened = open_state("memory://")
    yield opened
    opened.close()


def test_values_and_compare_and_set(state):
    store = state.store
    assert store.get("ck:{a}:x") is None
    assert store.compare_and_set("ck:{a}:x", None, b"1")
    assert not store.compare_and_set("ck:{a}:x", None, b"2")
    assert not store.compare_and_set("ck:{a}:x", b"0", b"2")
    assert store.compare_and_set("ck:{a}:x", b"1", b"2")
    assert store.get("ck:{a}:x") == b"2"
    store.put("ck:{a}:x", b"3")
    assert store.get("ck:{a}:x") == b"3"
    assert store.delete("ck:{a}:x")
    assert not store.delete("ck:{a}:x")


def test_a_lease_is_exclusive_until_released_or_expired(state):
    store = state.store
    assert store.acquire_lease("ck:{l}:lease", "one", 0.3)
    assert not store.acquire_lease("ck:{l}:lease", "two", 0.3)
    store.release_lease("ck:{l}:lease", "two")  # not the holder: nothing happens
    assert not store.acquire_lease("ck:{l}:lease", "two", 0.3)
    store.release_lease("ck:{l}:lease", "one")
    assert store.acquire_lease("ck:{l}:lease", "two", 0.3)
    time.sleep(0.35)
    assert store.acquire_lease("ck:{l}:lease", "three", 5)


def test_hashes(state):
    store = state.store
    store.hash_set("ck:{h}", "a", b"1")
    store.hash_set("ck:{h}", "b", b"2")
    assert store.hash_get("ck:{h}", "a") == b"1"
    assert store.hash_all("ck:{h}") == {"a": b"1", "b": b"2"}
    assert store.hash_delete("ck:{h}", "a")
    assert not store.hash_delete("ck:{h}", "a")
    assert store.hash_all("ck:{h}") == {"b": b"2"}


@pytest.mark.slow
def test_a_window_admits_its_limit_then_says_how_long_to_wait(state):
    store = state.store
    per_second = Window("ck:{res:d1}:w0", limit=3, seconds=1.0)
    assert [store.take((per_second,)) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take((per_second,))
    assert 0.5 < wait <= 1.0
    time.sleep(wait + 0.02)
    assert store.take((per_second,)) == 0.0


def test_windows_are_taken_together_or_not_at_all(state):
    store = state.store
    requests = Window("ck:{res:d2}:requests", limit=10, seconds=60)
    rows = Window("ck:{res:d2}:rows", limit=100, seconds=60, units=60)
    assert store.take((requests, rows)) == 0.0
    assert store.take((requests, rows)) > 50  # the rows window is full: nothing was charged
    small = Window("ck:{res:d2}:rows", limit=100, seconds=60, units=40)
    assert store.take((requests, small)) == 0.0
    # requests were charged twice (the refused take charged nothing)
    assert [store.take((requests,)) for _ in range(8)] == [0.0] * 8
    assert store.take((requests,)) > 0


def test_a_take_larger_than_the_limit_waits_a_whole_window(state):
    huge = Window("ck:{res:d3}:rows", limit=10, seconds=30, units=11)
    assert state.store.take((huge,)) == 30


def test_holds_limit_how_many_are_in_flight(state):
    store = state.store
    ok = [
        store.take((), holds="ck:{res:d4}:pending", holder=f"h{i}", capacity=2, hold_ttl_s=5)
        for i in range(3)
    ]
    assert ok[:2] == [0.0, 0.0]
    assert ok[2] > 0
    store.release_hold("ck:{res:d4}:pending", "h0")
    assert store.take((), holds="ck:{res:d4}:pending", holder="h2", capacity=2, hold_ttl_s=5) == 0


def test_a_hold_of_a_dead_holder_expires(state):
    store = state.store
    assert store.take((), holds="ck:{res:d5}:p", holder="dead", capacity=1, hold_ttl_s=0.2) == 0
    assert store.take((), holds="ck:{res:d5}:p", holder="next", capacity=1, hold_ttl_s=5) > 0
    time.sleep(0.25)
    assert store.take((), holds="ck:{res:d5}:p", holder="next", capacity=1, hold_ttl_s=5) == 0


def test_a_full_hold_charges_no_window(state):
    store = state.store
    window = Window("ck:{res:d6}:w", limit=1, seconds=60)
    assert store.take((), holds="ck:{res:d6}:p", holder="a", capacity=1, hold_ttl_s=5) == 0
    assert store.take((window,), holds="ck:{res:d6}:p", holder="b", capacity=1, hold_ttl_s=5) > 0
    store.release_hold("ck:{res:d6}:p", "a")
    assert store.take((window,), holds="ck:{res:d6}:p", holder="b", capacity=1, hold_ttl_s=5) == 0


def test_job_ledger(state):
    ledger = JobLedger(state)
    assert ledger.batches("job-1") == {}
    ledger.record("job-1", 2, "unknown", first=10, count=10)
    ledger.record("job-1", 1, "committed", first=0, count=10)
    ledger.record("job-1", 10, "not_sent", first=90, count=10)
    assert list(ledger.batches("job-1")) == [1, 2, 10]
    assert ledger.batches("job-1")[2] == {"status": "unknown", "first": 10, "count": 10}
    assert ledger.committed("job-1") == {1}
    ledger.record("job-1", 2, "committed")
    assert ledger.committed("job-1") == {1, 2}
    assert ledger.batches("job-2") == {}
    with pytest.raises(ValueError, match="batch status"):
        ledger.record("job-1", 3, "maybe")  # type: ignore[arg-type]
    ledger.forget("job-1")
    assert ledger.batches("job-1") == {}


def test_job_ledger_describes_lists_and_forgets_jobs(state):
    ledger = JobLedger(state)
    assert ledger.open("job-b", {"action": "push_rows", "created": 2}) is None
    assert ledger.open("job-a", {"action": "push_rows", "created": 1}) is None
    # A second start of the same job is refused, with what the first one said.
    assert ledger.open("job-b", {"action": "other", "created": 3}) == {
        "action": "push_rows",
        "created": 2,
    }
    ledger.record("job-b", 1, "committed", first=0, count=5)
    assert ledger.job_ids() == ["job-a", "job-b"]
    assert ledger.about("job-b") == {"action": "push_rows", "created": 2}
    assert ledger.forget("job-b")
    assert not ledger.forget("job-b")
    assert ledger.job_ids() == ["job-a"]
    assert ledger.about("job-b") is None
    assert ledger.batches("job-b") == {}


def test_records_of_one_kind_resume_anywhere_and_change_by_compare_and_set(state):
    """The keyed records under the job ledger, as a long-running operation would use them."""
    operations = Records(lambda: state.store, "op", entries="polls")
    handle = {"status": "running", "poll": "/operations/7", "created": 10}
    assert operations.create("op-7", handle) is None
    assert operations.get("op-7") == handle
    # Two workers resume it: the first to change it wins, the other must read it again.
    done = {**handle, "status": "succeeded"}
    assert operations.replace("op-7", handle, done)
    assert not operations.replace("op-7", handle, {**handle, "status": "failed"})
    assert operations.get("op-7") == done
    assert not operations.replace("op-8", handle, done)  # no such record
    operations.put_entry("op-7", "1", {"status": 202})
    operations.put_entry("op-7", "2", {"status": 200})
    assert operations.entries("op-7") == {"1": {"status": 202}, "2": {"status": 200}}
    assert operations.ids() == ["op-7"]
    # Another kind in the same store is another set of records.
    assert Records(lambda: state.store, "job").ids() == []
    assert operations.forget("op-7")
    assert operations.get("op-7") is None
    assert operations.entries("op-7") == {}
    assert operations.ids() == []


def test_stored_connections_round_trip(state):
    connections = StoredConnections(state)
    token = {"access_token": "at-1", "refresh_token": "rt-1", "expires_at": 2_000_000_000}
    connections.save("sales", "oauth2", {"client_id": "app", "client_secret": "sh"}, token)
    connections.save("ops", "client_credentials", {"client_id": "sp"}, None)
    assert connections.names() == ["ops", "sales"]
    loaded = connections.load("sales")
    assert loaded is not None
    assert (loaded.key, loaded.values["client_secret"], loaded.token) == ("oauth2", "sh", token)
    assert connections.load("ops").token is None
    assert connections.load("nobody") is None
    assert connections.remove("sales")
    assert not connections.remove("sales")
    assert connections.names() == ["ops"]
    with pytest.raises(ValueError, match="connection name"):
        connections.save("../etc", "oauth2", {}, None)


def test_a_token_lease_is_single_flight_across_threads(state):
    tokens = StoreTokens(state)
    inside, most, fetched = [0], [0], []
    guard = threading.Lock()

    def worker():
        with tokens.lease("lineage-1", wait=None) as held:
            assert held
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            if tokens.get("lineage-1") is None:  # read again under the lease
                fetched.append(1)
                time.sleep(0.05)
                tokens.put("lineage-1", {"access_token": "at-1"})
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == [1]
    assert fetched == [1]
    assert tokens.get("lineage-1") == {"access_token": "at-1"}


def test_a_lease_wait_that_runs_out_says_so(state):
    tokens = StoreTokens(state)
    with tokens.lease("lineage-2", wait=None) as held:
        assert held
        started = time.monotonic()
        with tokens.lease("lineage-2", wait=0.1) as other:
            assert other is False
        assert time.monotonic() - started < 1.0


def test_a_lease_of_a_dead_holder_lapses_after_its_ttl(state):
    store = state.store
    assert store.acquire_lease("ck:{tok:lineage-3}:lease", "dead-worker", 0.3)
    tokens = StoreTokens(state, lease_ttl_s=5)
    started = time.monotonic()
    with tokens.lease("lineage-3", wait=5) as held:
        assert held
    assert 0.2 < time.monotonic() - started < 2.0


def test_secrets_are_sealed_at_rest_and_files_are_private(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "deep" / "state.sqlite3"
    state = open_state(f"sqlite:///{path}")
    StoredConnections(state).save(
        "c",
        "oauth2",
        {"client_secret": "CLIENT-SECRET-VALUE"},
        {"access_token": "ACCESS-TOKEN-VALUE", "refresh_token": "REFRESH-TOKEN-VALUE"},
    )
    state.close()
    key_file = path.with_name("state.sqlite3.key")
    for file in (path, key_file):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    on_disk = b"".join(p.read_bytes() for p in path.parent.iterdir() if p != key_file)
    for secret in (b"CLIENT-SECRET-VALUE", b"ACCESS-TOKEN-VALUE", b"REFRESH-TOKEN-VALUE"):
        assert secret not in on_disk
    # the same key file is used next time: the connection opens again
    again = open_state(f"sqlite:///{path}")
    assert StoredConnections(again).load("c").values == {"client_secret": "CLIENT-SECRET-VALUE"}
    again.close()


def test_a_wrong_key_is_a_clear_error_and_rotation_keeps_old_secrets(tmp_path, monkeypatch):
    old, new = new_key(), new_key()
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    monkeypatch.setenv(KEY_ENV, old)
    StoredConnections(open_state(url)).save("c", "oauth2", {"client_secret": "x"}, None)
    monkeypatch.setenv(KEY_ENV, new)
    with pytest.raises(StateError, match="key changed"):
        StoredConnections(open_state(url)).load("c")
    monkeypatch.setenv(KEY_ENV, f"{new},{old}")
    rotated = StoredConnections(open_state(url))
    assert rotated.load("c").values == {"client_secret": "x"}
    assert rotated.reseal() == 1
    monkeypatch.setenv(KEY_ENV, new)  # the old key can go once everything is sealed again
    assert StoredConnections(open_state(url)).load("c").values == {"client_secret": "x"}


def test_a_redis_store_needs_the_key_from_the_environment(redis_url, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(StateError, match="CONNECTORKIT_STATE_KEY is not set"):
        open_state(redis_url)


def test_a_malformed_key_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(StateError, match="Fernet keys"):
        open_state("memory://").sealer.seal(b"x")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "unknown state URL 'ftp://x'"),
        ("sqlite://relative.db", "sqlite:///PATH"),
        ("mysql://user:pw@host/db", "unknown state URL 'host/db'"),
    ],
)
def test_bad_state_urls_are_refused_by_name(url, message):
    with pytest.raises(StateError, match=message) as caught:
        open_state(url)
    assert "pw" not in str(caught.value)


def test_redis_password_from_the_environment(redis_url, monkeypatch):
    monkeypatch.setenv(KEY_ENV, new_key())
    monkeypatch.setenv("CONNECTORKIT_REDIS_PASSWORD", "redis-test-pw")
    bare = redis_url.replace(":redis-test-pw@", "")
    state = open_state(bare)
    state.store.put("ck:{p}:x", b"1")
    assert state.store.get("ck:{p}:x") == b"1"
    state.close()


def test_an_unreachable_redis_is_a_network_error_without_the_password(monkeypatch):
    from connectorkit.core._errors import NetworkError  # noqa: PLC0415

    monkeypatch.setenv(KEY_ENV, new_key())
    state = open_state("redis://:hunter2@127.0.0.1:1/0")
    with pytest.raises(NetworkError, match=r"state store \(redis://127.0.0.1:1\)") as caught:
        state.store.get("ck:{x}:y")
    assert "hunter2" not in str(caught.value)


def test_the_default_store_is_in_the_user_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CONNECTORKIT_STATE", raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    state = open_state()
    assert state.store.url == f"sqlite:///{tmp_path / 'xdg' / 'connectorkit' / 'state.sqlite3'}"
    state.close()


_TAKER = """
import sys, time
from connectorkit.state import open_state, Window
state = open_state(sys.argv[1])
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
taken = 0
for _ in range(5):
    if state.store.take((Window("ck:{res:shared}:w", limit=37, seconds=60),)) == 0:
        taken += 1
print(taken)
"""


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_real_processes_share_one_budget(backend, tmp_path, request, monkeypatch):
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        monkeypatch.setenv(KEY_ENV, new_key())
        open_state(url).store.delete("ck:{res:shared}:w")
    else:
        url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    start = time.time() + 1.5
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, url, str(start)],
            stdout=subprocess.PIPE,
            env=os.environ.copy(),
        )
        for _ in range(12)
    ]
    taken = [int(w.communicate(timeout=60)[0]) for w in workers]
    assert sum(taken) == 37  # 60 tries, exactly the limit admitted
    assert all(w.returncode == 0 for w in workers)


def test_memory_store_clock_is_replaceable():
    now = [100.0]
    store = MemoryStore(clock=lambda: now[0])
    window = Window("ck:{res:m}:w", limit=1, seconds=10)
    assert store.take((window,)) == 0
    assert store.take((window,)) == 10
    now[0] += 10.5
    assert store.take((window,)) == 0


def test_token_records_hold_no_secret_in_clear(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    state = open_state(f"sqlite:///{tmp_path / 't.sqlite3'}")
    tokens = StoreTokens(state)
    key = lineage_of("client", "RT-SECRET")
    tokens.put(key, {"access_token": "AT-SECRET", "refresh_token": "RT-SECRET-2"})
    assert tokens.get(key) == {"access_token": "AT-SECRET", "refresh_token": "RT-SECRET-2"}
    state.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith(".key"))
    assert b"SECRET" not in raw
