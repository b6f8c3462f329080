"""Chunks: the request, and its operation, once per slice of a list input; the results merged.

The list comes from the caller, or from another request (``gather``) when the caller gives
none. At most ``at_once`` operations run at a time: each is polled when its wait is over, its
result fetched as soon as it succeeds; when one fails the call fails with it. The handle holds
every slice and its operation, so a resumed call polls those still running, starts those not
started, and fetches every result again (results are not kept in the store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import ConnectorError
from connectorkit.core._errors import TimeoutError as CallTimeout
from connectorkit.http._responses import parse_body
from connectorkit.operations._handles import Tracked, running_result
from connectorkit.operations._polling import MAX_POLL_ERRORS, Polled, transient
from connectorkit.operations._scope import Scope, field_at

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.operations._flow import MultistepCall
    from connectorkit.operations._polling import Poller
    from connectorkit.pack._multistep import ChunksDef

__all__ = ["Fanout"]


class Fanout:
    """One call of a chunked action."""

    def __init__(self, call: MultistepCall) -> None:
        self.call = call
        self.ctx = call.ctx
        chunks = call.multistep.chunks
        assert chunks is not None  # noqa: S101 - made for chunked actions only
        self.chunks: ChunksDef = chunks
        self.results: dict[int, Any] = {}
        # When each running operation is due for its next poll, and its interval then.
        self.due: dict[int, float] = {}
        self.intervals: dict[int, float] = {}
        self.errors: dict[int, int] = {}
        # A start the service throttled: no new operation before this moment.
        self.start_after = 0.0

    # -- the list and its slices ------------------------------------------------------------

    def gather(self, inputs: Mapping[str, Any]) -> list[Any]:
        """The list, from the request ``gather`` declares."""
        gather = self.chunks.gather
        if gather is None:
            return []
        rendered = self.call.renderer.render(gather.step, Scope(inputs))
        if rendered is None:  # pragma: no cover - a gather step is a path or an action
            return []
        found = field_at(parse_body(self.call.send(rendered)), gather.items)
        if not isinstance(found, list):
            return []
        if gather.value is None:
            return found
        return [v for item in found if (v := field_at(item, gather.value)) is not None]

    def run(self, inputs: Mapping[str, Any]) -> Any:
        """The call from its start: the list cut into slices, their operations followed."""
        values = inputs.get(self.chunks.input) or self.gather(inputs)
        size = self.chunks.size
        parts = [{"chunk": values[i : i + size], "op": None} for i in range(0, len(values), size)]
        if not parts:
            return self.merged()
        record = self.call.new_record({**inputs, self.chunks.input: values}, parts)
        record["inputs"][self.chunks.input] = values
        return self.drive(record, {**inputs, self.chunks.input: values})

    def resume(self, record: dict[str, Any]) -> Any:
        """Go on with a handle: every started operation is polled again (first at once)."""
        now = self.ctx.wall()
        for index, part in enumerate(record["parts"]):
            if part.get("op"):
                part["op"]["status"] = "running"
                self.due[index] = now
        return self.drive(record, dict(self.ctx.inputs))

    # -- driving the operations -------------------------------------------------------------

    def drive(self, record: dict[str, Any], inputs: Mapping[str, Any]) -> Any:
        """Start, poll and collect until every slice is done, or the call's time is."""
        call = self.call
        running = call.long_running
        poller = call.poller(record)
        waiting = bool(self.ctx.inputs.get("wait", running.wait))
        parts = record["parts"]
        try:
            while True:
                self.start_some(record, inputs, poller)
                active = [i for i, p in enumerate(parts) if p.get("op") and i not in self.results]
                pending = [i for i, p in enumerate(parts) if not p.get("op")]
                if not active and not pending:
                    break
                if not waiting:
                    return self.leave(record)
                if not active:
                    wait = max(0.0, self.start_after - self.ctx.wall())
                    left = _left(self.ctx)
                    if left is not None and wait >= left:
                        return self.leave(record)
                    self.ctx.sleep(wait)
                    continue
                now = self.ctx.wall()
                wait = max(0.0, min(self.due.get(i, now) for i in active) - now)
                left = _left(self.ctx)
                if left is not None and wait >= left:
                    return self.leave(record)
                if wait > 0:
                    self.ctx.sleep(wait)
                now = self.ctx.wall()
                for index in [i for i in active if self.due.get(i, now) <= now]:
                    self.poll(record, index, inputs, poller)
        finally:
            call.save(record)
        call.note(record)
        return self.merged()

    def leave(self, record: dict[str, Any]) -> dict[str, Any]:
        """End the call with the operations still running: their handle."""
        self.call.save(record)
        self.call.note(record)
        return running_result(record, self.ctx.wall())

    def start_some(self, record: dict[str, Any], inputs: Mapping[str, Any], poller: Poller) -> None:
        """Start the next slices while fewer than ``at_once`` operations run."""
        parts = record["parts"]
        running = self.call.long_running
        for index, part in enumerate(parts):
            active = sum(1 for i, p in enumerate(parts) if p.get("op") and i not in self.results)
            if active >= self.chunks.at_once or self.ctx.wall() < self.start_after:
                return
            if part.get("op"):
                continue
            spec, values = self.call.first_request({**inputs, self.chunks.input: part["chunk"]})
            try:
                response = self.ctx.send(spec, values)
            except ConnectorError as error:
                if not transient(error):
                    raise
                # Throttled (too many at once, or too many an hour): start it after the wait.
                retry_after = getattr(error, "retry_after", None) or running.first_s
                self.start_after = self.ctx.wall() + poller.clamp(retry_after)
                return
            if response.status_code not in running.started:
                self.results[index] = self.call.shape(Scope(values, response))
                part["op"] = Tracked({}, self.ctx.wall(), status="succeeded").to_dict()
            else:
                part["op"] = self.call.track(running, response, values)
                self.due[index] = self.ctx.wall() + poller.first_wait(response)
            self.call.save(record)

    def poll(
        self, record: dict[str, Any], index: int, inputs: Mapping[str, Any], poller: Poller
    ) -> None:
        """Poll one operation; fetch its result when it succeeded, fail the call when it did not."""
        part = record["parts"][index]
        tracked = Tracked.from_dict(part["op"])
        if poller.timed_out(tracked):
            part["op"] = tracked.to_dict()
            raise self.call.failure(record, tracked, Polled("timeout"))
        names = {**inputs, self.chunks.input: part["chunk"]}
        interval = self.intervals.get(index, self.call.long_running.first_s)
        step = poller.poll_once(tracked, names, interval)
        part["op"] = tracked.to_dict()
        self.due[index] = self.ctx.wall() + step.wait
        self.intervals[index] = step.interval
        if step.error is not None:
            self.errors[index] = self.errors.get(index, 0) + 1
            if self.errors[index] >= MAX_POLL_ERRORS or not transient(step.error):
                raise step.error
            return
        self.errors[index] = 0
        if step.outcome == "running":
            return
        polled = Polled(step.outcome, step.response, step.scope)
        if step.outcome != "succeeded":
            raise self.call.failure(record, tracked, polled)
        self.results[index] = self.call.result_of(polled, {**names, **tracked.kept})

    # -- the result -------------------------------------------------------------------------

    def merged(self) -> Any:
        """The results joined: the declared lists concatenated, else a list of the results."""
        ordered = [self.results[i] for i in sorted(self.results)]
        if not self.chunks.merge:
            return {"results": ordered}
        out: dict[str, list[Any]] = {name: [] for name in self.chunks.merge}
        for result in ordered:
            for name in self.chunks.merge:
                found = field_at(result, name)
                if isinstance(found, list):
                    out[name].extend(found)
        return out


def _left(ctx: Any) -> float | None:
    try:
        left: float | None = ctx.remaining()
    except CallTimeout:
        return 0.0
    return left
