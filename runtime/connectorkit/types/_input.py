"""An input definition: one typed input of an action, or one value of a connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["IMPORTANCE", "Importance", "InputDef", "InputType"]

InputType = Literal[
    "string", "integer", "number", "boolean", "object", "array", "key_value", "json", "file"
]
# How prominently a designer shows an action or an input: first, folded away, or not at all.
Importance = Literal["important", "advanced", "internal"]
IMPORTANCE: tuple[Importance, ...] = ("important", "advanced", "internal")


@dataclass(frozen=True, slots=True)
class InputDef:
    """One typed input of an action, or one value of a connection."""

    key: str
    label: str
    type: InputType
    comments: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    items: Mapping[str, Any] | None = None
    format: str | None = None
    secret: bool = False
    example: Any = None
    importance: Importance | None = None
    # Where the values come from (another action's list), and where the shape of the value
    # comes from (a table's columns): kept as written, read by ``pack._choices`` when asked.
    choices: Mapping[str, Any] | None = None
    dynamic_schema: Mapping[str, Any] | None = None
    # True for the retry/timeout/debug inputs every action receives from connector.yaml.
    call_input: bool = False

    @property
    def has_default(self) -> bool:
        """Whether a default is declared (``None`` is never a meaningful default here)."""
        return self.default is not None
