"""Windows authentication (NTLM, and NTLM inside Negotiate) as an httpx auth flow.

NTLM does not sign a request, it signs a TCP connection: the negotiate message, the server's
challenge and the authenticate message must travel on one connection, and once the server has
accepted them every later request on that connection is the account's. A shared connection
pool breaks both halves of that under concurrency: another thread can take the connection
between challenge and answer, and an authenticated connection can be handed to a request of
another account. So this flow never uses the shared pool. Each call *leases* a connection of
its own from a pool kept per identity (origin, account, password), runs the handshake on it if
it is not signed in yet, and hands it back signed in. The lease travels in the request's
extensions (:data:`~connectorkit.http._client.TRANSPORT_EXTENSION`), and the shared client
sends such requests through it.

::

    request ─ lease an idle connection of this identity (or a new one)
               ├─ signed in already: send; a fresh 401 challenge means it was dropped → handshake
               └─ handshake: negotiate → 401 + challenge → authenticate (+ the request) → answer
             ─ return the connection to the identity's idle list (at most MAX_IDLE kept)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit.auth._flow import _optional_text, _required_text
from connectorkit.core._errors import AuthError, InvalidConnection
from connectorkit.http._client import TRANSPORT_EXTENSION

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Generator, Mapping

    from connectorkit._bind import BoundConnection

__all__ = ["MAX_IDLE", "ConnectionLease", "WindowsAuth", "WindowsConnectionPool", "pool_for"]

logger = logging.getLogger("connectorkit.auth")

# Signed-in connections kept idle per identity; more are closed when handed back.
MAX_IDLE = 32
# How long an idle connection is kept open (servers drop theirs after about two minutes).
_KEEPALIVE_S = 30.0
_UNAUTHORIZED = 401
_SCHEMES = {"negotiate": "Negotiate", "ntlm": "NTLM"}


@dataclass(eq=False, slots=True)
class ConnectionLease:
    """One TCP connection (a transport that never opens a second) and its sign-in state."""

    transport: httpx.HTTPTransport
    signed_in: bool = False


@dataclass(slots=True)
class _Identity:
    idle: list[ConnectionLease] = field(default_factory=list)
    scheme: str | None = None  # what the server offered, learnt on the first handshake


class WindowsConnectionPool:
    """Leases of connections per identity; thread-safe; one per HTTP client."""

    def __init__(self, *, max_idle: int = MAX_IDLE) -> None:
        self._identities: dict[str, _Identity] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._ssl: ssl.SSLContext | None = None  # made once: each costs a read of the CA bundle
        self.opened = 0  # connections leased new (for tests and benchmarks)

    def checkout(self, key: str) -> ConnectionLease:
        """An idle connection of this identity, or a new one; the caller has it alone."""
        with self._lock:
            identity = self._identities.setdefault(key, _Identity())
            if identity.idle:
                return identity.idle.pop()
            self.opened += 1
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            context = self._ssl
        transport = httpx.HTTPTransport(
            verify=context,
            limits=httpx.Limits(
                max_connections=1, max_keepalive_connections=1, keepalive_expiry=_KEEPALIVE_S
            ),
        )
        return ConnectionLease(transport)

    def release(self, key: str, lease: ConnectionLease) -> None:
        """Hand a connection back: kept for the identity's next request, or closed."""
        with self._lock:
            identity = self._identities.setdefault(key, _Identity())
            if len(identity.idle) < self._max_idle:
                identity.idle.append(lease)
                return
        lease.transport.close()

    def scheme(self, key: str) -> str | None:
        """The scheme the server chose for this identity last time, if known."""
        with self._lock:
            identity = self._identities.get(key)
            return identity.scheme if identity else None

    def remember_scheme(self, key: str, scheme: str) -> None:
        """Keep the scheme the server offered, so later connections skip the probe."""
        with self._lock:
            self._identities.setdefault(key, _Identity()).scheme = scheme

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            leases = [lease for i in self._identities.values() for lease in i.idle]
            self._identities.clear()
        for lease in leases:
            lease.transport.close()


_pools: weakref.WeakKeyDictionary[httpx.Client, WindowsConnectionPool] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def pool_for(http: httpx.Client) -> WindowsConnectionPool:
    """The identity pool that lives as long as ``http``."""
    with _pools_lock:
        pool = _pools.get(http)
        if pool is None:
            pool = _pools[http] = WindowsConnectionPool()
            weakref.finalize(http, pool.close)
        return pool


@dataclass(frozen=True, slots=True)
class _Account:
    username: str
    domain: str | None
    password: str
    setting: str  # auto, negotiate or ntlm

    @property
    def principal(self) -> str:
        """The account as pyspnego takes it (and as errors name it)."""
        if self.domain and "\\" not in self.username and "@" not in self.username:
            return f"{self.domain}\\{self.username}"
        return self.username


def _account(values: Mapping[str, Any]) -> _Account:
    def text(key: str, *, required: bool) -> str | None:
        return _required_text(values, key) if required else _optional_text(values, key)

    setting = (text("auth_scheme", required=False) or "auto").lower()
    if setting not in {"auto", *_SCHEMES}:
        raise InvalidConnection(
            "connection value 'auth_scheme' must be auto, negotiate or ntlm",
            details=[{"field": "connection.values.auth_scheme", "message": "unknown scheme"}],
        )
    return _Account(
        username=str(text("username", required=True)),
        domain=text("domain", required=False),
        password=str(text("password", required=True)),
        setting=setting,
    )


