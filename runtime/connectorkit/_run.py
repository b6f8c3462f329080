"""Run: render a bound action's requests, send them with retries and auth, shape the result."""

from __future__ import annotations

import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from connectorkit import __version__
from connectorkit._errors import (
    AuthError,
    ConnectorError,
    HttpError,
    InvalidInput,
    NetworkError,
    PartialFailure,
    RateLimited,
    TimeoutError,
)
from connectorkit._raw import RequestSpec, build_raw_request, shape_raw_response
from connectorkit._redact import MASK, mask
from connectorkit._retry import Budget, RetryPolicy, parse_retry_after
from connectorkit._template import ABSENT, render_path, render_value

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit._auth import TokenStore
    from connectorkit._bind import BoundAction, BoundConnection

__all__ = ["Outcome", "Runner"]

log = logging.getLogger("connectorkit")

# Longest a single attempt may wait for the service when the caller set no Timeout.
DEFAULT_ATTEMPT_TIMEOUT_S = 120.0
_DEBUG_BODY_LIMIT = 4000
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


@dataclass(slots=True)
class _CallState:
    """Per-call counters and switches, reached from httpx's event hooks through a context var."""

    debug: bool = False
    requests: int = 0
    retries: int = 0


_current: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar(
    "connectorkit_call", default=None
)


