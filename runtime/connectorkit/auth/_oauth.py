"""The OAuth 2.0 token-endpoint protocol (RFC 6749, PKCE per RFC 7636) on authlib's core.

Only authlib's protocol helpers are used (request preparation, PKCE, random tokens), never its
HTTP integrations; they are imported inside the functions so that start-up stays cheap.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from connectorkit.core import _errors
from connectorkit.core._errors import AuthError, HttpError, NetworkError, RateLimited
from connectorkit.core._json import loads_service
from connectorkit.core._redact import mask, remember_secrets
from connectorkit.http._responses import error_fields, parse_retry_after
from connectorkit.pack._definitions import Quirks

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "JWT_BEARER",
    "SIDE_REQUEST_EXTENSION",
    "TOKEN_EXCHANGE_EXTENSION",
    "EndpointRequest",
    "OAuthClient",
    "SideRequest",
    "TokenExchange",
    "authorization_url",
    "exchange_of",
    "fetch_token",
    "new_pkce_pair",
    "new_state",
    "refresh_grant",
    "token_exchange",
]

AuthMethod = Literal["client_secret_post", "client_secret_basic", "private_key_jwt"]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Grant fields whose values are credentials: masked wherever text could echo them.
_SECRET_GRANT_FIELDS = (
    "code", "code_verifier", "refresh_token", "client_secret", "assertion", "client_assertion",
)  # fmt: skip
_DESCRIPTION_LIMIT = 500
# RFC 6749's error body; a pack's quirks may say more.
_STANDARD = Quirks()


def _shown(value: object, *names: str) -> str:
    """``Name(field=..., ...)`` of ``value`` with only ``names`` shown (never a secret)."""
    fields = ", ".join(f"{name}={getattr(value, name)!r}" for name in names)
    return f"{type(value).__name__}({fields})"


# These are frozen msgspec structures rather than dataclasses: a dataclass writes and compiles
# its methods when its module loads, milliseconds of every cold start for three classes.
class OAuthClient(msgspec.Struct, frozen=True):
    """A registered OAuth 2.0 client and the token endpoint it authenticates at.

    A ``private_key_jwt`` client has a ``signer`` that makes a fresh client assertion for each
    token request (a certificate's), or none when each grant brings its own (a federated
    token). ``credential`` tells apart clients of the same id with other credentials (a
    certificate's thumbprint), for caching their tokens apart. Its repr leaves out the secret
    and the signer; equality and hashing leave out the signer.
    """

    token_url: str
    client_id: str
    client_secret: str | None
    scope: str | None = None
    auth_method: AuthMethod = "client_secret_post"
    signer: Callable[[], str] | None = None
    credential: str = ""

    def _key(self) -> tuple[object, ...]:
        return (
            self.token_url,
            self.client_id,
            self.client_secret,
            self.scope,
            self.auth_method,
            self.credential,
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return _shown(self, "token_url", "client_id", "scope", "auth_method", "credential")


def refresh_grant(
    refresh_token: str,
    refresh_scope: Literal["omit", "granted", "configured"],
    *,
    configured: str | None,
    granted: str | None,
) -> dict[str, str]:
    """The fields of a refresh-token request, its scope chosen by the connection's policy.

    RFC 6749 section 6 makes the scope optional and refuses one wider than what was granted
    (``invalid_scope``), so by default none is sent; some identity providers want them again.
    """
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    scope = {"omit": None, "granted": granted, "configured": configured}[refresh_scope]
    if scope:
        grant["scope"] = scope
    return grant


def new_state() -> str:
    """Return an unguessable ``state`` value for one authorization request."""
    from authlib.common.security import generate_token  # type: ignore[import-untyped]  # noqa: PLC0415

    return str(generate_token(32))


def new_pkce_pair() -> tuple[str, str]:
    """Return a fresh PKCE ``(code_verifier, code_challenge)`` pair; the challenge uses S256."""
    from authlib.common.security import generate_token  # noqa: PLC0415
    from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped]  # noqa: PLC0415
        create_s256_code_challenge,
    )

    # 64 letters and digits: inside RFC 7636's 43-128 unreserved characters, ~380 bits.
    verifier = str(generate_token(64))
    return verifier, str(create_s256_code_challenge(verifier))


def authorization_url(  # noqa: PLR0917 - the six parts of one URL, in RFC order
    authorize_url: str,
    client_id: str,
    redirect_uri: str,
    scope: str | None,
    state: str,
    code_challenge: str,
) -> str:
    """Return the URL that starts an authorization code login (``code``, PKCE S256)."""
    from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]  # noqa: PLC0415
        prepare_grant_uri,
    )

    return str(
        prepare_grant_uri(
            authorize_url,
            client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=scope,
            state=state,
            code_challenge=code_challenge,
            code_challenge_method="S256",
        )
    )


def _basic_credentials(client_id: str, client_secret: str) -> str:
    # RFC 6749 2.3.1: both parts are form-urlencoded before they are joined and base64-encoded.
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _token_request_body(
    client: OAuthClient, grant: Mapping[str, str]
) -> tuple[str, dict[str, str]]:
    """Build the form body and headers of a token request, client authentication included."""
    from authlib.oauth2.rfc6749.parameters import prepare_token_request  # noqa: PLC0415

    fields = {k: v for k, v in grant.items() if k not in {"grant_type", "redirect_uri"}}
    # A refresh carries a scope only when its grant says so (see refresh_scope); the other
    # grants ask for the configured scopes.
    if client.scope and "scope" not in fields and grant["grant_type"] != "refresh_token":
        fields["scope"] = client.scope
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if client.auth_method == "private_key_jwt":
        fields["client_id"] = client.client_id  # RFC 7523 makes it optional; some servers want it
    elif client.auth_method == "client_secret_basic" and client.client_secret:
        headers["Authorization"] = _basic_credentials(client.client_id, client.client_secret)
    else:
        fields["client_id"] = client.client_id
        if client.client_secret:
            fields["client_secret"] = client.client_secret
    body = prepare_token_request(
        grant["grant_type"], redirect_uri=grant.get("redirect_uri"), **fields
    )
    return str(body), headers


def _secrets_of(
    client: OAuthClient, grant: Mapping[str, str], previous: Mapping[str, Any] | None
) -> set[str]:
    found = {str(grant[k]) for k in _SECRET_GRANT_FIELDS if grant.get(k)}
    if client.client_secret:
        found.add(client.client_secret)
        # The whole Basic credential too, so an echo of the header is masked whole.
        found.add(_basic_credentials(client.client_id, client.client_secret).removeprefix("Basic "))
    if previous:
        found |= {str(previous[k]) for k in ("access_token", "refresh_token") if previous.get(k)}
    return found


# The extension under which a token request carries its :class:`TokenExchange`: whoever sends
# it (an auth flow yields it through httpx) can then name a failure after the token endpoint.
TOKEN_EXCHANGE_EXTENSION = "connectorkit.token_exchange"  # noqa: S105 - a key name, no secret
# The same for the other requests an auth flow yields (a CI's OIDC endpoint, a host's identity
# endpoint): an EndpointRequest, read the same way.
SIDE_REQUEST_EXTENSION = "connectorkit.side_request"
_SIDE_EXTENSIONS = (TOKEN_EXCHANGE_EXTENSION, SIDE_REQUEST_EXTENSION)


class SideRequest(Protocol):
    """A request an auth flow yields beside the call's own, which names its own failures."""

    def failure(self, exc: httpx.HTTPError) -> _errors.ConnectorError:
        """The contract error of the request not getting an answer."""
        ...


class EndpointRequest(msgspec.Struct, frozen=True):
    """What a side request is (``label``: "the OIDC token endpoint"), to name its failures."""

    label: str
    host: str
    secrets: frozenset[str]

    def __repr__(self) -> str:
        return _shown(self, "label", "host")

    def attach(self, request: httpx.Request) -> httpx.Request:
        """``request``, carrying this description."""
        request.extensions[SIDE_REQUEST_EXTENSION] = self
        return request

    def failure(self, exc: httpx.HTTPError) -> _errors.ConnectorError:
        """The contract error of the endpoint not answering."""
        if isinstance(exc, httpx.TimeoutException):
            return _errors.TimeoutError(f"{self.label} ({self.host}) did not answer in time")
        reason = mask(str(exc), self.secrets) or type(exc).__name__
        return NetworkError(f"{self.label} ({self.host}) could not be reached: {reason}")


class TokenExchange(msgspec.Struct, frozen=True):
    """One token request and how to read its answer: built by :func:`token_exchange`.

    Split in two (the request, then its response) so that an auth flow can yield the request
    through httpx like any other; :func:`fetch_token` sends one itself.
    """

    client: OAuthClient
    grant_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    host: str
    secrets: frozenset[str]
    previous: Mapping[str, Any] | None
    now: Callable[[], float]
    quirks: Quirks

    def __repr__(self) -> str:
        return _shown(self, "client", "grant_type", "host", "now", "quirks")

    def request(self, http: httpx.Client, *, timeout: float | None) -> httpx.Request:
        """The POST to the token endpoint, with ``http``'s default headers (never its cookies).

        ``timeout`` (seconds) bounds each of its operations; ``None``: the client's default.
        """
        headers = http.headers.copy()
        headers.update(self.headers)
        request = httpx.Request("POST", self.client.token_url, content=self.body, headers=headers)
        request.extensions["timeout"] = (
            httpx.Timeout(timeout) if timeout is not None else http.timeout
        ).as_dict()
        request.extensions[TOKEN_EXCHANGE_EXTENSION] = self
        return request

    def result(self, response: httpx.Response) -> dict[str, Any]:
        """The token in ``response`` (read), or the contract error of the endpoint's answer.

        The contract's token shape: ``access_token``, ``refresh_token``, ``expires_at`` in
        epoch seconds, ``token_type``, ``scope``. A refresh token the endpoint does not rotate
        is carried over from ``previous``. A refusal is an :class:`AuthError` (with its
        ``error`` and ``error_description``); throttling is ``rate_limited``, a 5xx an
        :class:`HttpError`. No message carries a secret.
        """
        payload = _json_object(response)
        if (
            response.is_success
            and payload is not None
            and isinstance(payload.get("access_token"), str)
        ):
            token = _token_from(payload, self.client, self.previous, self.now)
            # From here on the new tokens are masked in every log line and message of the process.
            remember_secrets(str(token[k]) for k in ("access_token", "refresh_token") if k in token)
            return token
        code, description = error_fields(payload, self.quirks)
        if response.status_code in self.quirks.throttled or response.status_code >= 500:  # noqa: PLR2004
            raise _unavailable(response, code, self.host, self.quirks)
        raise _refusal(
            response.status_code,
            code,
            description,
            self.grant_type,
            self.host,
            set(self.secrets),
            assertion=self.client.auth_method == "private_key_jwt",
        )

    def failure(self, exc: httpx.HTTPError) -> _errors.ConnectorError:
        """The contract error of the request not getting an answer (``exc`` from httpx)."""
        if isinstance(exc, httpx.TimeoutException):
            return _errors.TimeoutError(f"the token endpoint ({self.host}) did not answer in time")
        reason = mask(str(exc), self.secrets) or type(exc).__name__
        return NetworkError(f"the token endpoint ({self.host}) could not be reached: {reason}")


def token_exchange(
    client: OAuthClient,
    grant: Mapping[str, str],
    *,
    previous: Mapping[str, Any] | None = None,
    now: Callable[[], float] = time.time,
    quirks: Quirks = _STANDARD,
) -> TokenExchange:
    """The token request for ``grant`` (it holds ``grant_type`` and that grant's fields).

    ``quirks`` say where the endpoint's error bodies keep their code (OAuth's by default). A
    ``private_key_jwt`` client's assertion is signed here, fresh, unless the grant has one.
    """
    if client.auth_method == "private_key_jwt" and "client_assertion" not in grant:
        if client.signer is None:  # pragma: no cover - a federated flow adds its token first
            raise ValueError("a private_key_jwt grant needs a client_assertion")
        grant = {**grant, "client_assertion_type": JWT_BEARER, "client_assertion": client.signer()}
    body, headers = _token_request_body(client, grant)
    # Never the userinfo: a token URL may carry a password (https://user:pass@host/token).
    host = urlsplit(client.token_url).netloc.rpartition("@")[2] or "the token URL"
    return TokenExchange(
        client=client,
        grant_type=grant["grant_type"],
        body=body.encode("ascii"),
        headers=tuple(headers.items()),
        host=host,
        secrets=frozenset(_secrets_of(client, grant, previous)),
        previous=previous,
        now=now,
        quirks=quirks,
    )


def exchange_of(request: httpx.Request | None) -> SideRequest | None:
    """The token exchange (or other side request of an auth flow) ``request`` is, if any."""
    if request is None:
        return None
    for name in _SIDE_EXTENSIONS:
        found = request.extensions.get(name)
        if found is not None and callable(getattr(found, "failure", None)):
            return found  # type: ignore[no-any-return]
    return None


def fetch_token(
    http: httpx.Client,
    client: OAuthClient,
    grant: Mapping[str, str],
    *,
    timeout: float | None,
    previous: Mapping[str, Any] | None = None,
    now: Callable[[], float] = time.time,
    quirks: Quirks = _STANDARD,
) -> dict[str, Any]:
    """Send one token request for ``grant`` with ``http`` and return the token it gets.

    See :class:`TokenExchange` for the token's shape and the errors; an endpoint that cannot
    be reached in time is a :class:`NetworkError` or the contract's ``TimeoutError``.
    """
    exchange = token_exchange(client, grant, previous=previous, now=now, quirks=quirks)
    try:
        response = http.send(exchange.request(http, timeout=timeout), auth=None)
    except httpx.HTTPError as exc:
        # "from None": the httpx error holds the request, whose body carries credentials.
        raise exchange.failure(exc) from None
    return exchange.result(response)


def _unavailable(
    response: httpx.Response, code: str | None, host: str, quirks: Quirks
) -> RateLimited | HttpError:
    """Throttled or failing, not refusing: the call's retry policy decides what happens next."""
    status = response.status_code
    if status in quirks.throttled:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(
            f"the token endpoint ({host}) is throttling requests (HTTP {status})",
            status=status,
            code=code,
            retry_after=retry_after,
            endpoint="token",
        )
    return HttpError(
        f"the token endpoint ({host}) answered HTTP {status}",
        status=status,
        code=code,
        endpoint="token",
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    data = loads_service(response.content)
    return data if isinstance(data, dict) else None


def _token_from(
    payload: Mapping[str, Any],
    client: OAuthClient,
    previous: Mapping[str, Any] | None,
    now: Callable[[], float],
) -> dict[str, Any]:
    token: dict[str, Any] = {"access_token": payload["access_token"]}
    refresh = payload.get("refresh_token") or (previous or {}).get("refresh_token")
    if refresh:
        token["refresh_token"] = refresh
    expires_at = _expires_at(payload, now)
    if expires_at is not None:
        token["expires_at"] = expires_at
    token_type = payload.get("token_type")
    bearer = not token_type or str(token_type).lower() == "bearer"
    token["token_type"] = "Bearer" if bearer else token_type
    scope = payload.get("scope") or (previous or {}).get("scope") or client.scope
    if scope:
        token["scope"] = scope
    return token


def _expires_at(payload: Mapping[str, Any], now: Callable[[], float]) -> int | None:
    # Some identity providers (v1 endpoints) send the numbers as strings.
    for key, base in (("expires_in", now()), ("expires_at", 0.0)):
        value = payload.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            return int(base + float(value))
        except (TypeError, ValueError):
            continue
    return None


def _refusal(  # noqa: PLR0917 - what the endpoint said, and about which grant
    status: int,
    error: str | None,
    description: str | None,
    grant_type: str,
    host: str,
    secrets: set[str],
    *,
    assertion: bool = False,
) -> AuthError:
    oauth_error = mask(error, secrets) if error else None
    oauth_description = (
        mask(str(description), secrets)[:_DESCRIPTION_LIMIT] if description else None
    )
    if oauth_error:
        said = f": {oauth_error}" + (f" ({oauth_description})" if oauth_description else "")
        hint = _HINTS.get((oauth_error, "assertion" if assertion else grant_type), "")
        message = f"the token endpoint ({host}) refused the {grant_type} grant{said}{hint}"
    elif 200 <= status < 300:  # noqa: PLR2004 - the success range
        message = f"the token endpoint ({host}) answered without an access token"
    else:
        message = f"the token endpoint ({host}) answered HTTP {status} without an OAuth error"
    return AuthError(
        message,
        status=status,
        oauth_error=oauth_error,
        oauth_error_description=oauth_description,
    )


_LOGIN_AGAIN = "; sign in again with `connectorkit auth login`"
_CHECK_CLIENT = "; check client_id and client_secret (the secret's value, not its ID)"
_CHECK_ASSERTION = (
    "; check client_id and the client assertion (the certificate the app trusts, or the "
    "federated token's issuer, subject and audience)"
)
_HINTS = {
    ("invalid_client", "assertion"): _CHECK_ASSERTION,
    ("invalid_request", "assertion"): _CHECK_ASSERTION,
    ("invalid_grant", "refresh_token"): _LOGIN_AGAIN,
    ("invalid_grant", "authorization_code"): _LOGIN_AGAIN,
    ("invalid_client", "refresh_token"): _CHECK_CLIENT,
    ("invalid_client", "authorization_code"): _CHECK_CLIENT,
    ("invalid_client", "client_credentials"): _CHECK_CLIENT,
}
