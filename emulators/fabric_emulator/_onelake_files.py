"""The files of one OneLake item, with Azure Data Lake Storage Gen2's write semantics.

A file is created empty; data appended at a position is staged, invisible to readers, until a
flush at the position where the data ends makes it the file's content. Appending again at a
position already staged replaces that block (a retried append does no harm); flushing a
position already flushed changes nothing (nor does a retried flush).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock

__all__ = ["ItemFiles", "OneLakeFile", "PathError"]

_ETAGS = itertools.count(0x8DC0000000000)


class PathError(Exception):
    """A storage error of a path operation: HTTP status, storage code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _etag() -> str:
    return f'"0x{next(_ETAGS):X}"'


@dataclasses.dataclass
class OneLakeFile:
    """A file: flushed content (in chunks, as appended) and staged blocks by position."""

    created: float
    modified: float
    etag: str = dataclasses.field(default_factory=_etag)
    chunks: list[bytes] = dataclasses.field(default_factory=list)
    size: int = 0
    staged: dict[int, bytes] = dataclasses.field(default_factory=dict)

    def content(self) -> bytes:
        """The flushed content."""
        return b"".join(self.chunks)


@dataclasses.dataclass
class Directory:
    """A directory (made explicitly, or implied by a file inside it)."""

    created: float
    etag: str = dataclasses.field(default_factory=_etag)


Node = OneLakeFile | Directory


class ItemFiles:
    """The paths of one item (`Files/...`, `Tables/...`), case-sensitive like the service."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self.nodes: dict[str, Node] = {}

    def get(self, path: str) -> Node | None:
        """The file or directory at `path` ('' is the item's root, a directory)."""
        return Directory(0.0) if path == "" else self.nodes.get(path)

    def file(self, path: str) -> OneLakeFile:
        """The file at `path`; raises PathError 404, or 409 when it is a directory."""
        node = self.nodes.get(path)
        if node is None:
            raise PathError(404, "PathNotFound", "The specified path does not exist.")
        if isinstance(node, Directory):
            raise PathError(409, "PathConflict", "The specified path is a directory.")
        return node

    def make_directory(self, path: str) -> Directory:
        """Make a directory and its parents (an existing one is kept)."""
        node = self.nodes.get(path)
        if isinstance(node, OneLakeFile):
            raise PathError(409, "PathConflict", "The specified path already exists as a file.")
        self._parents(path)
        if node is None:
            node = self.nodes[path] = Directory(self._clock.now())
        return node

    def create_file(self, path: str) -> OneLakeFile:
        """A new empty file at `path`, replacing a file there (not a directory)."""
        if isinstance(self.nodes.get(path), Directory):
            raise PathError(
                409, "PathConflict", "The specified path already exists as a directory."
            )
        self._parents(path)
        now = self._clock.now()
        created = self.nodes[path] = OneLakeFile(now, now)
        return created

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for end in range(1, len(parts) + 1):
            parent = "/".join(parts[:end])
            node = self.nodes.get(parent)
            if isinstance(node, OneLakeFile):
                raise PathError(409, "PathConflict", f"'{parent}' is a file, not a directory.")
            if node is None:
                self.nodes[parent] = Directory(self._clock.now())

    def append(self, path: str, position: int, data: bytes) -> None:
        """Stage `data` at `position` of the file."""
        target = self.file(path)
        if position < target.size:
            raise PathError(
                400,
                "InvalidFlushPosition",
                "The uploaded data is not contiguous or the position query parameter value is "
                "not equal to the length of the file after appending the uploaded data.",
            )
        target.staged[position] = data

    def flush(self, path: str, position: int) -> OneLakeFile:
        """Make the staged data up to `position` the file's content (contiguous, or 400)."""
        target = self.file(path)
        if position == target.size and not target.staged:
            return target
        end = target.size
        taken: list[bytes] = []
        while end < position and end in target.staged:
            block = target.staged[end]
            taken.append(block)
            end += len(block)
        if end != position or position < target.size:
            raise PathError(
                400,
                "InvalidFlushPosition",
                "The uploaded data is not contiguous or the position query parameter value is "
                "not equal to the length of the file after appending the uploaded data.",
            )
        target.chunks.extend(taken)
        target.size = end
        target.staged.clear()  # what lies beyond is dropped (retainUncommittedData=false)
        target.modified = self._clock.now()
        target.etag = _etag()
        return target

    def delete(self, path: str, *, recursive: bool) -> None:
        """Remove a file, or a directory (with what is inside it only when `recursive`)."""
        node = self.nodes.get(path)
        if node is None:
            raise PathError(404, "PathNotFound", "The specified path does not exist.")
        inside = [p for p in self.nodes if p.startswith(path + "/")]
        if isinstance(node, Directory) and inside and not recursive:
            raise PathError(
                409,
                "DirectoryNotEmpty",
                "The recursive query parameter value must be true to delete a non-empty directory.",
            )
        for child in inside:
            del self.nodes[child]
        del self.nodes[path]

    def listing(self, directory: str, *, recursive: bool) -> list[tuple[str, Node]]:
        """The paths under `directory` ('' for all), sorted; direct children unless recursive."""
        if directory and not isinstance(self.nodes.get(directory), Directory):
            raise PathError(404, "PathNotFound", "The specified path does not exist.")
        prefix = f"{directory}/" if directory else ""
        found = []
        for path, node in sorted(self.nodes.items()):
            if not path.startswith(prefix):
                continue
            if recursive or "/" not in path[len(prefix) :]:
                found.append((path, node))
        return found
