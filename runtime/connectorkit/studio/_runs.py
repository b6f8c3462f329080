"""Runs started from the page, each through the runtime in a worker thread.

The page polls a run for its progress, the HTTP exchanges it made (masked), and finally its
envelope.

Every text a run hands to the page passes through :meth:`Run.to_json`, which masks the run's
secrets (connection secrets, and every token the call used or obtained) wherever they occur.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import EXIT_CODES
from connectorkit.core._redact import MASK, mask
from connectorkit.studio._recipes import TOKEN_FIELDS, token_values

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from connectorkit.call._run import Runner
    from connectorkit.pack._definitions import Pack

__all__ = ["Exchange", "Progress", "Run", "RunBook", "masked"]

# What the page shows of one body; a 10,000-row batch is far longer than anyone reads.
BODY_PREVIEW_CHARS = 6000
_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})
_KEPT_RUNS = 50


@dataclass(slots=True)
class Exchange:
    """One HTTP request the call sent and the answer it got, as shown on the page."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: str
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: str = ""
    duration_ms: float | None = None
    started: float = field(default_factory=time.perf_counter)

    def to_json(self, secrets: list[str]) -> dict[str, Any]:
        """The exchange for the page, every secret masked."""

        def pairs(items: list[tuple[str, str]]) -> list[list[str]]:
            return [[k, mask(v, secrets)] for k, v in items]

        return {
            "method": self.method,
            "url": mask(self.url, secrets),
            "request_headers": pairs(self.request_headers),
            "request_body": mask(self.request_body, secrets),
            "status": self.status,
            "reason": self.reason,
            "response_headers": pairs(self.response_headers),
            "response_body": mask(self.response_body, secrets),
            "duration_ms": self.duration_ms,
        }


@dataclass(slots=True)
class Progress:
    """How far a push of many items in batches has come."""

    items_total: int
    batch_size: int
    items_done: int = 0
    batches_done: int = 0
    in_flight: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def batches_total(self) -> int:
        """How many requests the whole push takes."""
        return max(1, math.ceil(self.items_total / self.batch_size))

    def to_json(self) -> dict[str, Any]:
        """The figures the progress view shows, with the time left at the rate so far."""
        elapsed = time.monotonic() - self.started
        left = self.items_total - self.items_done
        eta = elapsed / self.items_done * left if self.items_done else None
        return {
            "items_total": self.items_total,
            "items_done": self.items_done,
            "batches_total": self.batches_total,
            "batches_done": self.batches_done,
            "in_flight": self.in_flight,
            "elapsed_s": round(elapsed, 2),
            "eta_s": None if eta is None else round(eta, 2),
        }


@dataclass(slots=True)
class Run:
    """One action run from the page."""

    id: str
    action: str
    request: dict[str, Any]
    secrets: list[str]
    # Made in the worker thread once the run is done: for a big push they are megabytes.
    make_recipes: Callable[[], dict[str, str]]
    recipes: dict[str, str] | None = None
    progress: Progress | None = None
    # How a long call's operation goes (its handle, status, percent), as the runtime says.
    operation: dict[str, Any] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    response: dict[str, Any] | None = None
    exit_code: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set once the response is in (for a caller that must not go on before the run is over).
    done: threading.Event = field(default_factory=threading.Event)

    def to_json(self) -> dict[str, Any]:
        """The run as the page polls it: state, progress, exchanges, then envelope and recipes."""
        with self.lock:
            secrets = list(self.secrets)
            exchanges = [e.to_json(secrets) for e in self.exchanges]
            response = self.response
            progress = self.progress.to_json() if self.progress is not None else None
            operation = dict(self.operation) if self.operation is not None else None
        return {
            "id": self.id,
            "action": self.action,
            "state": "running" if response is None else "done",
            "progress": progress,
            "operation": operation,
            "exchanges": exchanges,
            "response": None if response is None else masked(response, secrets),
            "exit_code": self.exit_code,
            "recipes": None
            if self.recipes is None
            else {k: mask(v, secrets) for k, v in self.recipes.items()},
        }

    # -- the runtime's HTTP client reports here -----------------------------------------

    def on_request(self, request: httpx.Request) -> None:
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers=_headers(request.headers),
            request_body=_request_body(request),
        )
        with self.lock:
            self.exchanges.append(exchange)
            if self.progress is not None and not _is_form(request):
                self.progress.in_flight += 1

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        with self.lock:
            exchange = next((e for e in reversed(self.exchanges) if e.status is None), None)
            if exchange is not None:
                exchange.status = response.status_code
                exchange.reason = response.reason_phrase
                exchange.response_headers = _headers(response.headers)
                exchange.response_body = (
                    "(hidden: a token response carries credentials)"
                    if _is_form(request)
                    else _preview(response.content)
                )
                exchange.duration_ms = round((time.perf_counter() - exchange.started) * 1000, 1)
            progress = self.progress
            if progress is not None and not _is_form(request):
                progress.in_flight = max(0, progress.in_flight - 1)
                if response.is_success:
                    progress.batches_done += 1
                    progress.items_done = min(
                        progress.items_total, progress.items_done + progress.batch_size
                    )

    def watch(self, progress: Mapping[str, Any]) -> None:
        """The runtime's report of how a long call goes (see ``Runner.run``'s ``watch``)."""
        operation = progress.get("operation")
        if isinstance(operation, dict):
            with self.lock:
                self.operation = dict(operation)

    def finish(self, response: dict[str, Any], exit_code: int) -> None:
        token = response.get("token")
        recipes = self.make_recipes()
        with self.lock:
            self.recipes = recipes
            self.secrets += token_values(token)
            if self.progress is not None:
                self.progress.in_flight = 0
            self.response, self.exit_code = response, exit_code
        self.done.set()


