"""Templates over inputs: escaped path segments, optional ``[...]`` parts, typed JSON values.

A placeholder names a value (``{dataset_id}``), or a part of a response where the caller's
values hold one (``{$body.id}``, ``{$headers.x-ms-request-id}``); ``{a|b}`` is the first of its
names that has a value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectorkit.core._errors import InvalidInput
from connectorkit.core._request import RequestSpec

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "ABSENT",
    "placeholders",
    "query_text",
    "render_path",
    "render_request",
    "render_value",
    "template_strings",
]

_NAME = r"[$A-Za-z_][A-Za-z0-9_.\-]*"
_PLACEHOLDER = re.compile(rf"\{{({_NAME}(?:\|{_NAME})*)\}}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


class _Absent:
    """Marks a template value whose input has no value: its key is dropped."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    """The value of a placeholder's ``name``: the first of ``a|b`` that has one."""
    if "|" not in name:
        return values.get(name)
    for alternative in name.split("|"):
        value = values.get(alternative)
        if value is not None:
            return value
    return None


def placeholders(template: Any) -> set[str]:
    """Every ``{name}`` a template refers to (used by the pack checker); ``{a|b}`` gives both."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(n for m in _PLACEHOLDER.findall(template) for n in m.split("|"))
    elif isinstance(template, dict):
        for key, value in template.items():
            found |= placeholders(key)
            found |= placeholders(value)
    elif isinstance(template, list):
        for value in template:
            found |= placeholders(value)
    return found


def template_strings(
    template: Any, at: tuple[str | int, ...] = (), *, keys: bool = False
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string of a JSON template with where it is; with ``keys``, its mappings' keys too."""
    if isinstance(template, str):
        yield at, template
    elif isinstance(template, dict):
        for key, value in template.items():
            if keys:
                yield (*at, str(key)), str(key)
            yield from template_strings(value, (*at, str(key)), keys=keys)
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from template_strings(value, (*at, index), keys=keys)


def _segment(name: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text:
        raise InvalidInput(
            f"input '{name}' is empty, but it names a part of the URL",
            details=[{"field": name, "message": "must not be empty"}],
        )
    escaped = quote(text, safe="")
    # quote() leaves dots alone; a lone '.' or '..' segment would still climb the URL.
    if escaped in {".", ".."}:
        escaped = escaped.replace(".", "%2E")
    return escaped


def render_path(template: str, values: Mapping[str, Any]) -> str:
    """Render a path template; each ``{name}`` becomes exactly one escaped segment."""

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        names = _PLACEHOLDER.findall(part)
        if all(_lookup(values, n) is not None for n in names):
            return part
        return ""

    path = _OPTIONAL.sub(optional, template)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = _lookup(values, name)
        if value is None:
            name = name.split("|")[0]
            raise InvalidInput(
                f"input '{name}' is required to build the request URL",
                details=[{"field": name, "message": "is required"}],
            )
        return _segment(name, value)

    return _PLACEHOLDER.sub(substitute, path)


def render_value(template: Any, values: Mapping[str, Any]) -> Any:
    """Render a JSON template; an exact ``"{name}"`` keeps the value's JSON type.

    Returns ``ABSENT`` when the template is a lone placeholder whose value is missing; mappings
    and lists drop such entries.
    """
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole is not None:
            value = _lookup(values, whole.group(1))
            return ABSENT if value is None else value
        if "{" not in template:
            return template
        missing = False

        def text(match: re.Match[str]) -> str:
            nonlocal missing
            value = _lookup(values, match.group(1))
            if value is None:
                missing = True
                return ""
            return value if isinstance(value, str) else str(value)

        rendered = _PLACEHOLDER.sub(text, template)
        return ABSENT if missing else rendered
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            rendered_value = render_value(value, values)
            if rendered_value is not ABSENT:
                out[key] = rendered_value
        return out
    if isinstance(template, list):
        return [v for v in (render_value(item, values) for item in template) if v is not ABSENT]
    return template


def query_text(value: Any) -> str:
    """A query parameter's text: JSON's spelling of booleans, ``str`` of anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_request(  # noqa: PLR0917 - the parts of a request, each a template
    method: str,
    url: str,
    query: Mapping[str, Any],
    headers: Mapping[str, Any],
    body: Any,
    values: Mapping[str, Any],
    *,
    has_body: bool,
) -> RequestSpec:
    """The request of rendered templates; ``url`` is already rendered (path escaped).

    A query parameter or header whose value is absent is left out; so is a body made only of
    optional inputs, none given.
    """
    params = [
        (name, query_text(value))
        for name, template in query.items()
        if (value := render_value(template, values)) is not ABSENT
    ]
    fields = [
        (name, str(value))
        for name, template in headers.items()
        if (value := render_value(template, values)) is not ABSENT
    ]
    spec = RequestSpec(method=method, url=url, params=params, headers=fields)
    if has_body:
        rendered = render_value(body, values)
        if rendered is not ABSENT and not (rendered == {} and body):
            spec.json = rendered
            spec.has_json = True
    return spec
