"""Run: render a bound action's requests, send them with retries and auth, shape the result."""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from connectorkit.auth._kinds import new_call_auth
from connectorkit.call._send import Sender, bounds_for, budget_for, policy_for
from connectorkit.core._errors import ConnectorError, HttpError, InvalidRequest
from connectorkit.core._request import RequestSpec
from connectorkit.core._template import ABSENT, render_path, render_value
from connectorkit.http._bounds import CallBounds
from connectorkit.http._client import CallState, current_call, new_client
from connectorkit.http._responses import parse_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    import httpx

    from connectorkit._bind import BoundAction, BoundConnection, CallOptions
    from connectorkit.auth._flow import CallAuth
    from connectorkit.bulk._push import ColumnMemory
    from connectorkit.http._limits import Limiter
    from connectorkit.operations._handles import OperationBook
    from connectorkit.pack._budgets import BudgetDef
    from connectorkit.pack._definitions import EachDef, Pack
    from connectorkit.state import JobLedger, State
    from connectorkit.state._token_store import TokenStore

__all__ = ["Outcome", "Runner"]

_S = TypeVar("_S", bound="_Sending")

log = logging.getLogger("connectorkit")


class Outcome(msgspec.Struct):
    """What a call produced: a result or an error, the new token if any, and its meta."""

    action: str
    result: Any = None
    error: ConnectorError | None = None
    token: Mapping[str, Any] | None = None
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class _Sending:
    """A call's sending side: its connection's auth flow and the sender of its requests.

    The sender carries the call's retries, time budget (counted from here) and rate budgets.
    """

    def __init__(  # noqa: PLR0917 - what a call's requests are sent with
        self,
        runner: Runner,
        options: CallOptions,
        label: str,
        connection: BoundConnection,
        state: CallState,
        limiter: Limiter | None = None,
    ) -> None:
        # The auth flow of the connection's kind loads only for a call that got this far. It and
        # the process's HTTP client (made on first use) are ready before the time budget counts.
        self.runner = runner
        self.connection = connection
        http = runner.http
        bounds = bounds_for(options, runner.bounds)
        budget = budget_for(bounds, runner.clock)
        self.auth: CallAuth = new_call_auth(
            connection, http, runner.tokens, remaining=budget.remaining
        )
        self._budget = budget
        self._service_auths: dict[str, CallAuth] = {}
        self._service_urls: dict[str, str] = {}

        def count_retry() -> None:
            state.retries += 1

        self.sender = Sender(
            http,
            self.auth,
            policy=policy_for(options),
            budget=budget,
            quirks=connection.quirks,
            sleep=runner.sleep,
            on_retry=count_retry,
            label=label,
            limiter=limiter,
            max_wait_s=bounds.max_retry_wait_s,
            service_auth=self.service_auth,
        )
        self.limiter = limiter
        self.send = self.sender.send
        # What the call adds to the response's meta (an operation's handle, pages read).
        self.notes: dict[str, Any] = {}

    def service_auth(self, name: str) -> CallAuth:
        """The auth flow of the pack's service ``name``: a token for its scope (made once)."""
        auth = self._service_auths.get(name)
        if auth is None:
            auth = self._service_auths[name] = new_call_auth(
                self.connection.for_service(name),
                self.runner.http,
                self.runner.tokens,
                remaining=self._budget.remaining,
            )
        return auth

    def base_url_of(self, service: str | None) -> str:
        """The root of ``service``'s paths (None: the connection's ``base_url``)."""
        if service is None:
            return self.connection.base_url
        known = self._service_urls.get(service)
        if known is None:
            known = self._service_urls[service] = self.connection.for_service(service).base_url
        return known


