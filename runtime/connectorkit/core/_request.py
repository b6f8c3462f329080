"""The request an action sends, as data: built once, made an ``httpx.Request`` per attempt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestSpec"]


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
