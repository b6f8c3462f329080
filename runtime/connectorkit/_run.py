"""Run: render a bound action's requests, send them with retries and auth, shape the result."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

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
from connectorkit._http import (
    DEFAULT_ATTEMPT_TIMEOUT_S,
    CallState,
    current_call,
    error_for,
    new_client,
    parse_body,
)
from connectorkit._raw import RequestSpec, build_raw_request, shape_raw_response
from connectorkit._redact import mask
from connectorkit._retry import Budget, RetryPolicy, parse_retry_after
from connectorkit._template import ABSENT, render_path, render_value

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit._auth import TokenStore
    from connectorkit._bind import BoundAction, BoundConnection

__all__ = ["Outcome", "Runner"]

log = logging.getLogger("connectorkit")


@dataclass(slots=True)
class Outcome:
    """What a call produced: a result or an error, the new token if any, and its meta."""

    action: str
    result: Any = None
    error: ConnectorError | None = None
    token: Mapping[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class _Call:
    """One invocation: its budget, retry policy, auth, and the requests it sends."""

    def __init__(
        self,
        runner: Runner,
        action: BoundAction,
        connection: BoundConnection,
        state: CallState,
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
                text = json.dumps(
                    spec.json, ensure_ascii=False, allow_nan=False, separators=(",", ":")
                )
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
            params=tuple(spec.params) or None,
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
            except (RateLimited, HttpError) as exc:
                # The token endpoint, reached from the auth flow, was throttled or failed: the
                # token request did no work, so it is as safe to repeat as the policy allows.
                failure = exc
                retryable = True
                retry_after = exc.fields.get("retry_after")
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
            body = render_value(request.body, inputs)
            # A body made only of optional inputs, none given, is left out rather than sent empty.
            if body is not ABSENT and not (body == {} and request.body):
                spec.json = body
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
        if definition.result.encoding == "base64":
            return {
                "encoding": "base64",
                "content_type": response.headers.get("Content-Type"),
                "data": base64.b64encode(response.content).decode("ascii"),
            }
        return self.shape(parse_body(response), response.status_code)

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

        self._http = http
        self._http_lock = threading.Lock()
        self.tokens = tokens or TokenStore()
        self.sleep = sleep
        self.clock = clock

    def close(self) -> None:
        """Close the HTTP client's connections."""
        if self._http is not None:
            self._http.close()

    @property
    def http(self) -> httpx.Client:
        """The shared client, made on first use (a request refused at bind never needs one)."""
        if self._http is None:
            with self._http_lock:  # serve's workers may all ask at once
                if self._http is None:
                    self._http = new_client()
        return self._http

    def run(self, action: BoundAction, connection: BoundConnection) -> Outcome:
        """Run ``action`` over ``connection``; errors become part of the outcome, not raised."""
        started = time.perf_counter()
        state = CallState(debug=action.options.debug_request)
        outcome = Outcome(action=action.definition.key)
        reset = current_call.set(state)
        call: _Call | None = None
        try:
            call = _Call(self, action, connection, state)
            outcome.result = call.run()
        except ConnectorError as exc:
            outcome.error = exc
        finally:
            current_call.reset(reset)
            if call is not None:
                outcome.token = call.auth.new_token
            outcome.meta = {
                "requests": state.requests,
                "retries": state.retries,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        return outcome
