"""Token records have a lifetime: stale ones leave the store, live ones and stored connections stay.

Every backend is the real one (SQLite files, a real redis-server). Time is moved by the clock
SQLite and memory stores take, never slept through; Redis, whose clock is its own, is shown its
TTLs and, with a retention of a fraction of a second, dropping a key by itself.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time

import pytest

from conftest import FakeClock
from connectorkit.state import (
    KEY_ENV,
    Sealer,
    State,
    StateError,
    StoredConnections,
    StoreTokens,
    connection_lineage,
    lineage_of,
    new_key,
    open_state,
)
from connectorkit.state._memory import MemoryStore
from connectorkit.state._open import DEFAULT_RETENTION_S, RETENTION_ENV, parse_retention
from connectorkit.state._sqlite import SqliteStore
from connectorkit.state._tokens import EXPIRED_GRACE_S, record_ttl
from fleet import CLIENT_ID, CLIENT_SECRET, COMMAND, Emulator, env, invoke_many, request

DAY = 86400.0
NOW = 1_800_000_000.0


def _state(backend: str, tmp_path, clock: FakeClock) -> State:
    if backend == "memory":
        return State(MemoryStore(clock=clock), Sealer([new_key()], source="test"))
    path = tmp_path / "state.sqlite3"
    return State(SqliteStore(path, clock=clock), Sealer([new_key()], source="test"))


def _rows(path) -> dict[str, float | None]:
    """The kv rows of a SQLite state file, read by a connection of its own: key → expires."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, expires FROM kv").fetchall())


# -- the policy ------------------------------------------------------------------------------


