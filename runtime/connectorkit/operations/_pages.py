"""Pages: a list the service hands out one page at a time, followed to its end.

:func:`walk` is the reusable core: from the first request, it yields each :class:`Page` (its
items, its body, and the :class:`Cursor` of the next one) as the pack's ``pages`` block says —
a next URL in the body, a token sent back as a query parameter, or ``$skip``-style offsets —
until a page has no next one, says it is the last, or comes back short. It sends nothing
itself: ``fetch`` does (through the call's retries, auth and rate budgets).

A cursor travels as an opaque *continuation* text (:func:`encode_cursor`): the next request
and how many of its items were already taken, tied to the action. It holds no credential,
and a continuation whose URL is not under the connection's ``base_url`` is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from connectorkit.core._errors import InvalidInput
from connectorkit.operations._scope import field_at

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from connectorkit.core._request import RequestSpec
    from connectorkit.pack._multistep import OffsetDef, PagesDef

__all__ = ["Cursor", "Page", "decode_cursor", "encode_cursor", "walk"]


@dataclass(frozen=True, slots=True)
class Cursor:
    """A page's request (method, URL, query, JSON body) and the items of it already taken."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    has_body: bool = False
    skip: int = 0
    # Offsets: the items read before this page (its $skip is the first offset plus these).
    read: int = 0

    @classmethod
    def of(cls, spec: RequestSpec) -> Cursor:
        """The cursor of a first request."""
        return cls(spec.method, spec.url, tuple(spec.params), spec.json, spec.has_json)

    def spec(self, template: RequestSpec) -> RequestSpec:
        """The request of this page: ``template`` with this method, URL, query and body."""
        return msgspec.structs.replace(
            template,
            method=self.method,
            url=self.url,
            params=list(self.params),
            json=self.body,
            has_json=self.has_body,
        )


@dataclass(slots=True)
class Page:
    """One page: its items (those not taken before), its body, its cursor and the next one's."""

    items: list[Any]
    body: Any
    cursor: Cursor
    next: Cursor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _with_param(
    params: tuple[tuple[str, str], ...], name: str, value: str
) -> tuple[tuple[str, str], ...]:
    return (*((k, v) for k, v in params if k != name), (name, value))


def _following(  # noqa: PLR0911 - one return per way a list ends
    pages: PagesDef, cursor: Cursor, body: Any, count: int
) -> Cursor | None:
    """The cursor of the page after this one, or ``None`` when this one is the last."""
    if pages.last is not None and field_at(body, pages.last) is True:
        return None
    if pages.next_url is not None:
        url = field_at(body, pages.next_url)
        if not isinstance(url, str) or not url or url == cursor.url:
            return None
        return Cursor("GET", url)
    if pages.next_token is not None:
        token = field_at(body, pages.next_token.at)
        if token is None or token == "":
            return None
        params = _with_param(cursor.params, pages.next_token.query, str(token))
        if params == cursor.params:
            return None
        return replace(cursor, params=params, skip=0)
    offset = pages.offset
    if offset is None or count < _page_size(cursor, offset):
        return None
    read = cursor.read + count
    start = _first_offset(cursor, offset.query)
    params = _with_param(cursor.params, offset.query, str(start + read))
    return replace(cursor, params=params, skip=0, read=read)


def _page_size(cursor: Cursor, offset: OffsetDef) -> int:
    """The page size the request asked for (its size parameter), else the declared one."""
    asked = next((v for k, v in cursor.params if k == offset.size_query), None)
    return int(asked) if asked is not None and asked.isdigit() else offset.size


def _first_offset(cursor: Cursor, name: str) -> int:
    """Where the list started: the first request's offset (its own value minus what was read)."""
    current = next((v for k, v in cursor.params if k == name), "0")
    return (int(current) if current.isdigit() else 0) - cursor.read


def _sized(pages: PagesDef, cursor: Cursor) -> Cursor:
    """An offset request that asks for no page size asks for the declared one, from 0 on."""
    offset = pages.offset
    if offset is None:
        return cursor
    params = cursor.params
    if offset.size_query is not None and not any(k == offset.size_query for k, _ in params):
        params = _with_param(params, offset.size_query, str(offset.size))
    if not any(k == offset.query for k, _ in params):
        params = _with_param(params, offset.query, "0")
    return replace(cursor, params=params)


def walk(
    first: RequestSpec,
    pages: PagesDef,
    fetch: Callable[[RequestSpec], Any],
    *,
    start: Cursor | None = None,
    sized: bool = True,
) -> Iterator[Page]:
    """Every page from ``start`` (default: ``first`` itself), each fetched when asked for.

    ``fetch`` sends a page's request and returns its parsed body. The caller may stop at any
    page; the last page yielded knows the cursor to go on from. ``sized``: an offset request
    without a page size asks for the declared one (``False`` sends ``first`` as it is).
    """
    opening = start or Cursor.of(first)
    cursor: Cursor | None = _sized(pages, opening) if sized else opening
    while cursor is not None:
        body = fetch(cursor.spec(first))
        found = field_at(body, pages.items)
        items = found if isinstance(found, list) else []
        following = _following(pages, cursor, body, len(items))
        page = Page(items[cursor.skip :] if cursor.skip else items, body, cursor, following)
        # Only the caller holds a page: memory is one page, however long the list.
        del body, found, items
        yield page
        del page
        cursor = following


def encode_cursor(cursor: Cursor, action: str) -> str:
    """The continuation text of ``cursor`` for ``action`` (opaque to callers)."""
    data = {
        "a": action,
        "m": cursor.method,
        "u": cursor.url,
        "q": [list(p) for p in cursor.params],
        "s": cursor.skip,
        "r": cursor.read,
    }
    if cursor.has_body:
        data["b"] = cursor.body
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str, action: str, base_url: str) -> Cursor:
    """The cursor a continuation holds; refused when it is not one of ``action``'s here."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        cursor = Cursor(
            method=str(data["m"]),
            url=str(data["u"]),
            params=tuple((str(k), str(v)) for k, v in data.get("q") or ()),
            body=data.get("b"),
            has_body="b" in data,
            skip=int(data.get("s", 0)),
            read=int(data.get("r", 0)),
        )
        owner = data["a"]
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise _bad("is not a continuation this runtime gave out") from None
    if owner != action:
        raise _bad(f"is a continuation of '{owner}', not of '{action}'")
    if not _under(cursor.url, base_url):
        raise _bad("leads outside the connection's base_url")
    return cursor


def _under(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the same scheme, host and port as ``base_url``."""
    given, base = urlsplit(url), urlsplit(base_url)
    return (given.scheme, given.netloc.lower()) == (base.scheme, base.netloc.lower())


def _bad(message: str) -> InvalidInput:
    return InvalidInput(
        f"input 'continuation' {message}",
        details=[{"field": "continuation", "message": message}],
    )
