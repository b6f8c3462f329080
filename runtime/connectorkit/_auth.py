"""The auth flow: put a connection's access token on each request and keep that token fresh.

A token that is expired, or will be within the connection's ``token_leeway``, is refreshed
before the request; a 401 (or Power BI's 403 ``TokenExpired``) triggers one refresh and one
retry. Tokens live in a :class:`TokenStore`, shared by every call of a process (``invoke``) or
worker (``serve``), so that concurrent calls needing the same new token fetch it once: with
refresh-token rotation a second refresh would present a token the first has already spent.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from connectorkit import _errors
from connectorkit._errors import AuthError, InvalidConnection
from connectorkit._http import service_error
from connectorkit._oauth import OAuthClient, fetch_token, refresh_grant

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping

    from connectorkit._bind import BoundConnection

__all__ = ["DEFAULT_TOKEN_LEEWAY_S", "ConnectionAuth", "TokenStore"]

DEFAULT_TOKEN_LEEWAY_S = 60
_LOGIN_HINT = "sign in again with `connectorkit auth login` and pass its output as connection.token"
_FORBIDDEN = 403
_UNAUTHORIZED = 401

logger = logging.getLogger("connectorkit.auth")


class _Slot:
    """The newest token of one identity, and the lock that makes its refresh single-flight."""

    __slots__ = ("lock", "token")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: dict[str, Any] | None = None


class TokenStore:
    """A thread-safe token cache with single-flight refresh; one per process or ``serve`` worker.

    A service principal's token is cached under its client identity (token URL, client id,
    secret, scope). A user's token is cached under its refresh token, and the token that
    replaces it is filed under the new refresh token too, so a request that still carries the
    old token gets the replacement instead of spending a rotated refresh token again.
    Identities are kept as SHA-256 digests, never as the secrets themselves.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, max_entries: int = 4096) -> None:
        self.clock = clock
        self._max_entries = max_entries
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._slots)

    def clear(self) -> None:
        """Forget every cached token."""
        with self._lock:
            self._slots.clear()

    def _slot(self, key: str) -> _Slot:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
                self._trim()
            else:
                self._slots.move_to_end(key)
            return slot

    def _alias(self, key: str, slot: _Slot) -> None:
        with self._lock:
            self._slots[key] = slot
            self._slots.move_to_end(key)
            self._trim()

    def _trim(self) -> None:
        while len(self._slots) > self._max_entries:
            self._slots.popitem(last=False)


