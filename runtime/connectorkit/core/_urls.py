"""Whether a URL can be sent at all: what httpx (and the resolver after it) would refuse.

A connection value such as ``base_url: "http://[::1"`` is the caller's mistake, to be named
before anything is sent, not a defect found deep in the HTTP stack.
"""

from __future__ import annotations

import functools

__all__ = ["url_problem"]

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
