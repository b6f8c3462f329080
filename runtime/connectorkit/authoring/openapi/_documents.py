"""OpenAPI documents that refer to each other: `$ref`s resolved relative to the referring file.

`#/definitions/X` points into the same document; `./definitions.json#/definitions/X` and
`../common/definitions.json#/...` into another, found from the folder of the document that
holds the reference; `./examples/X.json` is a whole file. What a reference reaches keeps the
document it lives in, so references inside it resolve from there. A file named in another case
than its own is found too: such documents are written where file names ignore case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.authoring.openapi._lenient import read_json_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Documents", "Located"]

Located = tuple[Any, "Path"]  # a node, and the document it lives in
_MAX_CHAIN = 20  # a `$ref` to a `$ref` ... this long is a loop


class Documents:
    """Documents read from disk, each once (JSON or YAML)."""

    def __init__(self) -> None:
        self._read: dict[Path, Any] = {}
        self.notes: list[str] = []  # what had to be forgiven to read a document, per document

    def load(self, path: Path) -> Any:
        """The parsed document at `path` (read once); raises OSError or ValueError."""
        path = path.resolve()
        if path not in self._read:
            if path.suffix.lower() == ".json":
                # As the tools that edit such documents read them (see :mod:`._lenient`).
                read = read_json_text(path.read_bytes())
                self._read[path] = read.value
                self.notes += [f"{path.name}: read despite {note}" for note in read.notes()]
            else:
                import yaml  # noqa: PLC0415 - only YAML documents need it

                self._read[path] = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        return self._read[path]

    def target(self, ref: str, document: Path) -> Located:
        """What `ref`, written in `document`, points at; raises LookupError naming it."""
        file, _, pointer = ref.partition("#")
        where = _find(document.parent / file) if file else document
        try:
            node: Any = self.load(where)
        except (OSError, ValueError) as exc:
            raise LookupError(f"{ref} (from {document.name}): {exc}") from None
        for part in (p for p in pointer.split("/") if p):
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                raise LookupError(f"{ref} (from {document.name}): no '{key}' there")
        return node, where.resolve()

    def resolve(self, node: Any, document: Path) -> Located:
        """`node` with its chain of `$ref`s followed, and the document the end lives in."""
        for _ in range(_MAX_CHAIN):
            ref = node.get("$ref") if isinstance(node, dict) else None
            if not isinstance(ref, str):
                return node, document
            node, document = self.target(ref, document)
        raise LookupError(f"a chain of $ref longer than {_MAX_CHAIN} in {document.name}")


def _find(path: Path) -> Path:
    """`path`, or the file whose name differs from it only in case (part by part)."""
    if path.exists():
        return path
    whole = path.absolute()
    current = type(path)(whole.anchor)
    for part in whole.parts[1:]:
        if (current / part).exists():
            current = current / part
            continue
        folded = part.casefold()
        children = current.iterdir() if current.is_dir() else iter(())
        twin = next((c for c in children if c.name.casefold() == folded), None)
        if twin is None:
            return path
        current = twin
    return current
