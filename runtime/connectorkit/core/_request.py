"""The request an action sends, as data: built once, made an ``httpx.Request`` per attempt.

:func:`url_problem` says whether a URL can be sent at all — what httpx (and the resolver after
it) would refuse — so that a connection value such as ``base_url: "http://[::1"`` is named as
the caller's mistake before anything is sent, not found as a defect deep in the HTTP stack.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestSpec", "url_problem"]


@dataclass(slots=True)
class RequestSpec:
    """Everything needed to build one ``httpx.Request`` (again, for each attempt)."""

    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None
    has_json: bool = False
    content: bytes | None = None
    # Multipart parts: form fields have no file name (None), files have one.
    files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None


_MAX_PORT = 65535


@functools.lru_cache(maxsize=512)
def url_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as an http(s) URL, or None when it can."""
    import httpx  # noqa: PLC0415 - the parser that will send it; already loaded by a call

    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        return f"is not a valid URL ({exc})"
    if url.scheme not in {"http", "https"}:
        return "must start with http:// or https://"
    if not url.host:
        return "has no host"
    if url.port is not None and not 0 < url.port <= _MAX_PORT:
        return f"has port {url.port}, outside 1-{_MAX_PORT}"
    if ":" not in url.host:  # a name, not an IPv6 address: the resolver takes it as IDNA
        try:
            url.host.encode("idna")
        except UnicodeError:
            return "has a host name the resolver cannot take (a label over 63 characters?)"
    return None
