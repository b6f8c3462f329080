"""The swagger-driven core of the service emulators (it imports nothing from connectorkit).

An emulator reads its service's swagger documents into a `SwaggerApi`: an operation table
(documents that refer to each other, `$ref`s resolved relative to the referring file), request
checks naming the bad field, and answers built from the documented schemas. Beside it: pages
with continuation tokens, long-running operations polled at `/operations/{id}` with
`Retry-After`, and a request rate per caller; all timed on the emulator's clock.
"""

from __future__ import annotations

from emulator_core._answers import Answer
from emulator_core._api import FILE_CONTENT, SwaggerApi
from emulator_core._clock import Clock
from emulator_core._documents import DocumentSet, Located, UnresolvedReferenceError
from emulator_core._lro import (
    LongRunning,
    LongRunningOperations,
    OperationFailedError,
    OperationLookupError,
)
from emulator_core._operations import Match, Operation, OperationTable, Paging, Parameter, Response
from emulator_core._pages import BadTokenError, Page, Pages
from emulator_core._throttle import RequestRate
from emulator_core._validation import MISSING, Problem, RequestValidator
from emulator_core._values import SchemaValues, Subtypes, python_pattern

__all__ = [
    "FILE_CONTENT",
    "MISSING",
    "Answer",
    "BadTokenError",
    "Clock",
    "DocumentSet",
    "Located",
    "LongRunning",
    "LongRunningOperations",
    "Match",
    "Operation",
    "OperationFailedError",
    "OperationLookupError",
    "OperationTable",
    "Page",
    "Pages",
    "Paging",
    "Parameter",
    "Problem",
    "RequestRate",
    "RequestValidator",
    "Response",
    "SchemaValues",
    "Subtypes",
    "SwaggerApi",
    "UnresolvedReferenceError",
    "python_pattern",
]
