"""Send one request of a call, in layers (as httpx layers its client).

The layers, outermost first::

    Sender.send(spec)                 retries and the call's time budget
      └─ Sender.attempt(spec)         one attempt: build the request (its timeout taken from the
         │                            budget), send it, map the outcome to a response or an error
         └─ transmit(request, auth)   httpx.Client.send through the auth flow, which yields its
                                      token requests like any other (one renewal and retry on a
                                      refused token); the client's event hooks count and
                                      debug-log every request, token requests included. A
                                      request that got no answer becomes the contract's error,
                                      named after the token endpoint when it was a token request

Each layer has one job: an attempt never waits or retries; the retry layer never looks at a
response, only at the typed error an attempt raised; the auth flow never decides retries.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from connectorkit.core._errors import (
    BUDGET_ENDPOINT,
    AuthError,
    BudgetSpent,
    ConnectorError,
    HttpError,
    InvalidInput,
    NetworkError,
    RateLimited,
    ResponseTooLarge,
    TimeoutError,
)
from connectorkit.core._json import unrepresentable
from connectorkit.core._redact import mask
from connectorkit.http._bounds import BUDGET_EXTENSION, Budget, CallBounds
from connectorkit.http._client import DEFAULT_ATTEMPT_TIMEOUT_S, STREAMED
from connectorkit.http._responses import error_for
from connectorkit.http._retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping
    from typing import IO

    from connectorkit._bind import CallOptions
    from connectorkit.auth._flow import CallAuth
    from connectorkit.core._request import Openable, RequestSpec
    from connectorkit.http._limits import Limiter
    from connectorkit.pack._definitions import Quirks

__all__ = ["Sender", "bounds_for", "budget_for", "maybe_done", "policy_for", "transmit"]

log = logging.getLogger("connectorkit")

_SERVER_ERROR = 500
# 5xx that say the request was not acted on: Not Implemented, Service Unavailable.
_NOT_PROCESSED = frozenset({501, 503})


def policy_for(options: CallOptions) -> RetryPolicy:
    """The retry policy an action's call inputs ask for."""
    return RetryPolicy(
        max_retries=options.max_retry_count,
        delay_s=options.retry_delay_ms / 1000,
        exponential=options.use_exponential_backoff,
        retry_on_all_errors=options.retry_on_all_errors,
    )


def bounds_for(options: CallOptions, defaults: CallBounds) -> CallBounds:
    """The bounds of a call: the process's defaults with what its inputs override."""
    return defaults.for_call(
        timeout_ms=options.timeout_ms,
        max_retry_wait_ms=options.max_retry_wait_ms,
        max_response_bytes=options.max_response_bytes,
    )


def budget_for(bounds: CallBounds, clock: Callable[[], float]) -> Budget:
    """The call's budget, time and bytes: every call has one (see _bounds for the defaults)."""
    return Budget(bounds.timeout_s, clock=clock, max_response_bytes=bounds.max_response_bytes)


