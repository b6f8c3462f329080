"""Swagger documents that refer to each other: `$ref`s resolved relative to the referring file.

A reference is `#/definitions/X` (the same document), `./definitions.json#/definitions/X` or
`../common/definitions.json#/definitions/X` (another one, found relative to the folder of the
document that holds the reference). A schema reached through a reference keeps the document
it lives in, so references inside it resolve from there. A file named in another case than
its own is found (the documents are written where file names ignore case).
"""

from __future__ import annotations

import gzip
import json
import posixpath
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["DocumentSet", "Located", "UnresolvedReferenceError"]

Json = dict[str, Any]
Located = tuple[Json, str]  # a schema (or parameter) and the document it lives in
_MAX_CHAIN = 32  # a `$ref` to a `$ref` ... this deep is a loop


class UnresolvedReferenceError(LookupError):
    """A `$ref` names a document or a pointer that is not there."""

    def __init__(self, ref: str, document: str) -> None:
        super().__init__(f"{document}: $ref {ref!r} cannot be resolved")
        self.ref = ref
        self.document = document


class DocumentSet:
    """Parsed JSON documents by their path (posix, relative to the set's root)."""

    def __init__(self, documents: Mapping[str, Json]) -> None:
        self.documents = dict(documents)
        self._folded = {path.casefold(): path for path in self.documents}

    @classmethod
    def from_bundle(cls, data: bytes) -> DocumentSet:
        """A set from a gzipped `{"documents": {path: document}}` bundle."""
        bundle = json.loads(gzip.decompress(data))
        return cls(cast("dict[str, Json]", bundle["documents"]))

    def swaggers(self) -> Iterator[str]:
        """The paths of the documents that declare operations, sorted."""
        for path in sorted(self.documents):
            if self.documents[path].get("paths"):
                yield path

    def target(self, ref: str, document: str) -> Located:
        """What `ref` (written in `document`) points at, and the document holding it."""
        file, _, pointer = ref.partition("#")
        where = document
        if file:
            where = posixpath.normpath(posixpath.join(posixpath.dirname(document), file))
        # Documents written on Windows may name a file in another case (`../Common/...`).
        where = where if where in self.documents else self._folded.get(where.casefold(), where)
        node: Any = self.documents.get(where)
        if node is None:
            raise UnresolvedReferenceError(ref, document)
        for part in (p for p in pointer.split("/") if p):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise UnresolvedReferenceError(ref, document)
            node = node[key]
        if not isinstance(node, dict):
            raise UnresolvedReferenceError(ref, document)
        return cast("Json", node), where

    def resolve(self, node: Json, document: str) -> Located:
        """`node` with its `$ref` chain followed, and the document the result lives in."""
        for _ in range(_MAX_CHAIN):
            ref = node.get("$ref")
            if not isinstance(ref, str):
                return node, document
            node, document = self.target(ref, document)
        raise UnresolvedReferenceError(str(node.get("$ref")), document)

    def unresolved(self) -> list[UnresolvedReferenceError]:
        """Every `$ref` of every document that does not resolve."""
        problems: list[UnresolvedReferenceError] = []
        for path, document in sorted(self.documents.items()):
            stack: list[Any] = [document]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    ref = node.get("$ref")
                    if isinstance(ref, str):
                        try:
                            self.target(ref, path)
                        except UnresolvedReferenceError as exc:
                            problems.append(exc)
                    # Examples are documentation, not schemas (the emulator ships without them).
                    stack.extend(v for k, v in node.items() if k != "x-ms-examples")
                elif isinstance(node, list):
                    stack.extend(node)
        return problems
