"""The swagger-driven part of an emulated service: its operations, their checks, their answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator_core._answers import Answer
from emulator_core._operations import OperationTable
from emulator_core._validation import RequestValidator
from emulator_core._values import SchemaValues, Subtypes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from emulator_core._documents import DocumentSet, Located
    from emulator_core._operations import Operation

__all__ = ["FILE_CONTENT", "SwaggerApi"]

FILE_CONTENT = "application/octet-stream"


class SwaggerApi:
    """A document set's operation table, request validator and schema-built answers."""

    def __init__(self, documents: DocumentSet) -> None:
        self.documents = documents
        self.table = OperationTable(documents)
        self.subtypes = Subtypes(documents)
        self.validator = RequestValidator(documents, self.subtypes)

    def value(self, located: Located, now: str, params: Mapping[str, str] | None = None) -> Any:
        """A value valid against a schema (ids taken from `params` where the names agree)."""
        return SchemaValues(self.documents, self.subtypes, now, params).build(located)

    def answer(self, operation: Operation, now: str, params: Mapping[str, str]) -> Answer:
        """The operation's documented outcome, built from its schema.

        The first success other than 202 (202 when it has no other), with a body valid against
        that response's schema; a `file` response gets a few bytes of the first media type it
        produces that is not JSON (octet-stream when it names none).
        """
        response = operation.result or operation.responses[operation.successes[0]]
        if response.schema is None:
            return Answer(response.status)
        schema, _ = self.documents.resolve(*response.schema)
        if schema.get("type") == "file":
            content = f"Emulated content of {operation.id}\n".encode()
            media = next((m for m in operation.produces if "json" not in m), FILE_CONTENT)
            return Answer(response.status, content, [("content-type", media)])
        return Answer(response.status, self.value(response.schema, now, params))
