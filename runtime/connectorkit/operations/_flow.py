"""One call of an action that takes more than one request, carried out as its pack declares.

:class:`MultistepCall` is what ``call`` hands such an action to. It builds the first request
(a multipart form or a file body streamed from disk, after an upload in blocks when the file
is large), then, as declared: follows the pages; or follows the started operation to its end
(``wait``), or stops and hands back a handle kept in the state store; or does both once per
chunk of a list input. The final answer is shaped by the action's ``result``; a file is saved
to ``save_to`` or returned as base64. A handle is resumed or cancelled by any worker.

How a call ends (the pack format's docs list them): the result; ``{"status": "running",
"operation": …}`` when not waiting or out of time; ``http_error`` for a failed operation
(code ``operation_failed`` unless the service gave one) or a cancelled one
(``operation_cancelled``); ``timeout`` for one past its declared ``timeout_s``. Each error
carries ``operation``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import ConnectorError, HttpError, InvalidRequest
from connectorkit.core._errors import TimeoutError as CallTimeout
from connectorkit.core._template import ABSENT, render_value
from connectorkit.http._responses import error_fields
from connectorkit.operations._files import file_source, inline_answer, save_answer, stored_form
from connectorkit.operations._handles import Tracked, new_handle, running_result, summary
from connectorkit.operations._pages import decode_cursor, walk
from connectorkit.operations._paging import PageRun
from connectorkit.operations._polling import Polled, Poller
from connectorkit.operations._scope import Scope, field_at
from connectorkit.operations._stage import stage_first
from connectorkit.operations._steps import StepRenderer, with_files
from connectorkit.operations._upload import upload_first

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from connectorkit.core._request import RequestSpec
    from connectorkit.operations._context import CallContext
    from connectorkit.pack._multistep import LongRunningDef, Multistep

__all__ = ["MultistepCall"]

log = logging.getLogger("connectorkit")


class MultistepCall:
    """Carries out one call of an action with a ``multistep`` part."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.definition = ctx.definition
        multistep = ctx.definition.multistep
        assert multistep is not None  # noqa: S101 - only made for such actions
        self.multistep: Multistep = multistep
        self.renderer = StepRenderer(ctx.base_url, ctx.actions, ctx.bind_other, ctx.base_url_of)
        self.file_inputs = frozenset(i.key for i in ctx.definition.inputs if i.type == "file")

    # -- the first request -----------------------------------------------------------------

    def first_request(self, inputs: Mapping[str, Any]) -> tuple[RequestSpec, Mapping[str, Any]]:
        """The action's request with its files (after an upload, if one is due) and its inputs.

        Templates may name a file input's facts: ``{$file.name}``, ``{$file.size}``,
        ``{$file.content_type}`` (for a file input ``file``).
        """
        facts: dict[str, Any] = {}
        for key in self.file_inputs:
            value = inputs.get(key)
            if isinstance(value, dict):
                source = file_source(key, value)
                facts |= {
                    f"${key}.name": source.name,
                    f"${key}.size": source.size,
                    f"${key}.content_type": source.content_type,
                }
        inputs = {**inputs, **facts}
        if self.multistep.upload is not None:
            inputs = upload_first(
                self.renderer, self.send, self.definition.key, self.multistep.upload, inputs
            )
        if self.multistep.stage is not None:
            inputs, staged = stage_first(
                self.renderer,
                self.send,
                self.definition.key,
                self.multistep.stage,
                inputs,
                watch=self.ctx.watch,
            )
            self.ctx.note({"staged": staged.to_dict()})
        spec = self.ctx.spec(inputs)
        spec = with_files(
            spec, self.multistep.multipart, self.multistep.content, inputs, self.file_inputs
        )
        return spec, inputs

    # -- the whole call --------------------------------------------------------------------

    def run(self) -> Any:
        """The call, from its first request."""
        if self.multistep.pages is not None:
            return self.run_pages(self.ctx.inputs)
        spec, inputs = self.first_request(self.ctx.inputs)
        running = self.multistep.long_running
        if running is None:
            return self.final_of(spec, inputs)
        response = self.ctx.send(spec, inputs)
        if response.status_code not in running.started:
            return self.shape(Scope(inputs, response))
        record = self.new_record(inputs, [{"op": self.track(running, response, inputs)}])
        return self.follow(record, self.poller(record).first_wait(response))

    def final_of(self, spec: RequestSpec, inputs: Mapping[str, Any]) -> Any:
        """One request whose answer is the result (streamed when it is a file)."""
        if self.multistep.file_result:
            spec.stream = True
            return self.file_of(self.ctx.send(spec, inputs))
        return self.shape(Scope(inputs, self.ctx.send(spec, inputs)))

    # -- results -----------------------------------------------------------------------------

    def shape(self, scope: Scope) -> Any:
        """The action's result from the final answer (``scope`` holds it and every name)."""
        result = self.definition.result
        if result.has_template:
            return render_value(result.template, scope)
        return scope.body

    def file_of(self, response: httpx.Response) -> dict[str, Any]:
        """A file answer saved to ``save_to``, or inline as base64."""
        target = self.ctx.inputs.get("save_to")
        if target:
            return save_answer(response, str(target))
        return inline_answer(response)

    def result_of(self, polled: Polled, names: Mapping[str, Any]) -> Any:
        """The result of an operation that succeeded: one more request, or its last poll."""
        scope = polled.scope or Scope(names)
        step = self.long_running.result
        rendered = self.renderer.render(step, scope) if step is not None else None
        if rendered is None:
            return self.shape(scope)
        if self.multistep.file_result:
            rendered.spec.stream = True
            return self.file_of(self.send(rendered))
        return self.shape(Scope(names, self.send(rendered)))

    def send(self, rendered: Any) -> httpx.Response:
        """Send a rendered step (charged to its action's rate budgets when it is another's)."""
        return self.ctx.send(rendered.spec, rendered.inputs, action=rendered.action)

    # -- long-running operations ---------------------------------------------------------------

    @property
    def long_running(self) -> LongRunningDef:
        """The action's ``long_running`` block."""
        running = self.multistep.long_running
        assert running is not None  # noqa: S101 - asked for only by such actions
        return running

    def track(
        self, running: LongRunningDef, response: httpx.Response, inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A started operation, known by what ``keep`` takes from its first answer."""
        scope = Scope(inputs, response)
        kept = {
            name: value
            for name, template in running.keep.items()
            if (value := render_value(template, scope)) is not ABSENT
        }
        return Tracked(kept, started_at=self.ctx.wall()).to_dict()

    def new_record(self, inputs: Mapping[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
        """A handle for the operations of this call, saved at once (another worker may resume)."""
        now = self.ctx.wall()
        kept_inputs = {
            k: stored_form(v) if k in self.file_inputs else v
            for k, v in inputs.items()
            if k not in {"wait", "timeout"} and not k.startswith("$")
        }
        record = {
            "handle": new_handle(),
            "action": self.definition.key,
            "inputs": kept_inputs,
            "connection": self.ctx.connection_ref,
            "created": now,
            "updated": now,
            "status": "running",
            "parts": parts,
        }
        self.ctx.book.save(record)
        return record

    def save(self, record: dict[str, Any]) -> None:
        """Write the record's new state (its overall status from its operations')."""
        statuses = {p["op"]["status"] for p in record["parts"] if p.get("op")}
        started = all(p.get("op") for p in record["parts"])
        for word in ("failed", "timeout", "cancelled"):
            if word in statuses:
                record["status"] = word
                break
        else:
            done = started and statuses == {"succeeded"}
            record["status"] = "succeeded" if done else "running"
        record["updated"] = self.ctx.wall()
        self.ctx.book.save(record)

    def poller(self, record: dict[str, Any]) -> Poller:
        """The poller of this call's operations (a poll's progress goes to ``watch``)."""

        def poll(tracked: Tracked) -> httpx.Response:
            names = {**self.ctx.inputs, **tracked.kept}
            rendered = self.renderer.render(self.long_running.poll, Scope(names))
            if rendered is None:
                raise HttpError(
                    "the operation's first answer did not say where to ask how it goes "
                    f"(kept: {', '.join(tracked.kept) or 'nothing'})",
                    status=None,
                    code="operation_unknown",
                )
            return self.send(rendered)

        def on_poll(tracked: Tracked) -> None:
            about = summary(record, self.ctx.wall())
            if len(record.get("parts", [])) <= 1:
                about["status"] = tracked.status  # one operation: how it stands after this poll
            self.ctx.watch({"operation": about})

        return Poller(
            self.long_running,
            poll=poll,
            remaining=self.ctx.remaining,
            sleep=self.ctx.sleep,
            wall=self.ctx.wall,
            on_poll=on_poll,
        )

    def follow(self, record: dict[str, Any], wait: float, *, once: bool = False) -> Any:
        """Follow the record's one operation (unless not waiting) and end the call as it ends."""
        part = record["parts"][0]
        tracked = Tracked.from_dict(part["op"])
        if not self.ctx.inputs.get("wait", self.long_running.wait) and not once:
            self.note(record)
            return running_result(record, self.ctx.wall())
        poller = self.poller(record)

        def synced(_: Tracked) -> None:
            part["op"] = tracked.to_dict()

        poller._on_poll = _chained(synced, poller._on_poll)  # noqa: SLF001 - keep the record current
        try:
            polled = poller.follow(tracked, self.ctx.inputs, wait, once=once)
        finally:
            part["op"] = tracked.to_dict()
            self.save(record)
        return self.ended(record, tracked, polled)

    def ended(self, record: dict[str, Any], tracked: Tracked, polled: Polled) -> Any:
        """The call's result, or the error, for how the operation went."""
        self.note(record)
        if polled.outcome == "running":
            return running_result(record, self.ctx.wall())
        if polled.outcome == "succeeded":
            return self.result_of(polled, {**self.ctx.inputs, **tracked.kept})
        raise self.failure(record, tracked, polled)

    def failure(self, record: dict[str, Any], tracked: Tracked, polled: Polled) -> ConnectorError:
        """The contract error of an operation that failed, was cancelled or timed out."""
        about = summary(record, self.ctx.wall())
        said = f" ({tracked.service_status})" if tracked.service_status else ""
        if polled.outcome == "timeout":
            limit = self.long_running.timeout_s
            error: ConnectorError = CallTimeout(
                f"the operation ran past its time limit of {limit:g} s{said}; it may still be "
                f"running: cancel it with its handle {record['handle']}"
            )
        else:
            body = polled.scope.body if polled.scope is not None else None
            declared = self.long_running.error
            details = field_at(body, declared) if declared else None
            code, message = error_fields(body, self.ctx.quirks)
            first = details[0] if isinstance(details, list) and details else details
            if isinstance(first, dict) and code is None:
                # The details are the service's error, or a list of them (messages).
                code, message = error_fields({"error": first}, self.ctx.quirks)
            if details is not None:
                about["details"] = details
            if polled.outcome == "cancelled":
                error = HttpError(
                    f"the operation was cancelled{said}",
                    status=polled.response.status_code if polled.response else None,
                    code="operation_cancelled",
                )
            else:
                error = HttpError(
                    f"the operation failed{said}" + (f": {message}" if message else ""),
                    status=polled.response.status_code if polled.response else None,
                    code=code or "operation_failed",
                )
        error.operation = about
        return error

    def note(self, record: Mapping[str, Any]) -> None:
        """The operation in the response's meta."""
        about = summary(record, self.ctx.wall())
        self.ctx.note(
            {"operation": {k: about[k] for k in ("handle", "status", "polls") if k in about}}
        )

    # -- resuming and cancelling -------------------------------------------------------------

    def resume(self, record: dict[str, Any]) -> Any:
        """Go on with a handle another call left running (from any worker)."""
        waiting = bool(self.ctx.inputs.get("wait", self.long_running.wait))
        return self.follow(record, 0.0, once=not waiting)

    def cancel(self, record: dict[str, Any]) -> dict[str, Any]:
        """Ask the service to cancel the handle's operations; how they go after it."""
        step = self.long_running.cancel
        if step is None:
            raise InvalidRequest(
                f"the action '{self.definition.key}' declares no way to cancel its operation",
                details=[{"field": "cancel", "message": "the action has no long_running.cancel"}],
            )
        for part in record["parts"]:
            if not part.get("op") or part["op"]["status"] != "running":
                continue
            tracked = Tracked.from_dict(part["op"])
            rendered = self.renderer.render(step, Scope({**self.ctx.inputs, **tracked.kept}))
            if rendered is not None:
                self.send(rendered)
                log.info("%s: asked to cancel %s", self.definition.key, record["handle"])
            step_once = self.poller(record).poll_once(tracked, self.ctx.inputs, 0.0)
            if step_once.error is not None:
                log.info("%s: the poll after cancelling failed", self.definition.key)
            part["op"] = tracked.to_dict()
        self.save(record)
        self.note(record)
        return {"status": record["status"], "operation": summary(record, self.ctx.wall())}

    # -- pages -------------------------------------------------------------------------------

    def run_pages(self, inputs: Mapping[str, Any]) -> Any:
        """Follow the pages as asked: the first, all of them, up to ``max_items``."""
        spec, inputs = self.first_request(inputs)
        pages = self.multistep.pages
        assert pages is not None  # noqa: S101 - called for paged actions
        given = inputs.get("continuation")
        start = decode_cursor(str(given), self.definition.key, self.ctx.base_url) if given else None
        run = PageRun(self.ctx, self.definition.key, pages, inputs)
        # The first request is the caller's; a page size is asked for only to follow pages.
        sized = run.all or start is not None
        return run.gather(walk(spec, pages, run.fetch, start=start, sized=sized), start)


def _chained(
    first: Callable[[Tracked], None], second: Callable[[Tracked], None] | None
) -> Callable[[Tracked], None]:
    def both(tracked: Tracked) -> None:
        first(tracked)
        if second is not None:
            second(tracked)

    return both