class WindowsAuth(httpx.Auth):
    """The auth flow of one call over a ``windows`` connection.

    Raises :class:`InvalidConnection` at construction when the account is incomplete, and
    :class:`AuthError` during the flow when the server refuses the account (a wrong password,
    an unknown user, a server that offers neither Negotiate nor NTLM).
    """

    requires_request_body = True  # the body is sent again with the authenticate message
    requires_response_body = True  # read before the connection is handed back

    def __init__(
        self,
        connection: BoundConnection,
        http: httpx.Client,
        store: object = None,
        *,
        remaining: Callable[[], float | None] | None = None,
    ) -> None:
        del store, remaining  # no tokens: the handshake is part of each leased connection
        self.connection = connection
        self.new_token: dict[str, Any] | None = None
        self._account = _account(connection.values)
        self._pool = pool_for(http)

    @property
    def secrets(self) -> frozenset[str]:
        """The connection's secrets (the password), for masking."""
        return self.connection.secrets

    def _key(self, request: httpx.Request) -> str:
        account = self._account
        parts = (
            request.url.scheme,
            request.url.host,
            str(request.url.port or ""),
            account.setting,
            account.principal.lower(),
            account.password,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` on a leased, signed-in connection of this account."""
        key = self._key(request)
        lease = self._pool.checkout(key)
        request.extensions[TRANSPORT_EXTENSION] = lease.transport
        try:
            response = yield from self._signed_in(request, lease, key)
            lease.signed_in = response.status_code != _UNAUTHORIZED
        finally:
            request.extensions.pop(TRANSPORT_EXTENSION, None)
            self._pool.release(key, lease)

    def _signed_in(
        self, request: httpx.Request, lease: ConnectionLease, key: str
    ) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
        scheme = self._configured_scheme() or self._pool.scheme(key)
        if lease.signed_in or scheme is None:
            # A signed-in connection needs no header; an unknown server is asked what it offers.
            response = yield request
            offered = _offered(response)
            if response.status_code != _UNAUTHORIZED or not offered:
                return response
            lease.signed_in = False
            scheme = scheme or self._choose(offered)
            self._pool.remember_scheme(key, scheme)
        return (yield from self._handshake(request, scheme))

    def _configured_scheme(self) -> str | None:
        setting = self._account.setting
        return _SCHEMES.get(setting)

    def _choose(self, offered: list[str]) -> str:
        for scheme in ("Negotiate", "NTLM"):
            if scheme.lower() in offered:
                return scheme
        raise AuthError(
            "the server does not offer Windows authentication (Negotiate or NTLM); "
            f"it offers: {', '.join(offered) or 'nothing'}",
            status=_UNAUTHORIZED,
        )

    def _handshake(
        self, request: httpx.Request, scheme: str
    ) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
        import spnego  # noqa: PLC0415 - pyspnego only for connections that use it

        account = self._account
        context = spnego.client(
            account.principal,
            account.password,
            hostname=request.url.host,
            service="HTTP",
            protocol=scheme.lower(),
        )
        logger.info(
            "signing in to %s as %s (%s) on a new connection",
            request.url.host,
            account.principal,
            scheme,
        )
        request.headers["Authorization"] = (
            f"{scheme} {base64.b64encode(context.step() or b'').decode()}"
        )
        response = yield request
        challenge = _token(response, scheme)
        if response.status_code != _UNAUTHORIZED:
            return response  # the server let the request through on the negotiate message
        if challenge is None:
            raise self._refused(scheme, "it answered the negotiate message without a challenge")
        try:
            answer = context.step(challenge)
        except Exception as exc:  # noqa: BLE001 - pyspnego raises many kinds for a bad token
            why = f"its challenge could not be read ({type(exc).__name__})"
            raise self._refused(scheme, why) from None
        request.headers["Authorization"] = f"{scheme} {base64.b64encode(answer or b'').decode()}"
        response = yield request
        del request.headers["Authorization"]
        if response.status_code == _UNAUTHORIZED:
            raise self._refused(scheme, "it refused the user name or password")
        final = _token(response, scheme)
        if final and not context.complete:
            try:
                context.step(final)
            except Exception as exc:  # noqa: BLE001 - see above
                logger.warning("the server's final %s token did not verify: %s", scheme, exc)
        return response

    def _refused(self, scheme: str, why: str) -> AuthError:
        return AuthError(
            f"the server did not sign in {self._account.principal} with {scheme}: {why}; "
            "check the connection's username, domain and password, and that the server "
            "accepts NTLM",
            status=_UNAUTHORIZED,
            code="logon_failed",
        )


def _offered(response: httpx.Response) -> list[str]:
    """The schemes a 401 offers, lower-cased (``WWW-Authenticate`` may repeat)."""
    schemes: list[str] = []
    for value in response.headers.get_list("www-authenticate"):
        for part in value.split(","):
            name = part.strip().split(" ", 1)[0].lower()
            if name and name not in schemes:
                schemes.append(name)
    return schemes


def _token(response: httpx.Response, scheme: str) -> bytes | None:
    """The token of ``scheme`` in ``WWW-Authenticate``, if the header carries one."""
    for value in response.headers.get_list("www-authenticate"):
        name, _, data = value.strip().partition(" ")
        if name.lower() == scheme.lower() and data.strip():
            try:
                return base64.b64decode(data.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
    return None