class Sender:
    """Sends the requests of one call: its HTTP client, auth flow, retry policy and budget."""

    def __init__(
        self,
        http: httpx.Client,
        auth: CallAuth,
        *,
        policy: RetryPolicy,
        budget: Budget,
        quirks: Quirks,
        sleep: Callable[[float], None],
        on_retry: Callable[[], None],
        label: str,
        limiter: Limiter | None = None,
        max_wait_s: float | None = None,
        service_auth: Callable[[str], CallAuth] | None = None,
    ) -> None:
        self.http = http
        self.auth = auth
        self._service_auth = service_auth
        self.policy = policy
        self.budget = budget
        self.quirks = quirks
        self._sleep = sleep
        self._on_retry = on_retry
        self._label = label
        self._limiter = limiter
        self.max_wait_s = max_wait_s

    # -- retries and budget ------------------------------------------------------------------

    def send(
        self,
        spec: RequestSpec,
        inputs: Mapping[str, Any] | None = None,
        *,
        action: str | None = None,
    ) -> httpx.Response:
        """Send ``spec`` until it succeeds, a failure is final, or the retries or budget run out.

        With ``inputs`` (of this very request: one batch's rows), every attempt first takes
        what it costs from the pack's rate budgets: those of ``action`` when the request is
        another action's (a step of a longer call), else the call's own.
        """
        attempt = 0
        # Whether an attempt may have done its work without saying so; the error raised in the
        # end carries it (``uncertain``), also when a later attempt failed plainly.
        uncertain = False
        while True:
            try:
                return self.limited_attempt(spec, inputs, action)
            except BudgetSpent as spent:
                spent.uncertain = True
                raise  # the budget ran out mid-answer: nothing is left to retry with
            except ConnectorError as failure:
                if isinstance(failure, RateLimited) and failure.endpoint == BUDGET_ENDPOINT:
                    raise  # a pack budget has no room in time: nothing was sent, nothing to retry
                uncertain = uncertain or maybe_done(failure)
                failure.uncertain = uncertain
                retryable = self.policy.retries(failure, spec.method)
                if not retryable or attempt >= self.policy.max_retries:
                    raise _explained(failure, retryable=retryable) from None
                attempt += 1
                retry_after = getattr(failure, "retry_after", None)
                if (
                    retry_after is not None
                    and self.max_wait_s is not None
                    and retry_after > self.max_wait_s
                ):
                    # Not slept in-process: the caller schedules the retry (retry_after says when).
                    raise failure from None
                wait = self.policy.delay(attempt, retry_after)
                remaining = self.budget.remaining()
                if remaining is not None and wait >= remaining:
                    stopped = TimeoutError(
                        f"stopped retrying: waiting {wait:.1f} s would pass the call's time "
                        f"budget ({remaining:.1f} s left) after: {failure.message}",
                        last_error=failure.to_dict(),
                        retry_after=retry_after,
                    )
                    stopped.uncertain = uncertain
                    raise stopped from None
                log.info(
                    "%s: %s; retry %d of %d in %.2f s",
                    self._label,
                    failure.message,
                    attempt,
                    self.policy.max_retries,
                    wait,
                )
                self._on_retry()
                self._sleep(wait)

    # -- rate budgets ------------------------------------------------------------------------

    def limited_attempt(
        self, spec: RequestSpec, inputs: Mapping[str, Any] | None, action: str | None = None
    ) -> httpx.Response:
        """One attempt, inside the pack's rate budgets (waiting for room, or ``rate_limited``)."""
        if self._limiter is None or inputs is None:
            return self.attempt(spec)
        tickets = self._limiter.admit(action or self._label, inputs, self.budget.remaining)
        committed = False
        try:
            response = self.attempt(spec)
            committed = True
            return response
        finally:
            self._limiter.done(tickets, committed=committed)

    # -- one attempt -------------------------------------------------------------------------

    def attempt(self, spec: RequestSpec) -> httpx.Response:
        """Send ``spec`` once: the success response, or the contract error of what went wrong.

        A streamed answer (``spec.stream``) comes back unread; the caller closes it.
        """
        opened: list[IO[bytes]] = []
        try:
            request = self.build(spec, opened)
            auth = self.auth_of(spec) if spec.credentials else None
            response = transmit(self.http, request, auth, budget=self.budget, stream=spec.stream)
        finally:
            for reader in opened:
                reader.close()
        if response.is_success:
            return response
        if spec.stream:
            try:
                response.read()  # an error's body is small: the error names what it says
            finally:
                response.close()
        raise error_for(response, self.quirks)

    def auth_of(self, spec: RequestSpec) -> CallAuth:
        """The auth flow of the service ``spec`` goes to: the connection's, or another's."""
        if spec.service is None or self._service_auth is None:
            return self.auth
        return self._service_auth(spec.service)

    def build(self, spec: RequestSpec, opened: list[IO[bytes]] | None = None) -> httpx.Request:
        """The ``httpx.Request`` of ``spec``, its timeout what is left of the budget.

        Files it streams from disk are opened here (for this attempt) and added to ``opened``
        for the caller to close once the request is sent.
        """
        kwargs, headers = _body(spec, opened)
        remaining = self.budget.remaining()
        timeout = (
            DEFAULT_ATTEMPT_TIMEOUT_S
            if remaining is None
            else min(remaining, DEFAULT_ATTEMPT_TIMEOUT_S)
        )
        # Built directly rather than by Client.build_request: the client's default headers are
        # merged as it would, but no cookie a response set is sent with another call's request
        # (serve shares one client between connections).
        merged = self.http.headers.copy()
        if headers:
            merged.update(headers)
        try:
            url = _url_of(spec.url, tuple(spec.params))
            request = httpx.Request(spec.method, url, headers=merged, **kwargs)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            # What the inputs put into the URL made one httpx refuses: the caller's to fix.
            raise InvalidInput(
                f"the request's URL cannot be sent: {exc}",
                details=[{"field": "url", "message": f"makes a URL that cannot be sent: {exc}"}],
            ) from None
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        request.extensions[BUDGET_EXTENSION] = self.budget
        if spec.stream:
            request.extensions[STREAMED] = True
        return request


