"""Request blocks made into requests: a step of its own, or another action's request.

A step's templates are rendered over a :class:`~connectorkit.operations._scope.Scope` (the
inputs, the kept values, the response at hand). A step naming another action sends that
action's request with the inputs the step gives it, bound like a call's (defaults applied),
and takes from that action's rate budgets. A ``url`` outside the origin of the connection's
``base_url`` is sent without credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectorkit.core._errors import InternalError
from connectorkit.core._template import (
    ABSENT,
    query_text,
    render_path,
    render_request,
    render_value,
)
from connectorkit.operations._files import file_source

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.core._request import RequestSpec
    from connectorkit.pack._definitions import ActionDef
    from connectorkit.pack._multistep import StepDef

__all__ = ["Rendered", "StepRenderer", "same_origin", "with_files"]


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base_url``."""
    given, base = urlsplit(url), urlsplit(base_url)
    return (given.scheme, given.netloc.lower()) == (base.scheme, base.netloc.lower())


@dataclass(slots=True)
class Rendered:
    """A step's request, the inputs its rate budgets are charged with, and whose they are."""

    spec: RequestSpec
    inputs: Mapping[str, Any] | None = None
    action: str | None = None


class StepRenderer:
    """Renders the steps of one call (its connection's base URL, its pack's other actions)."""

    def __init__(
        self,
        base_url: str,
        actions: Mapping[str, ActionDef],
        bind: Callable[[str, Mapping[str, Any]], Mapping[str, Any]],
        base_url_of: Callable[[str], str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.actions = actions
        self.bind = bind
        self._base_url_of = base_url_of

    def root(self, service: str | None) -> str:
        """The base URL of ``service`` (None, or no services known: the connection's)."""
        if service is None or self._base_url_of is None:
            return self.base_url
        return self._base_url_of(service)

    def render(self, step: StepDef, scope: Mapping[str, Any]) -> Rendered | None:
        """The request of ``step``; ``None`` when its ``url`` has no value (nothing to send)."""
        if step.action is not None:
            return self._other_action(step, scope)
        root = self.root(step.service)
        if step.url is not None:
            url = render_value(step.url, scope)
            if url is ABSENT or not isinstance(url, str) or not url:
                return None
        else:
            url = root + render_path(step.path or "", scope)
        spec = render_request(
            step.method, url, step.query, step.headers, step.body, scope, has_body=step.has_body
        )
        if step.text is not None:
            text = render_value(step.text, scope)
            spec.content = ("" if text is ABSENT else str(text)).encode()
        spec.credentials = same_origin(url, root)
        spec.service = step.service
        return Rendered(spec)

    def _other_action(self, step: StepDef, scope: Mapping[str, Any]) -> Rendered:
        key = str(step.action)
        other = self.actions.get(key)
        if other is None:  # pragma: no cover - the pack checker refuses unknown actions
            raise InternalError(f"the pack has no action '{key}'")
        given = render_value(dict(step.inputs), scope)
        values = self.bind(key, given if isinstance(given, dict) else {})
        return Rendered(other.request_for(self.root(other.service), values), values, key)


def with_files(
    spec: RequestSpec,
    multipart: Mapping[str, Any],
    content: str | None,
    inputs: Mapping[str, Any],
    file_inputs: frozenset[str],
) -> RequestSpec:
    """``spec`` with its multipart form or raw file body, when the inputs give one.

    A part whose template is a file input (``"{file}"``) is a file, streamed when sent; any other
    part is a text field; a part without a value is left out. A form with no part left, or a
    raw body whose file is not given, leaves ``spec`` as it is (its JSON body, if any).
    """
    parts: list[tuple[str, tuple[str | None, Any, str | None]]] = []
    for name, template in multipart.items():
        value = render_value(template, inputs)
        if value is ABSENT:
            continue
        key = _lone_name(template)
        if key in file_inputs and isinstance(value, dict):
            source = file_source(key, value)
            parts.append((name, (source.name, source, source.content_type)))
        else:
            text = json.dumps(value) if isinstance(value, dict | list) else query_text(value)
            parts.append((name, (None, text.encode(), None)))
    if parts:
        spec.files = parts
        spec.json, spec.has_json = None, False
    elif content is not None:
        key = _lone_name(content)
        value = inputs.get(key) if key else None
        if isinstance(value, dict):
            spec.upload = file_source(str(key), value)
            spec.json, spec.has_json = None, False
    return spec


def _lone_name(template: Any) -> str | None:
    """The input a template is exactly (``"{file}"``), if it is one."""
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        inner = template[1:-1]
        if inner.isidentifier():
            return inner
    return None
