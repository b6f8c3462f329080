"""A document about to be written, checked by its model: what ``new`` and ``import-openapi`` use.

Those commands build their documents as text or dicts, in the order and style a person reads;
each goes through its model before any file is written, and one the model refuses is reported
with the place of every problem (pydantic's location, joined with dots) and not written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from connectorkit.authoring.model._action import Action
from connectorkit.authoring.model._connection import Connection
from connectorkit.authoring.model._connector import Connector, ConnectorOpenApi
from connectorkit.authoring.model._trigger import Trigger

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["InvalidDocument", "Kind", "check", "problems"]

Kind = Literal["action", "connection", "connector", "connector.openapi", "trigger"]

_MODELS: dict[str, type[BaseModel]] = {
    "action": Action,
    "connection": Connection,
    "connector": Connector,
    "connector.openapi": ConnectorOpenApi,
    "trigger": Trigger,
}


class InvalidDocument(ValueError):
    """A document its model refuses; the message names the document and each field."""


def problems(kind: Kind, document: Any) -> list[str]:
    """What the model of ``kind`` finds wrong with ``document``: ``field.path: message`` each."""
    try:
        _MODELS[kind].model_validate(document)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(part) for part in error['loc']) or '(the document)'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
    return []


def check(kind: Kind, document: Any, what: str) -> None:
    """Raise :class:`InvalidDocument` naming ``what`` when the model of ``kind`` refuses it."""
    found = problems(kind, document)
    if found:
        raise InvalidDocument(
            f"{what} would not be valid ({'; '.join(found)}); nothing was written"
        )
