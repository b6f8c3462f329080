"""Every ``CONNECTORKIT_*`` environment variable, read in one place.

:data:`VARIABLES` names each variable, the :class:`Settings` field it fills, what it means and
its default; :meth:`Settings.read` reads them all from the environment at once, and
``docs/settings.md`` is generated from the same table (a test fails when they differ). A module
that needs a setting asks :func:`settings` instead of reading the environment itself. It is
read anew on each call (a dozen dictionary look-ups), so a changed environment is seen.

A number that does not read as one is ignored with a warning naming the variable, and the
default holds: a typo in the environment never stops a call.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["VARIABLES", "Settings", "Variable", "settings", "settings_table"]

log = logging.getLogger("connectorkit")

# text: as written (None when unset; "" kept, for the variables where empty means something);
# whole: a whole number of 1 or more; positive: a number above 0.
Kind = Literal["text", "whole", "positive"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, the field it fills, its meaning and its default."""

    name: str
    field: str
    kind: Kind
    meaning: str
    default: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "CONNECTORKIT_PACK",
        "pack",
        "text",
        "the pack folder used when a command names none (`--pack`)",
        "the default pack that ships with connectorkit",
    ),
    Variable(
        "CONNECTORKIT_CONNECTION",
        "connection",
        "text",
        "the connection of `run`, `check` and `push` when `--connection` is not given: a "
        "stored connection's name or a connection file",
        "none",
    ),
    Variable(
        "CONNECTORKIT_STATE",
        "state",
        "text",
        "the state store's URL (`--state`): `sqlite:///PATH`, `redis://…`, `rediss://…`, "
        "`memory://`",
        "a SQLite file in the user's state folder",
    ),
    Variable(
        "CONNECTORKIT_STATE_KEY",
        "state_key",
        "text",
        "the key that seals secrets at rest; `NEW,OLD` while rotating",
        "a key file beside the SQLite store; required with Redis",
    ),
    Variable(
        "CONNECTORKIT_REDIS_PASSWORD",
        "redis_password",
        "text",
        "the Redis password, when the URL carries none",
        "none",
    ),
    Variable(
        "CONNECTORKIT_TOKEN_RETENTION",
        "token_retention",
        "text",
        "how long a renewable token's record is kept past its expiry (`90d`, `12h`, `30m`, `600s`)",
        "90d",
    ),
    Variable(
        "CONNECTORKIT_LEASE_TTL",
        "lease_ttl_s",
        "positive",
        "seconds one worker may hold the renewal of a token before another takes over",
        "20",
    ),
    Variable(
        "CONNECTORKIT_LIMITS_TIME_SCALE",
        "limits_time_scale",
        "positive",
        "how many times shorter the pack's rate windows are (for an emulator running faster "
        "than real time)",
        "1",
    ),
    Variable(
        "CONNECTORKIT_TIMEOUT_MS",
        "timeout_ms",
        "whole",
        "the time budget of a whole call, in milliseconds (the `timeout` input wins)",
        "300000",
    ),
    Variable(
        "CONNECTORKIT_MAX_RETRY_WAIT_MS",
        "max_retry_wait_ms",
        "whole",
        "the longest single wait for a `Retry-After`, in milliseconds (`max_retry_wait_ms` wins)",
        "60000",
    ),
    Variable(
        "CONNECTORKIT_MAX_RESPONSE_BYTES",
        "max_response_bytes",
        "whole",
        "the largest response body read, in bytes (`max_response_bytes` wins)",
        "67108864 (64 MiB)",
    ),
    Variable(
        "CONNECTORKIT_FILES_DIR",
        "files_dir",
        "text",
        "the folder `file` inputs and `save_to` paths must stay inside (a worker serving others)",
        "anywhere",
    ),
    Variable(
        "CONNECTORKIT_MAX_INLINE_FILE_BYTES",
        "max_inline_file_bytes",
        "whole",
        "the largest file a result carries inline as base64, in bytes (larger: give `save_to`)",
        "8388608 (8 MiB)",
    ),
    Variable(
        "CONNECTORKIT_CACHE_DIR",
        "cache_dir",
        "text",
        "where checked packs are cached; empty turns the cache off",
        "`connectorkit` in the user's cache folder",
    ),
)


def _number(variable: Variable, text: str) -> float | None:
    if variable.kind == "whole":
        if text.isdigit() and int(text) >= 1:
            return int(text)
        log.warning("%s=%r is not a whole number of 1 or more: ignored", variable.name, text)
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and value > 0:
        return value
    log.warning("%s=%r is not a number above 0: ignored", variable.name, text)
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    """The value of every variable of :data:`VARIABLES` (None: unset, or ignored)."""

    pack: str | None = None
    connection: str | None = None
    state: str | None = None
    state_key: str | None = None
    redis_password: str | None = None
    token_retention: str | None = None
    lease_ttl_s: float | None = None
    limits_time_scale: float | None = None
    timeout_ms: int | None = None
    max_retry_wait_ms: int | None = None
    max_response_bytes: int | None = None
    files_dir: str | None = None
    max_inline_file_bytes: int | None = None
    cache_dir: str | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every variable, from ``environ`` (default: this process's environment)."""
        environ = os.environ if environ is None else environ
        found: dict[str, object] = {}
        for variable in VARIABLES:
            text = environ.get(variable.name)
            if text is None:
                continue
            if variable.kind == "text":
                found[variable.field] = text
            elif text.strip():
                number = _number(variable, text.strip())
                if number is not None:
                    found[variable.field] = int(number) if variable.kind == "whole" else number
        return cls(**found)  # type: ignore[arg-type]


def settings() -> Settings:
    """The settings of this process, as its environment holds them now."""
    return Settings.read()


def settings_table() -> str:
    """The Markdown table of every variable, as ``docs/settings.md`` shows it."""
    rows = [
        "| variable | what it sets | default |",
        "| --- | --- | --- |",
        *(f"| `{v.name}` | {v.meaning} | {v.default} |" for v in VARIABLES),
    ]
    return "\n".join(rows) + "\n"