# The URLs of recent requests, parsed: serve's calls of one action send the same URL again and
# again, and httpx's parsing of it is the largest part of building a request. An httpx.URL is
# immutable, so one object serves every request of that URL and query.
_URLS: dict[tuple[str, tuple[Any, ...]], httpx.URL] = {}
_MAX_URLS = 512


def _url_of(url: str, params: tuple[Any, ...]) -> httpx.URL:
    """``url`` with the query parameters ``params`` added, parsed (once for recent ones)."""
    key = (url, params)
    try:
        parsed = _URLS.get(key)
    except TypeError:  # a parameter of another type than text: not kept
        return _parse_url(url, params)
    if parsed is None:
        parsed = _parse_url(url, params)
        if len(_URLS) >= _MAX_URLS:
            _URLS.clear()  # (a plain bound: the next requests fill it again)
        _URLS[key] = parsed
    return parsed


def _parse_url(url: str, params: tuple[Any, ...]) -> httpx.URL:
    if not params:
        return httpx.URL(url)
    if "?" in url:
        # A URL a service handed out keeps its own query (a signature), with ours added.
        return httpx.URL(url).copy_merge_params(params)
    return httpx.URL(url, params=params)


_CHUNK = 64 * 1024


def _body(
    spec: RequestSpec, opened: list[IO[bytes]] | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The body arguments of ``spec``'s request, and its headers with the body's own."""
    kwargs: dict[str, Any] = {}
    headers = spec.headers
    if spec.has_json:
        kwargs["content"] = _json_body(spec.json)
        headers = [*headers, ("Content-Type", "application/json")]
    elif spec.content is not None:
        kwargs["content"] = spec.content
    elif spec.upload is not None:
        reader = spec.upload.open()
        if opened is not None:
            opened.append(reader)
        kwargs["content"] = _chunks(reader)
        headers = [*headers, ("Content-Length", str(spec.upload.size))]
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", spec.upload.content_type))
    if spec.files is not None:
        kwargs["files"] = [
            (name, (filename, _readable(data, opened), kind))
            for name, (filename, data, kind) in spec.files
        ]
    return kwargs, headers


_ENCODE = msgspec.json.Encoder().encode
_NOT_FINITE = "Out of range float values are not JSON compliant"


def _json_body(value: Any) -> bytes:
    """``value`` as compact JSON (msgspec); what JSON cannot carry is the caller's error."""
    try:
        body = _ENCODE(value)
    except (TypeError, ValueError, OverflowError) as exc:  # another type; a lone surrogate
        raise InvalidInput(
            f"the request body holds a value JSON cannot carry: {exc}",
            details=[{"field": "inputs", "message": str(exc)}],
        ) from None
    # msgspec writes NaN and infinity as null: a body with a null is looked through for them.
    if b"null" in body and any(why.startswith("is a number") for _, why in unrepresentable(value)):
        raise InvalidInput(
            f"the request body holds a value JSON cannot carry: {_NOT_FINITE}",
            details=[{"field": "inputs", "message": _NOT_FINITE}],
        )
    return body


def _chunks(reader: IO[bytes]) -> Iterator[bytes]:
    """A file's bytes in chunks, for a body streamed from disk."""
    while chunk := reader.read(_CHUNK):
        yield chunk


def _readable(data: bytes | Openable, opened: list[IO[bytes]] | None) -> bytes | IO[bytes]:
    """A multipart file's bytes, or a reader of them opened for this attempt."""
    if isinstance(data, bytes):
        return data
    reader = data.open()
    if opened is not None:
        opened.append(reader)
    return reader


def transmit(
    http: httpx.Client,
    request: httpx.Request,
    auth: httpx.Auth | CallAuth | None,
    *,
    budget: Budget | None = None,
    stream: bool = False,
) -> httpx.Response:
    """Send ``request`` through ``auth``'s flow; a request that got no answer is a contract error.

    Whichever request of the flow failed is named: the call's own (``TimeoutError`` or
    ``NetworkError``, with ``request_sent`` when it may have arrived; the contract timeout when
    ``budget`` is spent) or a token request the flow yielded (the token endpoint's error).
    """
    if auth is not None and BUDGET_EXTENSION in request.extensions:
        auth = _Budgeted(auth, request.extensions[BUDGET_EXTENSION])
    try:
        return http.send(request, auth=auth, stream=stream)  # type: ignore[arg-type]  # a CallAuth is an httpx.Auth
    except httpx.HTTPError as exc:
        from connectorkit.auth._oauth import exchange_of  # noqa: PLC0415 - failures only

        failed = _request_of(exc)
        exchange = exchange_of(failed)
        if exchange is not None:
            # "from None": the httpx error holds the request, whose body carries credentials.
            raise exchange.failure(exc) from None
        if isinstance(exc, httpx.TimeoutException):
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            if budget is not None:
                try:
                    budget.remaining()  # raises the contract timeout when the budget is spent
                except TimeoutError as spent:
                    spent.request_sent = sent or None  # the request may still have been processed
                    raise spent from None
            raise TimeoutError(
                f"{request.method} {request.url.host} did not answer in time "
                f"({type(exc).__name__})",
                request_sent=sent or None,
            ) from None
        if isinstance(exc, httpx.TransportError):
            sent = not isinstance(exc, httpx.ConnectError)
            raise NetworkError(
                f"{request.method} {request.url.host}: {type(exc).__name__}: {mask(str(exc))}",
                request_sent=sent or None,
            ) from None
        raise


class _Budgeted(httpx.Auth):
    """An auth flow whose own requests (a token's) carry the call's budget too."""

    def __init__(self, flow: httpx.Auth | CallAuth, budget: Budget) -> None:
        self._flow = flow
        self._budget = budget
        self.requires_request_body = getattr(flow, "requires_request_body", False)
        self.requires_response_body = getattr(flow, "requires_response_body", False)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The wrapped flow, each request it yields stamped with the budget."""
        flow = self._flow.sync_auth_flow(request)
        try:
            outgoing = next(flow)
            while True:
                outgoing.extensions.setdefault(BUDGET_EXTENSION, self._budget)
                outgoing = flow.send((yield outgoing))
        except StopIteration:
            return


def _request_of(exc: httpx.HTTPError) -> httpx.Request | None:
    """The request ``exc`` happened to, when httpx recorded it."""
    try:
        return exc.request
    except RuntimeError:  # raised outside of a request's context (e.g. decoding a body)
        return None


def maybe_done(error: ConnectorError) -> bool:
    """Whether the service may have done the work of a request that ended with ``error``.

    The connection broke or the answer did not come after the request left, a 5xx came back
    (but 501 and 503, which say the request was not acted on, and none from the token
    endpoint, whose requests do no work), or the answer was too large to read.
    """
    if isinstance(error, ResponseTooLarge):
        return True
    if isinstance(error, NetworkError | TimeoutError):
        return bool(error.request_sent)
    if isinstance(error, HttpError) and not isinstance(error, RateLimited | AuthError):
        if error.status is None:  # a budget with no room: nothing was sent
            return False
        refused = error.status in _NOT_PROCESSED or error.endpoint == "token"
        return error.status is not None and error.status >= _SERVER_ERROR and not refused
    return False


def _explained(failure: ConnectorError, *, retryable: bool) -> ConnectorError:
    """``failure``, saying so when a request that may have been processed was not sent again."""
    if isinstance(failure, NetworkError | TimeoutError) and failure.request_sent and not retryable:
        failure.message += (
            "; the service may have processed the request before the connection broke, "
            "so it was not sent again (Retry On All Errors would)"
        )
        failure.args = (failure.message,)
    return failure