@dataclass(slots=True)
class Outcome:
    """What a call produced: a result or an error, the new token if any, and its meta."""

    action: str
    result: Any = None
    error: ConnectorError | None = None
    token: Mapping[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _on_request(request: httpx.Request) -> None:
    state = _current.get()
    if state is None:
        return
    state.requests += 1
    if state.debug:
        log.info(
            "→ %s %s\n%s%s", request.method, request.url, _headers(request.headers), _body(request)
        )


def _on_response(response: httpx.Response) -> None:
    state = _current.get()
    if state is None or not state.debug:
        return
    response.read()
    log.info(
        "← %s %s (%s %s)\n%s%s",
        response.status_code,
        response.reason_phrase,
        response.request.method,
        response.request.url,
        _headers(response.headers),
        "  (token response hidden: it carries tokens)\n"
        if _is_form(response.request)
        else _text(response.content),
    )


def _is_form(request: httpx.Request) -> bool:
    """A form post is a token request here: its body and answer carry credentials."""
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def _headers(headers: httpx.Headers) -> str:
    return "".join(
        f"  {k}: {MASK if k.lower() in _SENSITIVE_HEADERS else v}\n" for k, v in headers.items()
    )


def _body(request: httpx.Request) -> str:
    try:
        content = request.content
    except httpx.RequestNotRead:
        return "  (streamed body)\n"
    if _is_form(request):
        return "  (form body hidden: it carries credentials)\n"
    return _text(content)


def _text(content: bytes) -> str:
    if not content:
        return ""
    shown = content[:_DEBUG_BODY_LIMIT].decode("utf-8", "replace")
    more = f" … ({len(content)} bytes)" if len(content) > _DEBUG_BODY_LIMIT else ""
    return f"  {mask(shown)}{more}\n"


def new_client() -> httpx.Client:
    """The one HTTP client a process uses (its connection pool is shared across calls)."""
    return httpx.Client(
        follow_redirects=False,
        timeout=DEFAULT_ATTEMPT_TIMEOUT_S,
        headers={"User-Agent": f"connectorkit/{__version__}"},
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )


def _service_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """Power BI's own ``{"error": {"code", "message"}}``, when the body has it."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (str(code) if code else None), (str(message) if message else None)
    if isinstance(error, str):
        return error, (
            str(body.get("error_description")) if body.get("error_description") else None
        )
    return None, None


def error_for(response: httpx.Response) -> ConnectorError:
    """The contract error for a non-success response."""
    status = response.status_code
    code, message = _service_error(response)
    text = message or f"the service answered {status} {response.reason_phrase}"
    fields: dict[str, Any] = {"status": status, "code": code}
    if status == 429:  # noqa: PLR2004
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(text, retry_after=retry_after, **fields)
    if status == 401 or (status == 403 and code == "TokenExpired"):  # noqa: PLR2004
        return AuthError(f"the service refused the credentials: {text}", **fields)
    return HttpError(text, **fields)


class _Call:
    """One invocation: its budget, retry policy, auth, and the requests it sends."""

    def __init__(
        self,
        runner: Runner,
        action: BoundAction,
        connection: BoundConnection,
        state: _CallState,
    ) -> None:
        from connectorkit._auth import ConnectionAuth  # noqa: PLC0415 - auth is only needed here

        options = action.options
        self.runner = runner
        self.action = action
        self.connection = connection
        self.state = state
        self.policy = RetryPolicy.from_options(options)
        self.budget = Budget(
            options.timeout_ms / 1000 if options.timeout_ms else None, clock=runner.clock
        )
        self.auth = ConnectionAuth(
            connection, runner.http, runner.tokens, remaining=self.budget.remaining
        )

    def _attempt_timeout(self) -> float:
        remaining = self.budget.remaining()
        return (
            DEFAULT_ATTEMPT_TIMEOUT_S
            if remaining is None
            else min(remaining, DEFAULT_ATTEMPT_TIMEOUT_S)
        )

    def _build(self, spec: RequestSpec) -> httpx.Request:
        kwargs: dict[str, Any] = {}
        headers = spec.headers
        if spec.has_json:
            try:
                text = json.dumps(spec.json, ensure_ascii=False, allow_nan=False)
            except ValueError as exc:  # NaN or Infinity: JSON cannot carry them
                raise InvalidInput(
                    f"the request body holds a value JSON cannot carry: {exc}",
                    details=[{"field": "inputs", "message": str(exc)}],
                ) from None
            kwargs["content"] = text.encode()
            headers = [*headers, ("Content-Type", "application/json")]
        elif spec.content is not None:
            kwargs["content"] = spec.content
        if spec.files is not None:
            kwargs["files"] = spec.files
        return self.runner.http.build_request(
            spec.method,
            spec.url,
            params=httpx.QueryParams(spec.params) if spec.params else None,
            headers=headers or None,
            timeout=self._attempt_timeout(),
            **kwargs,
        )

    def send(self, spec: RequestSpec) -> httpx.Response:
        """Send ``spec`` until it succeeds, a failure is final, or the retries or budget run out."""
        attempt = 0
        while True:
            request = self._build(spec)
            failure: ConnectorError
            retry_after: float | None = None
            try:
                response = self.runner.http.send(request, auth=self.auth)
            except httpx.TimeoutException as exc:
                self.budget.remaining()  # raises the contract timeout when the budget is spent
                sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
                retryable = self.policy.retries_transport_error(spec.method, request_sent=sent)
                failure = TimeoutError(
                    f"{spec.method} {request.url.host} did not answer in time "
                    f"({type(exc).__name__}){_unsure(sent=sent, retryable=retryable)}",
                    request_sent=sent or None,
                )
            except httpx.TransportError as exc:
                sent = not isinstance(exc, httpx.ConnectError)
                retryable = self.policy.retries_transport_error(spec.method, request_sent=sent)
                failure = NetworkError(
                    f"{spec.method} {request.url.host}: {type(exc).__name__}: {mask(str(exc))}"
                    f"{_unsure(sent=sent, retryable=retryable)}",
                    request_sent=sent or None,
                )
            else:
                if response.is_success:
                    return response
                failure = error_for(response)
                if isinstance(failure, AuthError):
                    raise failure  # the auth flow already refreshed once and retried
                retryable = self.policy.retries_status(spec.method, response.status_code)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if not retryable or attempt >= self.policy.max_retries:
                raise failure
            attempt += 1
            wait = self.policy.delay(attempt, retry_after)
            remaining = self.budget.remaining()
            if remaining is not None and wait >= remaining:
                raise TimeoutError(
                    f"stopped retrying: waiting {wait:.1f} s would pass the call's time budget "
                    f"({remaining:.1f} s left) after: {failure.message}",
                    last_error=failure.to_dict(),
                    retry_after=retry_after,
                )
            log.info(
                "%s: %s; retry %d of %d in %.2f s",
                self.action.definition.key,
                failure.message,
                attempt,
                self.policy.max_retries,
                wait,
            )
            self.state.retries += 1
            self.runner.sleep(wait)

    # -- the shapes of actions -------------------------------------------------------------

    def spec(self, inputs: Mapping[str, Any]) -> RequestSpec:
        """The request of a declarative action for these inputs."""
        request = self.action.definition.request
        url = self.connection.base_url + render_path(request.path, inputs)
        params = [
            (name, _query_text(value))
            for name, template in request.query.items()
            if (value := render_value(template, inputs)) is not ABSENT
        ]
        headers = [
            (name, str(value))
            for name, template in request.headers.items()
            if (value := render_value(template, inputs)) is not ABSENT
        ]
        spec = RequestSpec(method=request.method, url=url, params=params, headers=headers)
        if request.has_body:
            spec.json = render_value(request.body, inputs)
            spec.has_json = True
        return spec

    def run(self) -> Any:
        """Do the action and return its result."""
        definition = self.action.definition
        inputs = self.action.inputs
        if definition.request.hook == "raw_request":
            spec = build_raw_request(inputs, self.connection.base_url)
            response = self.send(spec)
            return shape_raw_response(response, str(inputs.get("response_type") or "json"))
        if definition.request.batch is not None:
            return self.run_batches()
        response = self.send(self.spec(inputs))
        return self.shape(_parse_body(response), response.status_code)

    def shape(self, body: Any, status: int) -> Any:
        """The action's result from a parsed response body."""
        result = self.action.definition.result
        inputs = self.action.inputs
        if result.slice is not None and isinstance(body, dict):
            items = body.get(result.slice.items)
            if isinstance(items, list):
                offset = int(inputs.get(result.slice.offset or "", 0) or 0)
                limit = inputs.get(result.slice.limit or "")
                end = None if limit is None else offset + int(limit)
                body = {**body, result.slice.items: items[offset:end]}
            return body
        if result.has_template:
            return render_value(result.template, {**inputs, "$body": body, "$status": status})
        return body

    def run_batches(self) -> dict[str, Any]:
        """Send the request once per chunk of the batch input, in order; account for each."""
        batch = self.action.definition.request.batch
        assert batch is not None  # noqa: S101 - only called for batch actions
        rows: list[Any] = list(self.action.inputs.get(batch.input) or [])
        chunks = [
            (start, rows[start : start + batch.size]) for start in range(0, len(rows), batch.size)
        ]
        committed = 0
        for number, (_, chunk) in enumerate(chunks, start=1):
            try:
                self.send(self.spec({**self.action.inputs, batch.input: chunk}))
            except ConnectorError as exc:
                if len(chunks) == 1 or (number == 1 and not _maybe_committed(exc)):
                    raise  # nothing else was sent: the plain error says it all
                raise _partial(batch.input, chunks, number, committed, exc) from None
            committed += len(chunk)
            if len(chunks) > 1:
                log.info(
                    "%s: batch %d/%d committed (%d/%d %s)",
                    self.action.definition.key,
                    number,
                    len(chunks),
                    committed,
                    len(rows),
                    batch.input,
                )
        return {batch.input: len(rows), "batches": len(chunks)}


def _unsure(*, sent: bool, retryable: bool) -> str:
    if sent and not retryable:
        return (
            "; the service may have processed the request before the connection broke, "
            "so it was not sent again (Retry On All Errors would)"
        )
    return ""


def _maybe_committed(error: ConnectorError) -> bool:
    return isinstance(error, (NetworkError, TimeoutError)) and bool(
        error.fields.get("request_sent")
    )


def _partial(
    name: str,
    chunks: list[tuple[int, list[Any]]],
    failed: int,
    committed: int,
    cause: ConnectorError,
) -> PartialFailure:
    """What was committed, what failed (and whether it may have landed), and what was not sent."""
    details: list[dict[str, Any]] = []
    for number, (start, chunk) in enumerate(chunks, start=1):
        entry: dict[str, Any] = {"batch": number, "first": start, "count": len(chunk)}
        if number < failed:
            entry["status"] = "committed"
        elif number == failed:
            entry["status"] = "unknown" if _maybe_committed(cause) else "failed"
            entry["error"] = cause.to_dict()
        else:
            entry["status"] = "not_sent"
        details.append(entry)
    total = sum(len(c) for _, c in chunks)
    uncertain = (
        " (the failed batch may have been committed: the connection broke after it was sent)"
        if _maybe_committed(cause)
        else ""
    )
    return PartialFailure(
        f"{committed} of {total} {name} committed in {failed - 1} of {len(chunks)} batches, then "
        f"batch {failed} failed: {cause.message}{uncertain}; resume from {name}[{committed}]",
        details=details,
        committed=committed,
        total=total,
        resume_from=committed,
    )


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return response.text


class Runner:
    """Runs bound actions; one per process, sharing its HTTP client and token cache."""

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        tokens: TokenStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from connectorkit._auth import TokenStore  # noqa: PLC0415 - see _Call

        self.http = http or new_client()
        self.tokens = tokens or TokenStore()
        self.sleep = sleep
        self.clock = clock

    def close(self) -> None:
        """Close the HTTP client's connections."""
        self.http.close()

    def run(self, action: BoundAction, connection: BoundConnection) -> Outcome:
        """Run ``action`` over ``connection``; errors become part of the outcome, not raised."""
        started = time.perf_counter()
        state = _CallState(debug=action.options.debug_request)
        outcome = Outcome(action=action.definition.key)
        reset = _current.set(state)
        call: _Call | None = None
        try:
            call = _Call(self, action, connection, state)
            outcome.result = call.run()
        except ConnectorError as exc:
            outcome.error = exc
        finally:
            _current.reset(reset)
            if call is not None:
                outcome.token = call.auth.new_token
            outcome.meta = {
                "requests": state.requests,
                "retries": state.retries,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        return outcome
