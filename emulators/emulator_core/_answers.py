"""An answer of the core, before an emulator turns it into its HTTP response."""

from __future__ import annotations

import dataclasses

__all__ = ["Answer"]


@dataclasses.dataclass
class Answer:
    """A status, a JSON body (None: no body) and headers."""

    status: int
    body: object = None
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header `name`, if set."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)