_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "connectorkit_studio_run", default=None
)


class RunBook:
    """Starts runs on one shared :class:`Runner` and keeps the latest ones for the page."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        hooks = runner.http.event_hooks
        hooks["request"].append(_on_request)
        hooks["response"].append(_on_response)
        runner.http.event_hooks = hooks

    def next_id(self) -> str:
        """A new request id, shown in the envelope and the recipes."""
        return f"studio-{next(self._ids)}"

    def start(
        self,
        pack: Pack,
        run: Run,
        invoke: Callable[..., dict[str, Any]],
    ) -> Run:
        """Run ``run.request`` in a worker thread; the page polls :meth:`get` for it."""
        run.progress = _progress(pack, run.request)
        with self._lock:
            self._runs[run.id] = run
            while len(self._runs) > _KEPT_RUNS:
                del self._runs[next(iter(self._runs))]

        def work() -> None:
            _current.set(run)
            response = invoke(run.request, pack=pack, runner=self.runner, watch=run.watch)
            error = response.get("error")
            kind = error.get("type") if isinstance(error, dict) else None
            run.finish(response, 0 if response.get("ok") else EXIT_CODES.get(str(kind), 3))

        threading.Thread(target=work, name=f"studio {run.id}", daemon=True).start()
        return run

    def get(self, run_id: str) -> Run | None:
        """The run with this id, if it is still kept."""
        with self._lock:
            return self._runs.get(run_id)


def _on_request(request: httpx.Request) -> None:
    run = _current.get()
    if run is not None:
        run.on_request(request)


def _on_response(response: httpx.Response) -> None:
    run = _current.get()
    if run is not None:
        run.on_response(response)


def _progress(pack: Pack, request: Mapping[str, Any]) -> Progress | None:
    """A progress record when the action sends an array input in batches."""
    action = pack.actions.get(str(request.get("action")))
    batch = getattr(getattr(action, "request", None), "batch", None)
    if batch is None:
        return None
    items = request.get("inputs", {}).get(batch.input)
    if not isinstance(items, list) or not items:
        return None
    return Progress(items_total=len(items), batch_size=int(batch.size))


def _is_form(request: httpx.Request) -> bool:
    """A form post is a token request here: its body and its answer carry credentials."""
    return str(request.headers.get("content-type", "")).startswith(
        "application/x-www-form-urlencoded"
    )


def _headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    return [(k, MASK if k.lower() in _HIDDEN_HEADERS else v) for k, v in headers.items()]


def _request_body(request: httpx.Request) -> str:
    if _is_form(request):
        return "(hidden: a token request carries credentials)"
    try:
        content = request.content
    except Exception:  # noqa: BLE001 - a streamed body cannot be shown; nothing else matters
        return "(streamed body)"
    return _preview(content)


def _preview(content: bytes) -> str:
    if not content:
        return ""
    text = content[: BODY_PREVIEW_CHARS * 4].decode("utf-8", "replace")
    if len(text) <= BODY_PREVIEW_CHARS:
        return text
    return f"{text[:BODY_PREVIEW_CHARS]} … ({len(content):,} bytes in all)"


def masked(value: Any, secrets: list[str]) -> Any:
    """A copy of a JSON value with every secret masked and every token field replaced."""
    if isinstance(value, dict):
        return {
            k: MASK if k in TOKEN_FIELDS and isinstance(v, str) else masked(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(v, secrets) for v in value]
    if isinstance(value, str):
        return mask(value, secrets)
    return value