class _Call(_Sending):
    """One invocation: the bound action and connection, and the sender of its requests."""

    def __init__(
        self,
        runner: Runner,
        action: BoundAction,
        connection: BoundConnection,
        state: CallState,
        limiter: Limiter | None = None,
        *,
        rows: Iterable[Any] | None = None,
        watch: Callable[[Mapping[str, Any]], None] | None = None,
        pack: Pack | None = None,
        emit: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__(runner, action.options, action.definition.key, connection, state, limiter)
        self.rows = rows
        self.watch = watch
        self.pack = pack
        self.emit = emit
        self.action = action

    # -- the shapes of actions -------------------------------------------------------------

    def spec(self, inputs: Mapping[str, Any]) -> RequestSpec:
        """The request of a declarative action for these inputs."""
        definition = self.action.definition
        return definition.request_for(self.base_url_of(definition.service), inputs)

    def run(self) -> Any:
        """Do the action and return its result."""
        definition = self.action.definition
        inputs = self.action.inputs
        if definition.multistep is not None:
            from connectorkit.operations._run import run_multistep  # noqa: PLC0415

            return run_multistep(self.multistep_context())
        if definition.request.hook is not None:
            from connectorkit.pack._hooks import hook_named  # noqa: PLC0415 - hook actions only

            hook = hook_named(definition.request.hook)
            if hook is None:  # pragma: no cover - the pack checker refuses unknown hooks
                raise ConnectorError(f"no hook named '{definition.request.hook}' is registered")
            spec = hook.build(inputs, self.base_url_of(definition.service))
            spec.service = definition.service
            return hook.shape(self.send(spec, inputs), inputs)
        if definition.request.batch is not None:
            return self.run_batches()
        if definition.request.each is not None:
            return self.run_each(definition.request.each)
        response = self.send(self.spec(inputs), inputs)
        if self.limiter is not None:
            self.limiter.reset(definition.key, inputs)
        if definition.result.encoding == "base64":
            return {
                "encoding": "base64",
                "content_type": response.headers.get("Content-Type"),
                "data": base64.b64encode(response.content).decode("ascii"),
            }
        body = parse_body(response)
        if definition.remember:
            self.remember(body)
        return self.shape(body, response.status_code)

    def multistep_context(self) -> Any:
        """What the call's multi-request part sees of it (``operations``' call context)."""
        from connectorkit.call._multistep import MultistepContext  # noqa: PLC0415

        return MultistepContext(
            action=self.action,
            connection=self.connection,
            sender=self.sender,
            spec=self.spec,
            pack=self.pack,
            book=lambda: self.runner.operations,
            sleep=self.runner.sleep,
            wall=self.runner.wall,
            notes=self.notes,
            watch=self.watch,
            emit=self.emit,
            base_url_of=self.base_url_of,
        )

    def resume(self, record: dict[str, Any], *, cancel: bool = False) -> Any:
        """Go on with (or cancel) an operation handle this action left running."""
        from connectorkit.operations._run import (  # noqa: PLC0415
            cancel_operation,
            resume_operation,
        )

        context = self.multistep_context()
        if cancel:
            return cancel_operation(context, record)
        return resume_operation(context, record)

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

    def run_each(self, each: EachDef) -> dict[str, Any]:
        """The request, then one GET per item of its list; the items' lists joined in order."""
        first = parse_body(self.send(self.spec(self.action.inputs)))
        items = first.get(each.items) if isinstance(first, dict) else None
        if not isinstance(items, list):
            raise HttpError(
                f"the answer has no list under '{each.items}' to go through",
                status=200,
            )
        joined: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            service = self.action.definition.service
            url = self.base_url_of(service) + render_path(each.path, item)
            body = parse_body(self.send(RequestSpec(method="GET", url=url, service=service)))
            part = body.get(each.collect) if isinstance(body, dict) else None
            if isinstance(part, list):
                joined.extend(part)
        log.info("%s: %d lists joined", self.action.definition.key, len(items))
        return {each.collect: joined}

    def run_batches(self) -> dict[str, Any]:
        """Check, split and push the batch input as a job (see :mod:`connectorkit.bulk._push`)."""
        from connectorkit.bulk._push import BulkPush  # noqa: PLC0415 - batch actions only

        batch = self.action.definition.request.batch
        assert batch is not None  # noqa: S101 - only called for batch actions
        return BulkPush(
            label=self.action.definition.key,
            batch=batch,
            inputs=self.action.inputs,
            spec=self.spec,
            send=self.send,
            jobs=self.runner.jobs,
            memory=self.runner.memory,
            get=self.get,
            rows=self.rows,
            watch=self.watch,
            digests=self.runner.ledger_outlives_call,
        ).run()

    def get(self, path: str) -> Any:
        """The parsed body of a GET of ``path`` under the action's base URL."""
        service = self.action.definition.service
        url = self.base_url_of(service) + path
        response = self.send(RequestSpec(method="GET", url=url, service=service))
        return parse_body(response)

    def remember(self, body: Any) -> None:
        """Keep what the action's ``remember`` blocks name, after it succeeded."""
        values = dict(self.action.inputs)
        if isinstance(body, dict):
            values.update({f"$body.{k}": v for k, v in body.items()})
        for spec in self.action.definition.remember:
            parts = [render_value(t, values) for t in spec.key]
            value = render_value(spec.value, values)
            if ABSENT in parts or value is ABSENT:
                continue
            self.runner.memory.remember(spec.name + "/" + "/".join(map(str, parts)), value)


def _said(error: ConnectorError) -> list[str]:
    """What the service said in an error, besides its message (codes and descriptions)."""
    names = ("code", "oauth_error", "oauth_error_description")
    return [str(v) for n in names if (v := getattr(error, n, None))]


class Runner:
    """Runs bound actions; one per process, sharing its HTTP client and token cache."""

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        tokens: TokenStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        state_url: str | None = None,
        state: State | None = None,
        jobs: JobLedger | None = None,
        memory: ColumnMemory | None = None,
        bounds: CallBounds | None = None,
        single_call: bool = False,
    ) -> None:
        self._http = http
        # This runner serves one call and goes (``invoke``): a job ledger in a memory store
        # dies with it, so nothing can resume from it.
        self.single_call = single_call
        # The process's bounds of every call (the environment's, unless given).
        self.bounds = bounds or CallBounds.from_environment()
        self._jobs = jobs
        self._memory = memory
        self._http_lock = threading.Lock()
        self._tokens = tokens
        self._state = state
        self._state_url = state_url
        self._limiters: dict[tuple[BudgetDef, ...], Limiter] = {}
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self._operations: OperationBook | None = None

    def close(self) -> None:
        """Close the HTTP client's connections and the state store's."""
        if self._http is not None:
            self._http.close()
        if self._state is not None:
            self._state.close()

    @property
    def state(self) -> State:
        """The state store (``--state``), opened on first use: a call needing none never opens it.

        A store that cannot be opened as configured is the request's ``invalid_request``.
        """
        if self._state is None:
            with self._http_lock:
                if self._state is None:
                    from connectorkit.state import StateError, open_state  # noqa: PLC0415

                    try:
                        self._state = open_state(self._state_url)
                    except StateError as exc:
                        raise InvalidRequest(f"the state store: {exc}") from None
        return self._state

    @property
    def ledger_outlives_call(self) -> bool:
        """Whether a later call can read this call's job ledger (so its batches are digested)."""
        return not (self.single_call and self.state.store.url.startswith("memory:"))

    @property
    def jobs(self) -> JobLedger:
        """The ledger of push jobs: in the state store, so a push resumes in another process."""
        if self._jobs is None:
            with self._http_lock:
                if self._jobs is None:
                    from connectorkit.state._ledger import JobLedger  # noqa: PLC0415

                    self._jobs = JobLedger(lambda: self.state)
        return self._jobs

    @property
    def memory(self) -> ColumnMemory:
        """What actions remembered (a table's columns), in the state store."""
        if self._memory is None:
            with self._http_lock:
                if self._memory is None:
                    from connectorkit.bulk._jobs import StoreMemory  # noqa: PLC0415

                    self._memory = StoreMemory(lambda: self.state)
        return self._memory

    @property
    def operations(self) -> OperationBook:
        """The operation handles, in the state store: any worker resumes them."""
        if self._operations is None:
            with self._http_lock:
                if self._operations is None:
                    from connectorkit.operations._handles import OperationBook  # noqa: PLC0415

                    self._operations = OperationBook(lambda: self.state)
        return self._operations

    @property
    def tokens(self) -> TokenStore:
        """Where tokens live: the state store (opened when a token is first looked up there)."""
        if self._tokens is None:
            with self._http_lock:
                if self._tokens is None:
                    from connectorkit.state._tokens import StoreTokens  # noqa: PLC0415

                    self._tokens = StoreTokens(lambda: self.state, sleep=self.sleep)
        return self._tokens

    def limiter(self, budgets: tuple[BudgetDef, ...]) -> Limiter:
        """The limiter of a pack's rate budgets, on the state store."""
        limiter = self._limiters.get(budgets)
        if limiter is None:
            state = self.state
            with self._http_lock:
                from connectorkit.http._limits import Limiter  # noqa: PLC0415

                limiter = self._limiters.setdefault(
                    budgets, Limiter(state, budgets, sleep=self.sleep)
                )
        return limiter

    @property
    def http(self) -> httpx.Client:
        """The shared client, made on first use (a request refused at bind never needs one)."""
        if self._http is None:
            with self._http_lock:  # serve's workers may all ask at once
                if self._http is None:
                    self._http = new_client()
        return self._http

    def run(
        self,
        action: BoundAction,
        connection: BoundConnection,
        budgets: tuple[BudgetDef, ...] = (),
        *,
        rows: Iterable[Any] | None = None,
        watch: Callable[[Mapping[str, Any]], None] | None = None,
        pack: Pack | None = None,
        emit: Callable[[Any], None] | None = None,
        resume: dict[str, Any] | None = None,
        cancel: bool = False,
    ) -> Outcome:
        """Run ``action`` over ``connection``; errors become part of the outcome, not raised.

        ``budgets`` are the pack's rate budgets: those covering ``action`` (or another action
        whose request it sends) are taken from before each of its requests. ``rows``: for a
        batch action, its elements as a stream (read from a file) instead of the batch input's
        list; ``watch`` is told the call's progress (a push's batches, an operation's polls).
        ``pack``: the action's pack, for steps that send another action's request. ``emit``:
        where a paged call streams its items (``stream``). ``resume``: the record of an
        operation handle to go on with instead of starting anew (``cancel``: to cancel).
        """
        key = action.definition.key
        multistep = action.definition.multistep
        keys = {key, *(multistep.step_actions if multistep is not None else ())}

        def make(state: CallState, limiter: Limiter | None) -> _Call:
            return _Call(
                self,
                action,
                connection,
                state,
                limiter,
                rows=rows,
                watch=watch,
                pack=pack,
                emit=emit,
            )

        def work(call: _Call) -> Any:
            if resume is not None:
                return call.resume(resume, cancel=cancel)
            return call.run()

        return self.carry(key, action.options, connection, (keys, budgets), make, work)

    def carry(  # noqa: PLR0917 - one call's parts, each needed once
        self,
        label: str,
        options: CallOptions,
        connection: BoundConnection,
        budgeted: tuple[set[str], tuple[BudgetDef, ...]],
        make: Callable[[CallState, Limiter | None], _S],
        work: Callable[[_S], Any],
    ) -> Outcome:
        """Carry out one call: its sending side made, its work done, its outcome (never raises).

        ``budgeted``: the actions whose requests the call sends, and the pack's rate budgets
        (those covering one of them are taken from). Errors become the outcome's, with the
        pack's hint; the token the call obtained and its meta are kept.
        """
        started = time.perf_counter()
        state = CallState(debug=options.debug_request)
        outcome = Outcome(action=label)
        reset = current_call.set(state)
        call: _S | None = None
        keys, budgets = budgeted
        try:
            covered = any(k in b.actions or k in b.reset_by for b in budgets for k in keys)
            call = make(state, self.limiter(budgets) if covered else None)
            outcome.result = work(call)
        except ConnectorError as exc:
            from connectorkit.pack._value_sets import hint_for  # noqa: PLC0415 - failures only

            hint = hint_for(connection.hints, exc.message, *_said(exc))
            if hint is not None and exc.hint is None:
                exc.add_hint(hint)
            outcome.error = exc
        finally:
            current_call.reset(reset)
            if call is not None and connection.stored is None:
                # A stored connection's token stays in the store, out of the response.
                outcome.token = call.auth.new_token
            outcome.meta = {
                "requests": state.requests,
                "retries": state.retries,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            if call is not None and call.notes:
                outcome.meta.update(call.notes)
        return outcome
