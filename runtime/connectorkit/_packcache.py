"""A cache of checked packs: a pack whose files have not changed is not parsed or checked again.

Reading YAML and checking it against the JSON Schemas costs more than everything else a cold
``invoke`` does before its request. The cache keeps the checked documents as JSON, keyed by the
path, size and modification time of every pack file, of the schemas and of the checker itself, so
any edit (or a new connectorkit) makes the entry stale. It is an optimisation only: any problem
reading or writing it falls back to a full load.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from connectorkit._files import pack_files
from connectorkit._version import version

__all__ = ["CACHE_ENV", "CachedDocument", "cache_dir", "fingerprint", "read", "write"]

CACHE_ENV = "CONNECTORKIT_CACHE_DIR"
_HERE = Path(__file__).resolve().parent
# The code that decides whether a pack is valid: a change to it must invalidate the cache.
_CHECKER = (
    "_read.py",
    "_check.py",
    "_crosscheck.py",
    "_types.py",
    "_issues.py",
    "_hooks.py",
    "_load.py",
    "_packcache.py",
)


class CachedDocument(NamedTuple):
    """A checked pack file as the loader builds definitions from it."""

    path: Path
    kind: str
    data: Any


def cache_dir() -> Path | None:
    """``$CONNECTORKIT_CACHE_DIR`` (empty: no cache), else the user's cache folder."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "connectorkit"


def fingerprint(root: Path, schemas: Path) -> str:
    """A digest of every file whose change could change the loaded pack."""
    digest = hashlib.sha256(version().encode())
    watched = [p for p, _ in pack_files(root)]
    watched += sorted(schemas.glob("*.json")) + [_HERE / name for name in _CHECKER]
    for path in watched:
        try:
            stat = path.stat()
        except OSError:
            digest.update(f"{path}:missing".encode())
            continue
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


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
        stored = json.loads(entry.read_bytes())
        if stored.get("key") != key:
            return None
        return [CachedDocument(Path(p), kind, data) for p, kind, data in stored["documents"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write(root: Path, key: str, documents: list[Any]) -> None:
    """Store checked documents; silently gives up (read-only home, odd YAML types, ...)."""
    entry = _entry(root)
    if entry is None:
        return
    try:
        payload = json.dumps(
            {"key": key, "documents": [[str(d.path), d.kind, d.data] for d in documents]},
            allow_nan=False,
        )
        entry.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a concurrent reader never sees half a file.
        with tempfile.NamedTemporaryFile(
            "w", dir=entry.parent, prefix=".pack-", suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(payload)
        Path(handle.name).replace(entry)
    except (OSError, TypeError, ValueError):
        return
