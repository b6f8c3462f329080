"""The Redis backend: many machines share one Redis (or a Redis Cluster).

Each primitive is one command or one Lua script, so it is atomic on the server; the scripts read
the time from Redis itself, so the machines' clocks need not agree. Every script touches keys of
one hash tag only, which a Redis Cluster requires. A value's lifetime is the key's own TTL,
so Redis drops it by itself (on access, or in its background expiry cycle).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectorkit.core._errors import NetworkError
from connectorkit.core._settings import settings
from connectorkit.state._store import HOLD_POLL_S, StateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit.state._store import Window

__all__ = ["PASSWORD_ENV", "RedisStore"]

PASSWORD_ENV = "CONNECTORKIT_REDIS_PASSWORD"  # noqa: S105 - the variable's name, not a password

_CAS = """
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '0') or (ARGV[1] == '1' and current == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: the windows' logs, then the hold set (if any). ARGV: n, then per window (limit, seconds,
# units), then holder, capacity, hold ttl, a nonce, the hold poll. A log member is
# "time:units:nonce", scored by its time.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local wait = 0
for i = 1, n do
  local limit = tonumber(ARGV[2 + (i - 1) * 3])
  local seconds = tonumber(ARGV[3 + (i - 1) * 3])
  local units = tonumber(ARGV[4 + (i - 1) * 3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - seconds)
  if units > 0 then
    local entries = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
    local used = 0
    for j = 1, #entries, 2 do
      used = used + tonumber(string.match(entries[j], ':(%d+):'))
    end
    local excess = used + units - limit
    if excess > 0 then
      local w = seconds
      if units <= limit then
        for j = 1, #entries, 2 do
          excess = excess - tonumber(string.match(entries[j], ':(%d+):'))
          if excess <= 0 then
            w = tonumber(entries[j + 1]) + seconds - now
            break
          end
        end
      end
      if w < 0.000001 then w = 0.000001 end
      if w > wait then wait = w end
    end
  end
end
local base = 2 + n * 3
local holds = KEYS[n + 1]
if holds then
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)
  if redis.call('ZCARD', holds) >= tonumber(ARGV[base + 1]) then
    local first = redis.call('ZRANGE', holds, 0, 0, 'WITHSCORES')
    local w = math.min(tonumber(first[2]) - now, tonumber(ARGV[base + 4]))
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
local longest = 0
for i = 1, n do
  local seconds = tonumber(ARGV[3 + (i - 1) * 3])
  local units = tonumber(ARGV[4 + (i - 1) * 3])
  if units > 0 then
    local member = string.format('%.6f', now) .. ':' .. units .. ':' .. ARGV[base + 3]
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], math.ceil(seconds * 1000) + 1000)
  end
end
if holds then
  local ttl = tonumber(ARGV[base + 2])
  redis.call('ZADD', holds, now + ttl, ARGV[base])
  redis.call('PEXPIRE', holds, math.ceil(ttl * 1000) + 1000)
end
return '0'
"""


class RedisStore:
    """The primitives over one Redis URL (``redis://`` or ``rediss://``)."""

    def __init__(self, url: str) -> None:
        import redis  # noqa: PLC0415 - only a Redis store pays for its import

        parts = urlsplit(url)
        self.url = url
        self._where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
        password = None if parts.password else settings().redis_password or None
        try:
            self._redis = redis.Redis.from_url(
                url, password=password, socket_timeout=10, socket_connect_timeout=5
            )
        except ValueError as exc:
            raise StateError(f"the state URL is not a usable Redis URL: {exc}") from None
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._cas = self._redis.register_script(_CAS)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._take = self._redis.register_script(_TAKE)

    def _call(self, what: Callable[[], Any]) -> Any:
        try:
            return what()
        except self._errors as exc:
            # The message names the server, never the URL (it may carry the password).
            raise NetworkError(
                f"the state store ({self._where}) failed: {type(exc).__name__}: {exc}"
            ) from None

    def get(self, key: str) -> bytes | None:
        """See :class:`Store`."""
        value = self._call(lambda: self._redis.get(key))
        return None if value is None else bytes(value)

    def put(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        """See :class:`Store`."""
        ttl_ms = None if ttl_s is None else max(1, round(ttl_s * 1000))
        self._call(lambda: self._redis.set(key, value, px=ttl_ms))

    def compare_and_set(self, key: str, expected: bytes | None, value: bytes) -> bool:
        """See :class:`Store`."""
        args: list[str | bytes] = ["0", b"", value] if expected is None else ["1", expected, value]
        return bool(self._call(lambda: self._cas(keys=[key], args=args)))

    def delete(self, key: str) -> bool:
        """See :class:`Store`."""
        return bool(self._call(lambda: self._redis.delete(key)))

    def acquire_lease(self, key: str, owner: str, ttl_s: float) -> bool:
        """See :class:`Store`."""
        ttl_ms = max(1, round(ttl_s * 1000))
        return bool(self._call(lambda: self._acquire(keys=[key], args=[owner, ttl_ms])))

    def release_lease(self, key: str, owner: str) -> None:
        """See :class:`Store`."""
        self._call(lambda: self._release(keys=[key], args=[owner]))

    def hash_get(self, key: str, field: str) -> bytes | None:
        """See :class:`Store`."""
        value = self._call(lambda: self._redis.hget(key, field))
        return None if value is None else bytes(value)

    def hash_set(self, key: str, field: str, value: bytes) -> None:
        """See :class:`Store`."""
        self._call(lambda: self._redis.hset(key, field, value))

    def hash_delete(self, key: str, field: str) -> bool:
        """See :class:`Store`."""
        return bool(self._call(lambda: self._redis.hdel(key, field)))

    def hash_all(self, key: str) -> dict[str, bytes]:
        """See :class:`Store`."""
        found = self._call(lambda: self._redis.hgetall(key))
        return {bytes(k).decode(): bytes(v) for k, v in found.items()}

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
        keys = [w.key for w in windows] + ([holds] if holds is not None else [])
        args: list[str | int] = [len(windows)]
        for window in windows:
            args += [window.limit, repr(float(window.seconds)), window.units]
        args += [holder, capacity, repr(float(hold_ttl_s)), secrets.token_hex(8), repr(HOLD_POLL_S)]
        return float(self._call(lambda: self._take(keys=keys, args=args)))

    def release_hold(self, key: str, holder: str) -> None:
        """See :class:`Store`."""
        self._call(lambda: self._redis.zrem(key, holder))

    def sweep(self) -> int:
        """Nothing to do: Redis expires keys itself."""
        return 0

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()
