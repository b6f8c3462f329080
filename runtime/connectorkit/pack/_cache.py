"""A cache of checked packs: a pack whose files have not changed is not parsed or checked again.

Reading YAML and checking it against the JSON Schemas costs more than everything else a cold
``invoke`` does before its request. The cache keeps the checked documents as JSON, keyed by the
path, size and modification time of every pack file, of the schemas and of the checker itself, so
any edit (or a new connectorkit) makes the entry stale. It is an optimisation only: any problem
reading or writing it falls back to a full load.

An entry is one line of JSON (the key, connector.yaml and the connections, and an index of the
actions) followed by each action's JSON text: a call of one action of a pack of hundreds
parses the index and that one action, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from connectorkit.core._settings import settings
from connectorkit.core._version import version

__all__ = ["CACHE_ENV", "CachedDocument", "cache_dir", "fingerprint", "read", "write"]

CACHE_ENV = "CONNECTORKIT_CACHE_DIR"
_PACKAGE = Path(__file__).resolve().parent.parent
# The code that decides whether a pack is valid: a change to it must invalidate the cache.
_CHECKER = (
    "pack/_read.py",
    "pack/_check.py",
    "pack/_rules.py",
    "pack/_hooks.py",
    "pack/_load.py",
    "pack/_cache.py",
    "types/_compile.py",
    "types/_issues.py",
    "types/_explain.py",
    "types/_fastpath.py",
    "types/_input.py",
)


class CachedDocument(NamedTuple):
    """A checked pack file as the loader builds definitions from it.

    An action's ``data`` is ``None`` until the action is asked for: :meth:`parsed` reads it
    from its slice of the cache entry.
    """

    path: Path | str  # a cached action's path stays text until it is built
    kind: str
    data: Any
    key: str | None = None
    source: bytes | None = None
    span: tuple[int, int] = (0, 0)

    def parsed(self) -> Any:
        """The document's data, parsed from the cache entry when it was left unread."""
        if self.data is not None or self.source is None:
            return self.data
        start, end = self.span
        return json.loads(self.source[start:end])


def cache_dir() -> Path | None:
    """``$CONNECTORKIT_CACHE_DIR`` (empty: no cache), else the user's cache folder."""
    chosen = settings().cache_dir
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "connectorkit"


def _stats(folder: str, suffix: str) -> str:
    """``name:size:mtime`` of every file of ``folder`` ending in ``suffix``, sorted."""
    try:
        with os.scandir(folder) as entries:
            found = sorted(
                (entry.name, entry.stat()) for entry in entries if entry.name.endswith(suffix)
            )
    except OSError:
        return f"{folder}:missing\n"
    return f"{folder}\n" + "".join(f"{n}:{s.st_size}:{s.st_mtime_ns}\n" for n, s in found)


def fingerprint(root: Path, schemas: Path) -> str:
    """A digest of every file whose change could change the loaded pack."""
    parts = [version(), _stats(str(root / "connections"), ".yaml")]
    parts.append(_stats(str(root / "actions"), ".yaml"))
    parts.append(_stats(str(schemas), ".json"))
    for path in (root / "connector.yaml", *(_PACKAGE / name for name in _CHECKER)):
        try:
            stat = os.stat(path)  # noqa: PTH116 - one call per file on the cold path
        except OSError:
            parts.append(f"{path}:missing\n")
            continue
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _entry(root: Path) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return folder / f"pack-{name}.json"


def read(root: Path, key: str) -> list[CachedDocument] | None:
    """The checked documents stored for ``root`` under ``key``, or ``None``."""
    entry = _entry(root)
    if entry is None:
        return None
    try:
        raw = entry.read_bytes()
        end = raw.index(b"\n")
        index = json.loads(raw[:end])
        if index.get("key") != key:
            return None
        documents = [CachedDocument(Path(p), kind, data) for p, kind, data in index["documents"]]
        body = raw[end + 1 :]
        for path, name, start, stop in index["actions"]:
            if not 0 <= start <= stop <= len(body):
                return None
            documents.append(CachedDocument(path, "action", None, name, body, (start, stop)))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return documents


def write(root: Path, key: str, documents: list[Any]) -> None:
    """Store checked documents; silently gives up (read-only home, odd YAML types, ...)."""
    entry = _entry(root)
    if entry is None:
        return
    try:
        body = bytearray()
        actions: list[list[Any]] = []
        for d in documents:
            if d.kind == "action":
                text = json.dumps(d.data, allow_nan=False, separators=(",", ":")).encode()
                actions.append([str(d.path), d.data["key"], len(body), len(body) + len(text)])
                body += text
        index = {
            "key": key,
            "documents": [[str(d.path), d.kind, d.data] for d in documents if d.kind != "action"],
            "actions": actions,
        }
        head = json.dumps(index, allow_nan=False, separators=(",", ":")).encode()
        entry.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a concurrent reader never sees half a file.
        with tempfile.NamedTemporaryFile(
            "wb", dir=entry.parent, prefix=".pack-", suffix=".tmp", delete=False
        ) as handle:
            handle.write(head + b"\n" + bytes(body))
        Path(handle.name).replace(entry)
    except (OSError, TypeError, ValueError):
        return
