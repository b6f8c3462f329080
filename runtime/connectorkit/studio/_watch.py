"""The pack as the page sees it: its catalog, reloaded whenever one of its files changes."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import ConnectorError
from connectorkit.pack._cache import fingerprint as pack_fingerprint
from connectorkit.pack._files import schema_dir

if TYPE_CHECKING:
    from pathlib import Path

    from connectorkit.pack._definitions import Pack

__all__ = ["PackView", "fingerprint"]


def fingerprint(root: Path) -> str:
    """The pack's fingerprint, as its cache keys it: a pack file changed, or the schemas.

    Stat calls only, so the page can ask for it every second or two at no real cost.
    """
    return pack_fingerprint(root, schema_dir())[:16]


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
