"""Choosing a store: a URL from ``--state`` or ``CONNECTORKIT_STATE``, else the SQLite default."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from connectorkit.core._settings import settings
from connectorkit.state._crypto import Sealer
from connectorkit.state._store import StateError

if TYPE_CHECKING:
    from connectorkit.state._store import Store

__all__ = [
    "DEFAULT_RETENTION_S",
    "RETENTION_ENV",
    "STATE_ENV",
    "State",
    "default_path",
    "open_state",
    "parse_retention",
]

RETENTION_ENV = "CONNECTORKIT_TOKEN_RETENTION"
DEFAULT_RETENTION_S = 90 * 86400.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

STATE_ENV = "CONNECTORKIT_STATE"
_SCHEMES = "sqlite:///PATH, redis://, rediss:// or memory://"


@dataclass(frozen=True, slots=True)
class State:
    """A store, the sealer of its secrets, and how long its renewable tokens are kept."""

    store: Store
    sealer: Sealer
    token_retention_s: float = DEFAULT_RETENTION_S

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()


def default_path() -> Path:
    """The embedded store's file in the user's state folder (XDG_STATE_HOME on Linux)."""
    import platformdirs  # noqa: PLC0415 - only the default needs it

    return Path(platformdirs.user_state_dir("connectorkit", appauthor=False)) / "state.sqlite3"


def open_state(url: str | None = None) -> State:
    """Open the store ``url`` names (default: ``$CONNECTORKIT_STATE``, else the SQLite file)."""
    given = settings()
    url = (url if url is not None else given.state or "").strip()
    retention = (given.token_retention or "").strip()
    try:
        retention_s = parse_retention(retention) if retention else DEFAULT_RETENTION_S
    except ValueError as exc:
        raise StateError(str(exc)) from None
    state = _open(url)
    return replace(state, token_retention_s=retention_s)


def _open(url: str) -> State:
    if not url or url == "sqlite://":
        path = default_path()
        return _sqlite(path)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        rest = url[len("sqlite:") :]
        if not rest.startswith("///") or len(rest) == len("///"):
            raise StateError(f"a SQLite state URL is sqlite:///PATH (absolute path), not {url!r}")
        # sqlite:///PATH and sqlite:////PATH both name the absolute PATH (one file, one URL).
        return _sqlite(Path("/" + rest.lstrip("/")))
    if scheme == "memory":
        from connectorkit.state._memory import MemoryStore  # noqa: PLC0415

        return State(MemoryStore(), Sealer.for_store("memory", None))
    if scheme in {"redis", "rediss"}:
        sealer = Sealer.for_store("redis", None)
        from connectorkit.state._redis import RedisStore  # noqa: PLC0415

        return State(RedisStore(url), sealer)
    shown = url.rsplit("@", maxsplit=1)[-1] if "@" in url else url  # never echo a password
    raise StateError(f"unknown state URL {shown!r}: use {_SCHEMES}")


def _sqlite(path: Path) -> State:
    from connectorkit.state._sqlite import SqliteStore  # noqa: PLC0415

    store = SqliteStore(path)
    return State(store, Sealer.for_store("sqlite", path.with_name(path.name + ".key")))


def parse_retention(text: str) -> float:
    """Seconds from ``90d``, ``36h``, ``15m``, ``30s`` or a plain number of seconds (> 0)."""
    given = text.strip().lower()
    number, unit = (given[:-1], given[-1]) if given[-1:] in _UNITS else (given, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(
            f"{RETENTION_ENV} must be a positive duration such as 90d, 36h, 15m or 3600 "
            f"(seconds), not {text!r}"
        )
    return seconds
