"""The request an action sends, as data: built once, made an ``httpx.Request`` per attempt."""

from __future__ import annotations

from typing import IO, Any, Protocol

import msgspec

__all__ = ["Openable", "RequestSpec"]


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