def _identity(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class ConnectionAuth(httpx.Auth):
    """The auth flow of one call: attaches the bearer token, refreshes it, retries once.

    Raises :class:`InvalidConnection` at construction when the connection cannot authenticate
    (no token on an authorization-code connection, a malformed token or value). During the
    flow it raises :class:`AuthError` (the token endpoint refused, or 401/403 persisted after
    the refresh), :class:`InvalidConnection` (an expired token with no refresh token), and the
    token endpoint's ``NetworkError``/``TimeoutError``. ``new_token`` holds the last token this
    call obtained, for the response's ``token`` field, even when the call then fails.
    """

    requires_response_body = True

    def __init__(
        self,
        connection: BoundConnection,
        http: httpx.Client,
        store: TokenStore,
        *,
        remaining: Callable[[], float | None],
    ) -> None:
        self.connection = connection
        self.new_token: dict[str, Any] | None = None
        self._http = http
        self._store = store
        self._remaining = remaining
        self._lock = threading.Lock()
        definition = connection.definition
        values = connection.values
        self._key = definition.key
        self._grant = definition.grant
        self._client = OAuthClient(
            token_url=_required_url(values, "token_url"),
            client_id=_required_text(values, "client_id"),
            client_secret=_optional_text(values, "client_secret"),
            scope=_optional_text(values, "scopes"),
            auth_method=definition.token_endpoint_auth_method,
        )
        if self._grant == "client_credentials" and not self._client.client_secret:
            raise _missing("client_secret")
        self._leeway = _leeway(values)
        self._current = _checked_token(connection.token)
        if self._grant == "authorization_code" and self._current is None:
            raise InvalidConnection(
                f"connection '{self._key}' has no token: {_LOGIN_HINT}",
                details=[{"field": "connection.token", "message": "is missing"}],
            )

    @property
    def secrets(self) -> frozenset[str]:
        """The connection's secrets plus the tokens this call obtained, for masking."""
        with self._lock:
            new = self.new_token or {}
        fresh = {str(new[k]) for k in ("access_token", "refresh_token") if new.get(k)}
        return self.connection.secrets | fresh

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with a fresh token; on 401/``TokenExpired`` refresh once and retry."""
        access = self._access_token(failed=None)
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        if not _token_refused(response):
            return
        logger.info(
            "%s %s answered %s: renewing the token of connection '%s' and retrying once",
            request.method,
            request.url.path,
            response.status_code,
            self._key,
        )
        access = self._access_token(failed=access)
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        if _token_refused(response):
            code = _service_code(response)
            said = f" ({code})" if code else ""
            raise AuthError(
                f"the service refused the access token (HTTP {response.status_code}{said}) even "
                f"after it was renewed; check the connection's permissions and scopes",
                status=response.status_code,
                code=code,
            )

    # -- tokens ------------------------------------------------------------------------------

    def _usable(self, token: Mapping[str, Any]) -> bool:
        expires_at = token.get("expires_at")
        return expires_at is None or expires_at - self._leeway > self._store.clock()

    def _access_token(self, *, failed: str | None) -> str:
        """Return the access token to send; ``failed`` is one the service has just refused."""
        with self._lock:
            current = self._current
        if failed is None and current is not None and self._usable(current):
            return str(current["access_token"])
        if self._grant == "client_credentials":
            token, obtained = self._service_principal_token(failed)
        else:
            token, obtained = self._renewed_user_token(current, failed)
        with self._lock:
            self._current = token
            if obtained:
                self.new_token = dict(token)
        return str(token["access_token"])

    def _service_principal_token(self, failed: str | None) -> tuple[dict[str, Any], bool]:
        client = self._client
        slot = self._store._slot(  # noqa: SLF001 - the store and the flow are one mechanism
            _identity(
                "client_credentials",
                client.token_url,
                client.client_id,
                client.client_secret or "",
                client.scope or "",
            ),
        )
        with self._holding(slot):
            cached = slot.token
            if cached is not None and cached["access_token"] != failed and self._usable(cached):
                return cached, False
            logger.info("fetching a token for connection '%s' (client credentials)", self._key)
            token = self._fetch({"grant_type": "client_credentials"}, previous=None)
            slot.token = token
            return token, True

    def _renewed_user_token(
        self, current: dict[str, Any] | None, failed: str | None
    ) -> tuple[dict[str, Any], bool]:
        if current is None:  # pragma: no cover - refused at construction
            raise InvalidConnection(f"connection '{self._key}' has no token: {_LOGIN_HINT}")
        refresh = current.get("refresh_token")
        if not refresh:
            if failed is not None:
                raise AuthError(
                    f"the service refused the access token and connection '{self._key}' has no "
                    f"refresh token to renew it: {_LOGIN_HINT}"
                )
            raise InvalidConnection(
                f"the access token of connection '{self._key}' has expired and there is no "
                f"refresh token to renew it: {_LOGIN_HINT}",
                details=[{"field": "connection.token.refresh_token", "message": "is missing"}],
            )
        slot = self._store._slot(self._lineage(refresh))  # noqa: SLF001 - see above
        with self._holding(slot):
            cached = slot.token
            if (
                cached is not None
                and cached["access_token"] not in {failed, current["access_token"]}
                and self._usable(cached)
                and _not_older(cached, current)
            ):
                # Another call renewed this token while we waited: use its result.
                return cached, True
            base = cached if cached is not None else current
            logger.info("renewing the access token of connection '%s'", self._key)
            grant = refresh_grant(
                str(base["refresh_token"]),
                self.connection.definition.refresh_scope,
                configured=self._client.scope,
                granted=str(base["scope"]) if base.get("scope") else None,
            )
            token = self._fetch(grant, previous=base)
            slot.token = token
            if token.get("refresh_token") != base["refresh_token"]:
                self._store._alias(self._lineage(str(token["refresh_token"])), slot)  # noqa: SLF001
            return token, True

    def _lineage(self, refresh_token: str) -> str:
        client = self._client
        return _identity(
            "authorization_code",
            client.token_url,
            client.client_id,
            client.client_secret or "",
            client.scope or "",
            refresh_token,
        )

    def _fetch(
        self, grant: Mapping[str, str], previous: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return fetch_token(
            self._http,
            self._client,
            grant,
            timeout=self._remaining(),
            previous=previous,
            now=self._store.clock,
        )

    @contextmanager
    def _holding(self, slot: _Slot) -> Iterator[None]:
        """Hold ``slot``'s lock, waiting no longer than the call's time budget allows."""
        left = self._remaining()
        if not slot.lock.acquire(timeout=-1 if left is None else left):
            raise _errors.TimeoutError(
                "the call's time budget ran out while another request was renewing the token"
            )
        try:
            yield
        finally:
            slot.lock.release()


def _not_older(token: Mapping[str, Any], than: Mapping[str, Any]) -> bool:
    mine, theirs = token.get("expires_at"), than.get("expires_at")
    return mine is None or theirs is None or mine >= theirs


def _token_refused(response: httpx.Response) -> bool:
    """Whether the service rejected the token itself: 401, or Power BI's 403 ``TokenExpired``."""
    if response.status_code == _UNAUTHORIZED:
        return True
    return response.status_code == _FORBIDDEN and _service_code(response) == "TokenExpired"


def _service_code(response: httpx.Response) -> str | None:
    """The service's own error code, if its body carries one."""
    return service_error(response)[0]


def _missing(key: str) -> InvalidConnection:
    return InvalidConnection(
        f"connection value '{key}' is missing",
        details=[{"field": f"connection.values.{key}", "message": "is missing"}],
    )


def _required_text(values: Mapping[str, Any], key: str) -> str:
    value = _optional_text(values, key)
    if value is None:
        raise _missing(key)
    return value


def _required_url(values: Mapping[str, Any], key: str) -> str:
    value = _required_text(values, key)
    if urlsplit(value).scheme not in {"http", "https"} or not urlsplit(value).netloc:
        raise InvalidConnection(
            f"connection value '{key}' must be an http(s) URL",
            details=[{"field": f"connection.values.{key}", "message": "must be an http(s) URL"}],
        )
    return value


def _optional_text(values: Mapping[str, Any], key: str) -> str | None:
    value = values.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidConnection(
            f"connection value '{key}' must be a string",
            details=[{"field": f"connection.values.{key}", "message": "must be a string"}],
        )
    return value


def _leeway(values: Mapping[str, Any]) -> int:
    value = values.get("token_leeway")
    if value is None:
        return DEFAULT_TOKEN_LEEWAY_S
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidConnection(
            "connection value 'token_leeway' must be a whole number of seconds, 0 or more",
            details=[{"field": "connection.values.token_leeway", "message": "must be >= 0"}],
        )
    return value


def _checked_token(token: object) -> dict[str, Any] | None:
    """Check the shape of the request's ``connection.token`` (never echoing its values)."""
    if token is None:
        return None

    def bad(field: str, message: str) -> InvalidConnection:
        return InvalidConnection(
            f"connection.token{field} {message}",
            details=[{"field": f"connection.token{field}", "message": message}],
        )

    if not isinstance(token, dict):
        raise bad("", "must be an object with access_token (from `connectorkit auth login`)")
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise bad(".access_token", "must be a non-empty string")
    refresh = token.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        raise bad(".refresh_token", "must be a string")
    expires_at = token.get("expires_at")
    if expires_at is not None and (
        isinstance(expires_at, bool) or not isinstance(expires_at, int | float)
    ):
        raise bad(".expires_at", "must be a number of seconds since the epoch")
    return dict(token)
