"""The request an action sends, as data: built once, made an ``httpx.Request`` per attempt.

:func:`url_problem` says whether a URL can be sent at all — what httpx (and the resolver after
it) would refuse — so that a connection value such as ``base_url: "http://[::1"`` is named as
the caller's mistake before anything is sent, not found as a defect deep in the HTTP stack.
"""

from __future__ import annotations

import functools
from typing import IO, Any, Protocol

import msgspec

__all__ = ["Openable", "RequestSpec", "url_problem"]


class Openable(Protocol):
    """Bytes to send that are read only when sent (a file on disk, a block of one).

    Each attempt opens it again, so a retried request sends it whole from the start.
    """

    @property
    def name(self) -> str:
        """The file name the service is told."""
        ...

    @property
    def content_type(self) -> str:
        """Its media type."""
        ...

    @property
    def size(self) -> int:
        """Its length in bytes."""
        ...

    def open(self) -> IO[bytes]:
        """A reader positioned at its first byte, reading ``size`` bytes at most."""
        ...


class RequestSpec(msgspec.Struct):
    """Everything needed to build one ``httpx.Request`` (again, for each attempt)."""

    method: str
    url: str
    params: list[tuple[str, str]] = msgspec.field(default_factory=list)
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    json: Any = None
    has_json: bool = False
    content: bytes | None = None
    # Multipart parts: form fields have no file name (None), files have one; a file's bytes may
    # be an Openable, streamed from disk when the request is sent.
    files: list[tuple[str, tuple[str | None, bytes | Openable, str | None]]] | None = None
    # The raw body, streamed from disk (``content`` stays None).
    upload: Openable | None = None
    # Whether credentials go with it: not to a host other than the connection's base_url's.
    credentials: bool = True
    # Stream the answer instead of reading it (a file saved to disk); the caller closes it.
    stream: bool = False
    # The pack's other service it goes to (its token, not the connection's), if any.
    service: str | None = None


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
