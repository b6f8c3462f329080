"""Auth flows: put a connection's credentials on each request, keep its token fresh.

The ``oauth2`` connection kind's flow is :class:`ConnectionAuth` (``_kinds`` names the flow of
each kind). A token that is expired, or will be within the connection's ``token_leeway``, is
refreshed before the request; a response the pack declares as "token refused" (401, and
whatever its ``quirks`` add) triggers one refresh and one retry.
Tokens live in a :class:`~connectorkit.state._token_store.TokenStore` shared by every call of a
process (``invoke``) or worker (``serve``), so that concurrent calls needing the same new token
fetch it once: with refresh-token rotation a second refresh would present a token the first
has already spent.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar
from urllib.parse import urlsplit

from connectorkit.auth._base import KindAuth
from connectorkit.auth._oauth import JWT_BEARER, OAuthClient, refresh_grant, token_exchange
from connectorkit.core import _errors
from connectorkit.core._errors import AuthError, InvalidConnection
from connectorkit.core._redact import remember_secrets
from connectorkit.http._client import STREAMED
from connectorkit.http._responses import token_refused
from connectorkit.state._token_store import MemoryTokenStore, TokenStore, token_key

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping

    import httpx

    from connectorkit._bind import BoundConnection

__all__ = [
    "DEFAULT_TOKEN_LEEWAY_S",
    "AuthFlowFactory",
    "CallAuth",
    "ConnectionAuth",
    "MemoryTokenStore",
    "TokenStore",
    "connection_leeway",
]

DEFAULT_TOKEN_LEEWAY_S = 60
_LOGIN_HINT = "sign in again with `connectorkit auth login` and pass its output as connection.token"
# A rotated refresh token is followed to its newest successor at most this many times.
_MAX_ROTATIONS = 8

logger = logging.getLogger("connectorkit.auth")

# A step of an auth flow that may send token requests: it yields them (httpx sends them and
# sends back their responses) and returns its result.
_T = TypeVar("_T")
_Flow: TypeAlias = "Generator[httpx.Request, httpx.Response, _T]"


class CallAuth(Protocol):
    """The auth of one call: an ``httpx.Auth`` that also reports what the call obtained."""

    @property
    def new_token(self) -> dict[str, Any] | None:
        """The last token this call obtained (for the response's ``token``), if any."""
        ...

    @property
    def secrets(self) -> frozenset[str]:
        """Every credential this call knows of, for masking."""
        ...

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow httpx drives (see ``httpx.Auth``)."""
        ...


class AuthFlowFactory(Protocol):
    """Makes the auth of one call for a connection of the type it is registered under."""

    def __call__(
        self,
        connection: BoundConnection,
        http: httpx.Client,
        store: TokenStore,
        *,
        remaining: Callable[[], float | None],
    ) -> CallAuth: ...


class ConnectionAuth(KindAuth):
    """The auth flow of one call: attaches the bearer token, refreshes it, retries once.

    Raises :class:`InvalidConnection` at construction when the connection cannot authenticate
    (no token on an authorization-code connection, a malformed token or value). During the
    flow it raises :class:`AuthError` (the token endpoint refused, or 401/403 persisted after
    the refresh), :class:`InvalidConnection` (an expired token with no refresh token), and the
    token endpoint's ``NetworkError``/``TimeoutError``. ``new_token`` holds the last token this
    call obtained, for the response's ``token`` field, even when the call then fails.
    """

    def _prepare(self) -> None:
        connection = self.connection
        definition = connection.definition
        self._grant = definition.grant or "authorization_code"
        self._client, self._leeway = _client_of(connection)
        assertion = definition.client_assertion
        self._federated = assertion.federated if assertion is not None else ()
        self._current = _checked_token(connection.token)
        # A service's token is for another scope than the one the caller holds: it is got with
        # the refresh token (its own lineage, its own scope), never taken from the caller.
        self._refresh_scope = definition.refresh_scope
        if connection.service_scope is not None:
            self._refresh_scope = "configured"
            if self._current is not None:
                self._current = {**self._current, "expires_at": 0}
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

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow httpx drives: every answer is read, but a streamed file (never needed)."""
        flow = self.auth_flow(request)
        outgoing = next(flow)
        while True:
            response = yield outgoing
            if not (response.is_success and response.request.extensions.get(STREAMED)):
                response.read()
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with a fresh token; if the token is refused, renew it, retry once.

        A token request is yielded like ``request`` itself, so httpx sends it through the same
        client, event hooks and transport. While it is out, the flow holds the lease on the
        token it renews (a failure to send it closes the flow, which lets the lease go); the
        sender maps such a failure to the token endpoint's error (see ``TokenExchange``).
        """
        access = self._usable_access_token()
        if access is None:
            access = yield from self._access_token(failed=None)
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        if not token_refused(response, self._quirks):
            return
        logger.info(
            "%s %s answered %s: renewing the token of connection '%s' and retrying once",
            request.method,
            request.url.path,
            response.status_code,
            self._key,
        )
        access = yield from self._access_token(failed=access)
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        self._check_refusal(
            response,
            "the access token",
            " even after it was renewed; check the connection's permissions and scopes",
        )

    # -- tokens ------------------------------------------------------------------------------

    def _usable(self, token: Mapping[str, Any]) -> bool:
        expires_at = token.get("expires_at")
        return expires_at is None or expires_at - self._leeway > self._store.clock()

    def _usable_access_token(self) -> str | None:
        """The access token this call holds, if it is still good to send (no renewal needed)."""
        with self._lock:
            current = self._current
        if current is not None and self._usable(current):
            return str(current["access_token"])
        return None

    def _access_token(self, *, failed: str | None) -> _Flow[str]:
        """Return the access token to send; ``failed`` is one the service has just refused."""
        with self._lock:
            current = self._current
        if failed is None and current is not None and self._usable(current):
            return str(current["access_token"])
        if self._grant == "client_credentials":
            token, obtained = yield from self._service_principal_token(failed)
        else:
            token, obtained = yield from self._renewed_user_token(current, failed)
        with self._lock:
            self._current = token
            if obtained:
                self.new_token = dict(token)
        # A token read from the store (another process renewed it) was never seen by this one's
        # masking: remember it too, so a service that echoes it is masked in every log line.
        remember_secrets(str(token[k]) for k in ("access_token", "refresh_token") if token.get(k))
        return str(token["access_token"])

    def _service_principal_token(self, failed: str | None) -> _Flow[tuple[dict[str, Any], bool]]:
        key = self._app_token_key()
        cached = self._store.get(key)  # the common case, without a lease: it is still good
        if cached is not None and cached["access_token"] != failed and self._usable(cached):
            return cached, False
        with self._leased(key):
            cached = self._store.get(key)
            if cached is not None and cached["access_token"] != failed and self._usable(cached):
                return cached, False
            token = yield from self._app_token()
            self._store.put(key, token)
            return token, True

    def _app_token_key(self) -> str:
        """Where the app's own token is kept, shared by every call with the same client."""
        return self._client_key("client_credentials")

    def _client_key(self, grant: str, *more: str) -> str:
        """The store key of a token of this client got with ``grant`` (and ``more``)."""
        client = self._client
        secret = client.client_secret or client.credential
        scope = client.scope or ""
        return token_key(grant, client.token_url, client.client_id, secret, scope, *more)

    def _app_token(self) -> _Flow[dict[str, Any]]:
        """A new token for the app itself (the client credentials grant)."""
        logger.info("fetching a token for connection '%s' (client credentials)", self._key)
        return (yield from self._fetch({"grant_type": "client_credentials"}, previous=None))

    def _renewed_user_token(
        self, current: dict[str, Any] | None, failed: str | None
    ) -> _Flow[tuple[dict[str, Any], bool]]:
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
        if self.connection.stored is not None and self.connection.service_scope is None:
            return (yield from self._renewed_stored_token(current, failed))
        return (yield from self._renewed_lineage(str(refresh), current, failed))

    def _renewed_lineage(
        self, refresh: str, current: dict[str, Any], failed: str | None
    ) -> _Flow[tuple[dict[str, Any], bool]]:
        # Follow the refresh token to its newest successor: only that one may still be spent,
        # and only while holding its lease.
        token_now: Mapping[str, Any] = current
        for _ in range(_MAX_ROTATIONS):
            key = self._lineage(str(refresh))
            cached = self._store.get(key)  # renewed already (by any worker)? then no lease
            if cached is not None and self._renewed_elsewhere(cached, current, failed):
                return cached, True
            with self._leased(key):
                cached = self._store.get(key)
                if cached is not None and self._renewed_elsewhere(cached, current, failed):
                    # Another call renewed this token while we waited: use its result.
                    return cached, True
                successor = (cached or {}).get("refresh_token")
                if successor and successor != refresh:
                    refresh, token_now = successor, cached or token_now
                    continue  # renewed and rotated, but not usable: renew its successor
                base = cached if cached is not None else token_now
                logger.info("renewing the access token of connection '%s'", self._key)
                grant = refresh_grant(
                    str(refresh),
                    self._refresh_scope,
                    configured=self._client.scope,
                    granted=str(base["scope"]) if base.get("scope") else None,
                )
                token = yield from self._fetch(grant, previous=base)
                self._store.put(key, token)
                if token.get("refresh_token") not in (None, refresh):
                    self._store.put(self._lineage(str(token["refresh_token"])), token)
                origin = self._lineage(str(current["refresh_token"]))
                if origin != key:
                    # A caller that keeps sending its first token finds the newest at once.
                    self._store.put(origin, token)
                return token, True
        # A caller still holding a token more than _MAX_ROTATIONS renewals old: rather than
        # walk an ever longer chain on every call, it is asked to sign in again.
        raise AuthError(
            f"the refresh token of connection '{self._key}' was rotated too many times: "
            f"{_LOGIN_HINT}"
        )

    def _renewed_elsewhere(
        self, cached: Mapping[str, Any], current: Mapping[str, Any], failed: str | None
    ) -> bool:
        """Whether ``cached`` is a usable renewal of ``current`` the service has not refused."""
        return (
            cached["access_token"] not in {failed, current["access_token"]}
            and self._usable(cached)
            and _not_older(cached, current)
        )

    def _renewed_stored_token(
        self, current: dict[str, Any], failed: str | None
    ) -> _Flow[tuple[dict[str, Any], bool]]:
        """Renew a stored connection's token: one lineage, its name's, whatever it rotates to."""
        from connectorkit.state import connection_lineage  # noqa: PLC0415 - stored ones only

        key = connection_lineage(str(self.connection.stored))

        def good(token: Mapping[str, Any] | None) -> bool:
            return token is not None and token["access_token"] != failed and self._usable(token)

        cached = self._store.get(key)
        if cached is not None and good(cached):
            return cached, cached != current
        with self._leased(key):
            newest = self._store.get(key) or current
            if good(newest):
                return dict(newest), newest != current
            if not newest.get("refresh_token"):
                raise InvalidConnection(
                    f"the token of stored connection '{self.connection.stored}' has expired and "
                    f"there is no refresh token to renew it: sign in again with "
                    f"`connectorkit auth login --save {self.connection.stored}`"
                )
            logger.info("renewing the access token of connection '%s'", self._key)
            token = yield from self._fetch(
                {"grant_type": "refresh_token", "refresh_token": str(newest["refresh_token"])},
                previous=newest,
            )
            self._store.put(key, token)
            return token, True

    def _lineage(self, refresh_token: str) -> str:
        return self._client_key("authorization_code", refresh_token)

    def _fetch(
        self, grant: Mapping[str, str], previous: Mapping[str, Any] | None
    ) -> _Flow[dict[str, Any]]:
        """Yield the token request of ``grant``; the token its answer holds (or its error).

        A federated connection first gets the token it presents as its client assertion.
        """
        if self._federated:
            from connectorkit.auth._assertion import federated_assertion  # noqa: PLC0415 - federated only

            values = self.connection.values
            assertion = yield from federated_assertion(self._federated, values, self._key)
            grant = {**grant, "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
        timeout = self._remaining()
        lease_ttl = getattr(self._store, "lease_ttl_s", None)
        if lease_ttl is not None:
            # Answer well inside the lease, or another worker could spend the same token.
            timeout = lease_ttl * 0.8 if timeout is None else min(timeout, lease_ttl * 0.8)
        exchange = token_exchange(
            self._client, grant, previous=previous, now=self._store.clock, quirks=self._quirks
        )
        response = yield exchange.request(self._http, timeout=timeout)
        return exchange.result(response)

    @contextmanager
    def _leased(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lease, waiting no longer than the call's time budget allows."""
        with self._store.lease(key, wait=self._remaining()) as held:
            if not held:
                raise _errors.TimeoutError(
                    "the call's time budget ran out while another request was renewing the token"
                )
            yield


# The OAuth client and leeway of the connections of recent calls: serve binds one connection
# once for all its calls (see _bind), so its values are checked once too.
_clients: OrderedDict[int, tuple[BoundConnection, OAuthClient, int]] = OrderedDict()
_clients_lock = threading.Lock()
_MAX_CLIENTS = 256


def _client_of(connection: BoundConnection) -> tuple[OAuthClient, int]:
    """The OAuth client of ``connection``'s values and its token leeway (checked on first use)."""
    with _clients_lock:
        known = _clients.get(id(connection))
        if known is not None and known[0] is connection:
            return known[1], known[2]
    values = connection.values
    definition = connection.definition
    method = definition.token_endpoint_auth_method
    token_url = _required_url(values, "token_url")
    client_id = _required_text(values, "client_id")
    signer, credential = None, ""
    if method == "private_key_jwt":
        # Loaded only for connections that sign: a plain call imports nothing of it.
        from connectorkit.auth._assertion import assertion_signer  # noqa: PLC0415

        signer, credential = assertion_signer(definition.client_assertion, values, client_id)
    client = OAuthClient(
        token_url=token_url,
        client_id=client_id,
        client_secret=None
        if method == "private_key_jwt"
        else _optional_text(values, "client_secret"),
        scope=connection.service_scope or _optional_text(values, "scopes"),
        auth_method=method,
        signer=signer,
        credential=credential,
    )
    needs_secret = definition.grant == "client_credentials" and method != "private_key_jwt"
    if needs_secret and not client.client_secret:
        raise _missing("client_secret")
    leeway = connection_leeway(values)
    with _clients_lock:
        _clients[id(connection)] = (connection, client, leeway)
        while len(_clients) > _MAX_CLIENTS:
            _clients.popitem(last=False)
    return client, leeway


def _not_older(token: Mapping[str, Any], than: Mapping[str, Any]) -> bool:
    mine, theirs = token.get("expires_at"), than.get("expires_at")
    return mine is None or theirs is None or mine >= theirs


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


def connection_leeway(values: Mapping[str, Any]) -> int:
    """The seconds before expiry at which a token is renewed (``token_leeway``, default 60)."""
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
