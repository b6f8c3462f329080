"""What a template of a multi-request block sees: names, and the response at hand.

``{name}`` is an input or a value kept from the first response; ``{$body}``, ``{$body.a.0.b}``,
``{$headers.Location}`` and ``{$status}`` read the response the block is rendered over.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["NO_BODY", "Names", "Scope", "field_at"]


class _NoBody:
    __slots__ = ()


NO_BODY: Any = _NoBody()


def field_at(body: Any, path: str) -> Any:
    """The value at ``path`` in a JSON body, or ``None``.

    The whole path is tried as one key first (``@odata.nextLink``), then as a dotted path whose
    numeric steps index lists (``reports.0.id``). ``""`` is the body itself.
    """
    if path == "":
        return body
    if isinstance(body, dict) and path in body:
        return body[path]
    value = body
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


class Names(Mapping[str, Any]):
    """What a template sees, through :meth:`get`: a name whose value is ``None`` has none.

    It iterates over the plain names it holds (:meth:`listed`); the names it reads from
    elsewhere (``$body…``, ``$item…``) are found by :meth:`get` alone.
    """

    __slots__ = ()

    @abstractmethod
    def get(self, key: str, default: Any = None) -> Any:
        """The value a placeholder names (``default`` when it has none)."""

    @abstractmethod
    def listed(self) -> Mapping[str, Any]:
        """The plain names, the ones iteration gives."""

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.listed())

    def __len__(self) -> int:
        return len(self.listed())


class Scope(Names):
    """Names (inputs, kept values) and, when given, one response's body, headers and status."""

    __slots__ = ("_body", "_names", "_response")

    def __init__(
        self,
        names: Mapping[str, Any],
        response: httpx.Response | None = None,
        body: Any = NO_BODY,
    ) -> None:
        self._names = names
        self._response = response
        self._body = body

    def with_names(self, **more: Any) -> Scope:
        """The same response, with more names (``$upload.url``, ``$block.id``)."""
        return Scope({**self._names, **more}, self._response, self._body)

    @property
    def body(self) -> Any:
        """The parsed body of the response (read once), or ``None``."""
        if self._body is NO_BODY:
            from connectorkit.http._responses import parse_body  # noqa: PLC0415

            self._body = parse_body(self._response) if self._response is not None else None
        return self._body

    def get(self, key: str, default: Any = None) -> Any:
        """The value a placeholder names (``None`` when it has none)."""
        if key in self._names:
            return self._names[key]
        if not key.startswith("$"):
            return default
        found: Any = None
        if key == "$body":
            found = self.body
        elif key.startswith("$body."):
            found = field_at(self.body, key[len("$body.") :])
        elif key.startswith("$headers.") and self._response is not None:
            found = self._response.headers.get(key[len("$headers.") :])
        elif key == "$status" and self._response is not None:
            found = self._response.status_code
        return default if found is None else found

    def listed(self) -> Mapping[str, Any]:
        """The inputs and kept values."""
        return self._names
