"""The pack as the page sees it: its catalog, reloaded whenever one of its files changes."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import ConnectorError

if TYPE_CHECKING:
    from pathlib import Path

    from connectorkit.pack._definitions import Pack

__all__ = ["PackView", "fingerprint"]


def fingerprint(root: Path) -> str:
    """A digest of the names, sizes and modification times of the pack's files.

    Stat calls only, so the page can ask for it every second or two at no real cost.
    """
    digest = hashlib.sha256()
    paths = [root / "connector.yaml"]
    for folder in ("actions", "connections"):
        base = root / folder
        if base.is_dir():
            paths += sorted(p for p in base.rglob("*") if p.is_file())
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            digest.update(f"{path}:missing\n".encode())
            continue
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class PackView:
    """The loaded pack and its ``describe`` catalog, or why it does not load.

    :meth:`current` reloads when the files' fingerprint moved since the last look, so an author
    editing an action sees it on the page at the next poll.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._version = ""
        self._pack: Pack | None = None
        self._catalog: dict[str, Any] | None = None
        self._error: dict[str, Any] | None = None

    def current(self) -> tuple[str, Pack | None, dict[str, Any] | None, dict[str, Any] | None]:
        """``(version, pack, catalog, error)``; exactly one of catalog and error is set."""
        version = fingerprint(self.root)
        with self._lock:
            if version != self._version:
                self._reload()
                self._version = version
            return self._version, self._pack, self._catalog, self._error

    def _reload(self) -> None:
        from connectorkit.authoring._catalog import describe  # noqa: PLC0415 - loaded with the pack
        from connectorkit.pack._load import load_pack  # noqa: PLC0415

        try:
            pack = load_pack(self.root)
        except ConnectorError as exc:
            self._pack, self._catalog = None, None
            self._error = exc.to_dict()
            return
        self._pack, self._catalog, self._error = pack, describe(pack), None
