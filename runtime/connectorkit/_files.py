"""Where packs are and which files make one: the bundled pack, the schemas, a pack's file list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

__all__ = ["PACK_ENV", "FileKind", "default_pack_root", "pack_files", "schema_dir"]

PACK_ENV = "CONNECTORKIT_PACK"
_HERE = Path(__file__).resolve().parent

FileKind = Literal["connector", "action", "connection"]


def default_pack_root() -> Path:
    """The pack the command uses when none is named: ``$CONNECTORKIT_PACK``, else the bundled one.

    A wheel carries its pack inside the package (``_pack/``); a source checkout (an
    editable install) uses the repository root, which is the pack.
    """
    chosen = os.environ.get(PACK_ENV)
    if chosen:
        return Path(chosen)
    bundled = _HERE / "_pack"
    if (bundled / "connector.yaml").is_file():
        return bundled
    return _HERE.parent.parent


def schema_dir() -> Path:
    """The JSON Schemas every pack is checked against: those bundled with connectorkit."""
    bundled = _HERE / "_pack" / "schemas"
    return bundled if bundled.is_dir() else _HERE.parent.parent / "schemas"


def pack_files(root: Path) -> list[tuple[Path, FileKind]]:
    """``connector.yaml``, then ``connections/*.yaml``, then ``actions/*.yaml``, each sorted."""
    files: list[tuple[Path, FileKind]] = [(root / "connector.yaml", "connector")]
    files += [(p, "connection") for p in sorted((root / "connections").glob("*.yaml"))]
    files += [(p, "action") for p in sorted((root / "actions").glob("*.yaml"))]
    return files
