"""The SQLite backend: one file shared by every process on one machine (WAL mode).

Each primitive is one short transaction; the ones that read before they write take SQLite's
write lock up front (``BEGIN IMMEDIATE``) so that two processes cannot both decide on the same
old value. Each thread keeps its own connection, as :mod:`sqlite3` requires.

A value given a lifetime carries it in ``kv.expires`` (seconds since the epoch, by ``clock``):
reads skip it once past, and a write that gives a lifetime sweeps expired rows first, at most
every :data:`SWEEP_EVERY_S` per store object, through a partial index on ``expires``. A file
made before lifetimes existed gains the column when first opened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from connectorkit.state._sliding import wait_for
from connectorkit.state._store import HOLD_POLL_S, SWEEP_EVERY_S, StateError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from connectorkit.state._store import Window

__all__ = ["SqliteStore"]

_BUSY_TIMEOUT_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hash (key TEXT, field TEXT, value BLOB NOT NULL,
  PRIMARY KEY (key, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS window_log (key TEXT NOT NULL, at REAL NOT NULL, units INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS window_log_key_at ON window_log (key, at);
CREATE TABLE IF NOT EXISTS hold (key TEXT, holder TEXT, expires REAL NOT NULL,
  PRIMARY KEY (key, holder)) WITHOUT ROWID;
"""
_EXPIRES_INDEX = "CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires) WHERE expires IS NOT NULL"


class SqliteStore:
    """The primitives over one SQLite file, created readable by its owner only."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        _create_private(path)
        db = self._db()
        db.executescript(_SCHEMA)
        if not _has_expires(db):
            with self._transaction() as locked:  # one process adds it; the others find it there
                if not _has_expires(locked):
                    locked.execute("ALTER TABLE kv ADD COLUMN expires REAL")
        db.execute(_EXPIRES_INDEX)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(
                    self.path,
                    timeout=_BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise StateError(f"cannot open the state file {self.path}: {exc}") from None
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def get(self, key: str) -> bytes | None:
        """See :class:`Store`."""
        row = (
            self._db()
            .execute(
                "SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)",
                (key, self.clock()),
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def put(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        """See :class:`Store`."""
        now = self.clock()
        if ttl_s is not None and now >= self._next_sweep:
            self._sweep(now)
        self._db().execute(
            "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
            (key, value, None if ttl_s is None else now + ttl_s),
        )

    def compare_and_set(self, key: str, expected: bytes | None, value: bytes) -> bool:
        """See :class:`Store`."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)",
                (key, self.clock()),
            ).fetchone()
            if (None if row is None else bytes(row[0])) != expected:
                return False
            db.execute(
                "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, NULL)", (key, value)
            )
            return True

    def delete(self, key: str) -> bool:
        """See :class:`Store`."""
        # fetchall: the statement must finish here, or it would keep holding the write lock.
        rows = (
            self._db().execute("DELETE FROM kv WHERE key = ? RETURNING expires", (key,)).fetchall()
        )
        return any(ends is None or ends > self.clock() for (ends,) in rows)

    def sweep(self) -> int:
        """See :class:`Store`."""
        return self._sweep(self.clock())

    def _sweep(self, now: float) -> int:
        self._next_sweep = now + SWEEP_EVERY_S
        db = self._db()
        gone = db.execute("DELETE FROM kv WHERE expires <= ?", (now,)).rowcount
        db.execute("DELETE FROM lease WHERE expires <= ?", (now,))
        db.execute("DELETE FROM hold WHERE expires <= ?", (now,))
        return int(gone)

    def acquire_lease(self, key: str, owner: str, ttl_s: float) -> bool:
        """See :class:`Store`."""
        now = self.clock()
        # One statement: insert, or take over a lease that expired or is already ours.
        cursor = self._db().execute(
            "INSERT INTO lease (key, owner, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
            "WHERE lease.expires <= ? OR lease.owner = excluded.owner",
            (key, owner, now + ttl_s, now),
        )
        return cursor.rowcount > 0

    def release_lease(self, key: str, owner: str) -> None:
        """See :class:`Store`."""
        self._db().execute("DELETE FROM lease WHERE key = ? AND owner = ?", (key, owner))

    def hash_get(self, key: str, field: str) -> bytes | None:
        """See :class:`Store`."""
        row = (
            self._db()
            .execute("SELECT value FROM hash WHERE key = ? AND field = ?", (key, field))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def hash_set(self, key: str, field: str, value: bytes) -> None:
        """See :class:`Store`."""
        self._db().execute(
            "INSERT OR REPLACE INTO hash (key, field, value) VALUES (?, ?, ?)", (key, field, value)
        )

    def hash_delete(self, key: str, field: str) -> bool:
        """See :class:`Store`."""
        cursor = self._db().execute("DELETE FROM hash WHERE key = ? AND field = ?", (key, field))
        return cursor.rowcount > 0

    def hash_all(self, key: str) -> dict[str, bytes]:
        """See :class:`Store`."""
        rows = self._db().execute("SELECT field, value FROM hash WHERE key = ?", (key,))
        return {str(field): bytes(value) for field, value in rows}

    def take(
        self,
        windows: tuple[Window, ...],
        *,
        holds: str | None = None,
        holder: str = "",
        capacity: int = 0,
        hold_ttl_s: float = 0.0,
    ) -> float:
        """See :class:`Store`."""
        with self._transaction() as db:
            now = self.clock()
            wait = 0.0
            for window in windows:
                db.execute(
                    "DELETE FROM window_log WHERE key = ? AND at <= ?",
                    (window.key, now - window.seconds),
                )
                log = db.execute(
                    "SELECT at, units FROM window_log WHERE key = ? ORDER BY at", (window.key,)
                ).fetchall()
                wait = max(wait, wait_for(window, log, now))
            if holds is not None:
                db.execute("DELETE FROM hold WHERE key = ? AND expires <= ?", (holds, now))
                count, first = db.execute(
                    "SELECT count(*), min(expires) FROM hold WHERE key = ?", (holds,)
                ).fetchone()
                if count >= capacity:
                    wait = max(wait, min(float(first) - now, HOLD_POLL_S))
            if wait > 0:
                return wait
            db.executemany(
                "INSERT INTO window_log (key, at, units) VALUES (?, ?, ?)",
                [(w.key, now, w.units) for w in windows if w.units],
            )
            if holds is not None:
                db.execute(
                    "INSERT OR REPLACE INTO hold (key, holder, expires) VALUES (?, ?, ?)",
                    (holds, holder, now + hold_ttl_s),
                )
            return 0.0

    def release_hold(self, key: str, holder: str) -> None:
        """See :class:`Store`."""
        self._db().execute("DELETE FROM hold WHERE key = ? AND holder = ?", (key, holder))

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()


def _has_expires(db: sqlite3.Connection) -> bool:
    return any(row[1] == "expires" for row in db.execute("PRAGMA table_info(kv)"))


def _create_private(path: Path) -> None:
    """Create the file (and its folder) readable and writable by the owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StateError(f"cannot create the state file {path}: {exc.strerror}") from None
