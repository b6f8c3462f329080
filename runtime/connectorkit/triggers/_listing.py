"""The items a poll lists: an action's answer (every page of it), once or once per parent.

The listing action's request is sent as a step of the poll (its templates, its pages, its rate
budgets; not its result shaping): the items are read from the service's own answer. With
``each``, the parents are listed first, filtered by ``each.where``, and the listing runs once
per parent, which its templates name ``$parent``. With ``jobs``, the items are the push jobs
of that action that ended, from the state store's ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidInput
from connectorkit.core._request import RequestSpec
from connectorkit.http._responses import parse_body
from connectorkit.operations._pages import walk
from connectorkit.operations._scope import field_at
from connectorkit.operations._steps import StepRenderer, same_origin
from connectorkit.pack._multistep import StepDef
from connectorkit.triggers._values import ItemScope, matches, rendered_conditions

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import httpx

    from connectorkit.pack._triggers import ListDef
    from connectorkit.triggers._context import PollContext

__all__ = ["Listed", "Lister"]

Listed = tuple[Any, Any]  # an item, and its parent (None without each)


class Lister:
    """Lists the candidate items of one trigger's poll."""

    def __init__(self, ctx: PollContext, listing: ListDef, names: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.listing = listing
        # The trigger's inputs, and $window.start / $window.end when it has a window.
        self.names = names
        self.renderer = StepRenderer(ctx.base_url, ctx.actions, ctx.bind_other, ctx.base_url_of)

    def items(self) -> Iterator[Listed]:
        """Every item, with its parent."""
        listing = self.listing
        if listing.jobs is not None:
            yield from ((job, None) for job in self.ctx.ended_jobs(listing.jobs))
            return
        if listing.each is None:
            yield from ((item, None) for item in self._list(listing.action, None))
            return
        each = listing.each
        wanted = rendered_conditions(each.where, self.names)
        listed = self._list_of(each.action, each.inputs, each.items, None)
        parents = [p for p in listed if matches(p, wanted)]
        if len(parents) > each.most:
            raise InvalidInput(
                f"a poll lists at most {each.most} items of '{each.action}' and this one has "
                f"{len(parents)}: narrow the trigger's inputs",
                details=[{"field": "inputs", "message": f"select at most {each.most}"}],
            )
        for parent in parents:
            yield from ((item, parent) for item in self._list(listing.action, parent))

    def _list(self, action: str | None, parent: Any) -> Iterator[Any]:
        assert action is not None  # noqa: S101 - a listing has an action or jobs
        return self._list_of(action, self.listing.inputs, self.listing.items, parent)

    def _list_of(
        self, action: str, inputs: Mapping[str, Any], items: str | None, parent: Any
    ) -> Iterator[Any]:
        """The items of one listing: every page of the action's answer."""
        scope = ItemScope(self.names, None, parent)
        rendered = self.renderer.render(StepDef(action=action, inputs=inputs), scope)
        assert rendered is not None  # noqa: S101 - a step naming an action always renders
        definition = self.ctx.actions[action]
        pages = definition.multistep.pages if definition.multistep is not None else None
        values = rendered.inputs

        def fetch(spec: RequestSpec) -> Any:
            return parse_body(self.ctx.send(spec, values, action=action))

        if pages is None:
            yield from _items_of(fetch(rendered.spec), items or "")
            return
        for page in walk(rendered.spec, pages, fetch):
            yield from page.items if items is None else _items_of(page.body, items)

    def answer(self, url: str | None) -> tuple[httpx.Response, list[Any]]:
        """The service's answer at ``url`` (``None``: the listing's own request), and its items."""
        action = self.listing.action
        assert action is not None  # noqa: S101 - a next trigger lists with an action
        if url is None:
            scope = ItemScope(self.names, None)
            step = StepDef(action=action, inputs=self.listing.inputs)
            rendered = self.renderer.render(step, scope)
            assert rendered is not None  # noqa: S101 - a step naming an action always renders
            spec, values = rendered.spec, rendered.inputs
        else:
            spec, values = RequestSpec(method="GET", url=url), None
            spec.credentials = same_origin(url, self.ctx.base_url)
        response = self.ctx.send(spec, values, action=action)
        return response, _items_of(parse_body(response), self.listing.items or "")


def _items_of(body: Any, path: str) -> list[Any]:
    """The list at ``path`` of an answer; an object there is one item; nothing else is."""
    found = field_at(body, path)
    if isinstance(found, list):
        return found
    if isinstance(found, dict):
        return [found]
    return []