def test_the_lifetime_of_a_record_follows_what_its_token_can_still_do():
    retention = 90 * DAY
    renewable = {"access_token": "a", "refresh_token": "r", "expires_at": NOW + 3600}
    assert record_ttl(lineage_of("x"), renewable, NOW, retention) == 3600 + retention
    assert record_ttl(lineage_of("x"), renewable, NOW + 7200, retention) == retention
    access_only = {"access_token": "a", "expires_at": NOW + 3600}
    assert record_ttl(lineage_of("x"), access_only, NOW, retention) == 3600 + EXPIRED_GRACE_S
    assert record_ttl(lineage_of("x"), access_only, NOW, 60.0) == 60.0  # never past retention
    assert record_ttl(lineage_of("x"), access_only, NOW + 9999, retention) == EXPIRED_GRACE_S
    assert record_ttl(lineage_of("x"), {"access_token": "a"}, NOW, retention) == retention
    assert record_ttl(connection_lineage("sales"), renewable, NOW, retention) is None
    far = {"access_token": "a", "refresh_token": "r", "expires_at": 1e300}  # a caller's number
    assert record_ttl(lineage_of("x"), far, NOW, 1e300) == 10 * 365 * DAY


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90d", 90 * DAY), ("36h", 36 * 3600.0), ("15m", 900.0), ("30s", 30.0), ("0.5", 0.5)],
)
def test_a_retention_is_a_duration(text, seconds):
    assert parse_retention(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1d", "soon", "d", "inf", "nan", "1w"])
def test_a_bad_retention_is_refused_by_name(text, monkeypatch):
    monkeypatch.setenv(RETENTION_ENV, text)
    with pytest.raises(StateError, match=f"{RETENTION_ENV} must be a positive duration"):
        open_state("memory://")


@pytest.mark.e2e
def test_invoke_refuses_a_bad_retention_as_the_callers_mistake(tmp_path):
    done = subprocess.run(
        [COMMAND, "invoke", "--state", f"sqlite:///{tmp_path / 's.sqlite3'}"],
        input=request({"name": "sales"}),
        capture_output=True,
        text=True,
        env=env(**{RETENTION_ENV: "soon"}),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == {
        "type": "invalid_request",
        "message": f"the state store: {RETENTION_ENV} must be a positive duration such as 90d, "
        "36h, 15m or 3600 (seconds), not 'soon'",
    }


def test_the_retention_is_the_stores_setting(monkeypatch):
    assert open_state("memory://").token_retention_s == DEFAULT_RETENTION_S == 90 * DAY
    monkeypatch.setenv(RETENTION_ENV, "7d")
    assert open_state("memory://").token_retention_s == 7 * DAY


# -- the primitive, per backend ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_value_with_a_lifetime_reads_as_absent_once_past_and_is_swept(backend, tmp_path):
    clock = FakeClock(NOW)
    store = _state(backend, tmp_path, clock).store
    store.put("ck:{t}:old", b"1", ttl_s=60)
    store.put("ck:{t}:live", b"2", ttl_s=3600)
    store.put("ck:{t}:kept", b"3")
    clock.now += 61
    assert store.get("ck:{t}:old") is None
    assert store.get("ck:{t}:live") == b"2"
    assert not store.delete("ck:{t}:old")  # gone already, as a Redis key would be
    assert store.compare_and_set("ck:{t}:old", None, b"4")  # absent: and now without a lifetime
    clock.now += 10 * DAY
    assert store.get("ck:{t}:old") == b"4"
    assert store.get("ck:{t}:live") is None
    assert store.get("ck:{t}:kept") == b"3"
    store.put("ck:{t}:live", b"5", ttl_s=1)
    store.put("ck:{t}:live", b"6")  # a write without a lifetime takes it away
    clock.now += 2
    assert store.get("ck:{t}:live") == b"6"
    if backend == "sqlite":
        path = tmp_path / "state.sqlite3"
        store.put("ck:{t}:gone", b"7", ttl_s=1)
        clock.now += 2
        assert "ck:{t}:gone" in _rows(path)  # expired, not yet swept
        assert store.sweep() == 1
        assert _rows(path) == {"ck:{t}:old": None, "ck:{t}:kept": None, "ck:{t}:live": None}


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_write_with_a_lifetime_sweeps_now_and_then(backend, tmp_path):
    clock = FakeClock(NOW)
    state = _state(backend, tmp_path, clock)
    store = state.store
    for number in range(50):
        store.put(f"ck:{{s}}:{number}", b"x", ttl_s=60)
    assert store.acquire_lease("ck:{s}:lease", "dead-worker", 30)
    clock.now += 3600
    store.put("ck:{s}:new", b"y", ttl_s=60)  # the first such write in ten minutes sweeps
    if backend == "sqlite":
        assert _rows(tmp_path / "state.sqlite3") == {"ck:{s}:new": clock.now + 60}
        with sqlite3.connect(tmp_path / "state.sqlite3") as db:
            assert db.execute("SELECT count(*) FROM lease").fetchone() == (0,)
    else:
        assert set(store._values) == {"ck:{s}:new"}
        assert store._leases == {}
    store.put("ck:{s}:soon", b"z", ttl_s=1)
    clock.now += 2
    store.put("ck:{s}:newer", b"w", ttl_s=60)  # within ten minutes of the last sweep: no sweep
    assert store.sweep() == 1  # "soon" was still there, waiting for a sweep (or a read)
    assert store.get("ck:{s}:soon") is None


def test_a_redis_value_gets_the_keys_own_ttl(redis_url, monkeypatch):
    monkeypatch.setenv(KEY_ENV, new_key())
    state = open_state(redis_url)
    redis = state.store._redis
    try:
        state.store.put("ck:{rt}:a", b"1", ttl_s=3600)
        assert 3_590_000 < redis.pttl("ck:{rt}:a") <= 3_600_000
        state.store.put("ck:{rt}:a", b"2")  # a write without a lifetime takes it away
        assert redis.pttl("ck:{rt}:a") == -1
        state.store.put("ck:{rt}:b", b"3", ttl_s=0.15)
        assert _gone(lambda: state.store.get("ck:{rt}:b") is None)
        assert redis.exists("ck:{rt}:b") == 0
        assert state.store.get("ck:{rt}:a") == b"2"
        assert state.store.sweep() == 0
        tokens = StoreTokens(state, retention_s=1e300)  # bounded: Redis takes the TTL
        tokens.put(lineage_of("far"), {"access_token": "a", "refresh_token": "r"})
        assert redis.pttl(f"ck:{{tok:{lineage_of('far')}}}:token") > 9 * 365 * DAY * 1000
        tokens.forget(lineage_of("far"))
    finally:
        redis.delete("ck:{rt}:a")
        state.close()


def _gone(check, within: float = 5.0) -> bool:
    """Whether ``check()`` comes true within ``within`` seconds (polled, not slept through)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- token records and stored connections ------------------------------------------------------


def _fill(tokens: StoreTokens, connections: StoredConnections, now: float) -> dict[str, str]:
    """A stored connection, a lineage pointer and a client-credentials record; their keys."""
    user = {"access_token": "A1", "refresh_token": "R1", "expires_at": now + 3600}
    connections.save("sales", "oauth2", {"client_id": "c"}, user)
    lineage = lineage_of("authorization_code", "client", "R0")
    tokens.put(lineage, {"access_token": "A2", "refresh_token": "R2", "expires_at": now + 3600})
    cached = lineage_of("client_credentials", "client")
    tokens.put(cached, {"access_token": "A3", "expires_at": now + 3600})
    return {"lineage": lineage, "cached": cached}


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_stale_token_records_go_and_a_stored_connections_token_stays(backend, tmp_path):
    clock = FakeClock(NOW)
    state = _state(backend, tmp_path, clock)
    tokens = StoreTokens(state, clock=clock)
    connections = StoredConnections(state)
    keys = _fill(tokens, connections, clock.now)
    clock.now += 3600 + EXPIRED_GRACE_S + 1  # the client-credentials token is past any use
    assert tokens.get(keys["cached"]) is None
    assert tokens.get(keys["lineage"])["access_token"] == "A2"
    clock.now += 90 * DAY  # the refresh token is past its lifetime too
    assert tokens.get(keys["lineage"]) is None
    state.store.sweep()
    clock.now += 1000 * DAY
    stored = connections.load("sales")
    assert stored is not None
    assert stored.token == {"access_token": "A1", "refresh_token": "R1", "expires_at": NOW + 3600}
    # A renewal written by the auth flow keeps the connection's lineage pinned.
    tokens.put(connection_lineage("sales"), {"access_token": "A9", "refresh_token": "R9"})
    clock.now += 1000 * DAY
    assert connections.load("sales").token["access_token"] == "A9"
    if backend == "sqlite":
        pinned = f"ck:{{tok:{connection_lineage('sales')}}}:token"
        assert _rows(tmp_path / "state.sqlite3") == {pinned: None}
    connections.remove("sales")
    assert tokens.get(connection_lineage("sales")) is None


def test_redis_token_records_carry_ttls_and_a_stored_lineage_none(redis_url, monkeypatch):
    monkeypatch.setenv(KEY_ENV, new_key())
    state = open_state(redis_url)
    redis = state.store._redis
    try:
        tokens = StoreTokens(state)
        connections = StoredConnections(state)
        keys = _fill(tokens, connections, time.time())
        pinned = f"ck:{{tok:{connection_lineage('sales')}}}:token"
        assert redis.pttl(pinned) == -1
        lineage_ttl = redis.pttl(f"ck:{{tok:{keys['lineage']}}}:token") / 1000
        assert 3590 + 90 * DAY < lineage_ttl <= 3600 + 90 * DAY
        cached_ttl = redis.pttl(f"ck:{{tok:{keys['cached']}}}:token") / 1000
        assert 3590 + EXPIRED_GRACE_S < cached_ttl <= 3600 + EXPIRED_GRACE_S
        # With a retention of a fraction of a second, Redis itself drops what is stale.
        brief = StoreTokens(state, retention_s=0.15)
        stale = lineage_of("authorization_code", "client", "R-stale")
        brief.put(stale, {"access_token": "A", "refresh_token": "R", "expires_at": 0})
        brief.put(connection_lineage("sales"), {"access_token": "A8", "refresh_token": "R8"})
        assert _gone(lambda: brief.get(stale) is None)
        assert connections.load("sales").token["access_token"] == "A8"
        assert redis.pttl(pinned) == -1
    finally:
        StoredConnections(state).remove("sales")
        for key in (keys["lineage"], keys["cached"]):
            tokens.forget(key)
        state.close()


def test_a_store_from_before_lifetimes_is_upgraded_in_place(tmp_path, monkeypatch):
    """A SQLite file of the earlier layout: the column is added, the stored token moves."""
    monkeypatch.setenv(KEY_ENV, new_key())
    path = tmp_path / "old.sqlite3"
    sealer = Sealer.for_store("sqlite", None)
    token = {"access_token": "OLD-A", "refresh_token": "OLD-R", "expires_at": 1}
    record = {"key": "oauth2", "values": {"client_id": "c"}, "saved_at": 1.0}
    old_lineage = lineage_of("stored-connection", "sales")
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE hash (key TEXT, field TEXT, value BLOB NOT NULL,"
            "  PRIMARY KEY (key, field)) WITHOUT ROWID;"
        )
        db.execute(
            "INSERT INTO kv VALUES (?, ?)",
            (
                f"ck:{{tok:{old_lineage}}}:token",
                sealer.seal(json.dumps({"token": token}).encode()),
            ),
        )
        db.execute(
            "INSERT INTO hash VALUES (?, ?, ?)",
            ("ck:{connections}", "sales", sealer.seal(json.dumps(record).encode())),
        )
    db.close()
    state = open_state(f"sqlite:///{path}")
    try:
        stored = StoredConnections(state).load("sales")
        assert stored is not None
        assert stored.token == token
        assert _rows(path) == {f"ck:{{tok:{connection_lineage('sales')}}}:token": None}
        again = StoredConnections(state).load("sales")  # upgraded once: now as any other
        assert again is not None
        assert again.token == token
    finally:
        state.close()


# -- real processes sharing one SQLite file ---------------------------------------------------


@pytest.fixture
def emulator():
    running = Emulator()
    yield running
    running.close()


def test_records_written_by_real_processes_expire_and_a_stored_lineage_stays(
    emulator, tmp_path, monkeypatch
):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "state.sqlite3"
    url = f"sqlite:///{path}"
    workers = [{RETENTION_ENV: "30d"}]
    user = emulator.connection(emulator.user_token(expired=True))
    app = {
        "key": "client_credentials",
        "values": {
            "tenant_id": "emulator",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": emulator.urls["token_url"],
            "base_url": emulator.urls["base_url"],
        },
    }
    stored = {**emulator.connection(emulator.user_token(expired=True))}
    added = subprocess.run(
        [COMMAND, "connections", "--state", url, "add", "sales"],
        input=json.dumps(stored),
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    # A token's expires_at is whole seconds, rounded down: up to a second before started + life.
    started = time.time() - 1
    for text in (request(user), request(app), request({"name": "sales"})):
        results = invoke_many(2, text, url, workers)
        assert all(code == 0 and answer["ok"] for code, answer in results), results
    rows = {k: v for k, v in _rows(path).items() if k.startswith("ck:{tok:")}
    pinned = f"ck:{{tok:{connection_lineage('sales')}}}:token"
    assert rows.pop(pinned) is None  # renewed by a worker, and still pinned
    ends = sorted(v for v in rows.values() if v is not None)
    assert len(ends) == len(rows) == 3  # the client-credentials record, two user lineages
    cached, *lineages = ends
    lifetime = 3600  # the emulator's default access token lifetime
    assert started + lifetime < cached <= time.time() + lifetime + EXPIRED_GRACE_S
    for end in lineages:
        assert started + lifetime + 30 * DAY < end <= time.time() + lifetime + 30 * DAY

    def opened_at(moment: float) -> State:
        store = SqliteStore(path, clock=lambda: moment)
        return State(store, Sealer.for_store("sqlite", path.with_name(path.name + ".key")))

    later = opened_at(cached + 1)
    assert later.store.sweep() == 1  # the client-credentials record: its token is useless
    assert set(_rows(path)) >= {pinned, *(k for k in rows if rows[k] in lineages)}
    later.close()
    much_later = opened_at(max(lineages) + 1)
    assert much_later.store.sweep() == len(lineages)
    assert [k for k in _rows(path) if k.startswith("ck:{tok:")] == [pinned]
    kept = StoredConnections(much_later).load("sales")
    assert kept is not None
    assert kept.token is not None
    assert kept.token["refresh_token"] != stored["token"]["refresh_token"]  # the renewed one
    much_later.close()
    # The stored connection still works, by name, in a new process.
    again = invoke_many(1, request({"name": "sales"}), url, workers)
    assert again[0][0] == 0, again
