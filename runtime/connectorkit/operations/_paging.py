"""A paged call: the pages walked as the call's inputs ask, the items gathered or streamed.

``all_pages`` follows them to the end, ``max_items`` stops after that many, ``stream`` sends
each item on as it arrives (nothing is gathered: memory stays flat). A call that stops early —
its items, or its time budget, run out — ends with a ``continuation`` to go on from. A page that
fails after others were read fails the call; its error says where to go on from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import ConnectorError
from connectorkit.core._errors import TimeoutError as CallTimeout
from connectorkit.http._responses import parse_body
from connectorkit.operations._pages import Cursor, encode_cursor

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from connectorkit.core._request import RequestSpec
    from connectorkit.operations._context import CallContext
    from connectorkit.operations._pages import Page
    from connectorkit.pack._multistep import PagesDef

__all__ = ["PageRun"]


class PageRun:
    """Walks the pages of one call and makes its result."""

    def __init__(
        self, ctx: CallContext, action: str, pages: PagesDef, inputs: Mapping[str, Any]
    ) -> None:
        self.ctx = ctx
        self.action = action
        self.pages = pages
        self.inputs = inputs
        self.all = bool(inputs.get("all_pages", pages.all))
        limit = inputs.get("max_items")
        self.max_items = int(limit) if limit else None
        # Items go on one by one only where the front end streams them (invoke, serve).
        self.streaming = bool(inputs.get("stream")) and self.ctx.streams
        self.count = 0
        self.read = 0

    def fetch(self, spec: RequestSpec) -> Any:
        """One page's parsed body (its request takes from the action's rate budgets)."""
        return parse_body(self.ctx.send(spec, self.inputs))

    def _budget_spent(self) -> bool:
        try:
            left = self.ctx.remaining()
        except CallTimeout:
            return True
        return left is not None and left <= 0

    def gather(self, pages: Iterator[Page], start: Cursor | None) -> Any:
        """Take the pages' items as asked; the call's result."""
        gathered: list[Any] = []
        first: Any = None
        stopped: Cursor | None = None
        pending: Cursor | None = start
        try:
            for page in pages:
                self.read += 1
                if first is None:
                    first = self._frame(page.body)
                taken, stopped = self._take(page)
                if self.streaming:
                    for item in taken:
                        self.ctx.emit(item)
                else:
                    gathered.extend(taken)
                self.count += len(taken)
                self.ctx.watch({"pages": {"pages": self.read, "items": self.count}})
                if stopped is not None:
                    break
                pending = page.next
                if page.next is not None and not self.all:
                    stopped = page.next
                    break
                del page, taken  # the next page is fetched without this one in memory
        except ConnectorError as error:
            if self.read == 0:
                raise
            if isinstance(error, CallTimeout) and self._budget_spent() and pending is not None:
                stopped = pending  # out of time: what was read, and where to go on
            else:
                raise self._failed(error, pending) from None
        self.ctx.note({"pages": self.read, "items": self.count})
        return self._result(first, gathered, stopped)

    def _frame(self, body: Any) -> Any:
        """What the result keeps of the first page: its fields but the items (gathered apart)."""
        if self.streaming or not isinstance(body, dict) or not self.pages.items:
            return {}
        return {k: v for k, v in body.items() if k != self.pages.items}

    def _take(self, page: Page) -> tuple[list[Any], Cursor | None]:
        """The items of ``page`` within ``max_items``; a cursor into it when some are left."""
        if self.max_items is None:
            return page.items, None
        room = self.max_items - self.count
        if len(page.items) > room:
            cursor = page.cursor
            inside = Cursor(
                cursor.method,
                cursor.url,
                cursor.params,
                cursor.body,
                cursor.has_body,
                skip=cursor.skip + room,
                read=cursor.read,
            )
            return page.items[:room], inside
        if len(page.items) == room and page.next is not None:
            return page.items, page.next
        return page.items, None

    def _failed(self, error: ConnectorError, pending: Cursor | None) -> ConnectorError:
        """A page that failed after others: its error, saying where to go on from."""
        where = encode_cursor(pending, self.action) if pending else None
        kept = "streamed" if self.streaming else "read (not returned)"
        error.message += (
            f"; {self.count} items in {self.read} pages were {kept} before this page"
            + ("; its continuation goes on from it" if where else "")
        )
        error.args = (error.message,)
        if where is not None:
            detail = {"field": "continuation", "message": "goes on from the failed page"}
            error.details = [*(error.details or []), {**detail, "continuation": where}]
        return error

    def _result(self, first: Any, gathered: list[Any], stopped: Cursor | None) -> Any:
        continuation = encode_cursor(stopped, self.action) if stopped else None
        if self.streaming:
            out: dict[str, Any] = {"items": self.count}
        elif isinstance(first, dict) and self.pages.items:
            out = {k: v for k, v in first.items() if k not in self._paging_fields()}
            _set_at(out, self.pages.items, gathered)
        else:
            out = {"items": gathered}
        if continuation is not None:
            out["continuation"] = continuation
        return out

    def _paging_fields(self) -> set[str]:
        pages = self.pages
        fields = {pages.next_url, pages.last}
        if pages.next_token is not None:
            fields.add(pages.next_token.at)
        return {f for f in fields if f}


def _set_at(body: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at ``path`` of ``body`` (a key, else a dotted path of objects)."""
    if path in body or "." not in path:
        body[path] = value
        return
    *steps, last = path.split(".")
    target = body
    for step in steps:
        inner = target.get(step)
        if not isinstance(inner, dict):
            body[path] = value
            return
        target[step] = inner = dict(inner)
        target = inner
    target[last] = value
