"""Where packs are and which files make one: the bundled packs, the schemas, a pack's file list."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from connectorkit.core._settings import settings

__all__ = [
    "PACK_ENV",
    "FileKind",
    "bundled_pack_names",
    "default_pack_root",
    "named_pack",
    "pack_files",
    "packs_dir",
    "schema_dir",
]

PACK_ENV = "CONNECTORKIT_PACK"
DEFAULT_PACK = "powerbi"
_PACKAGE = Path(__file__).resolve().parent.parent

FileKind = Literal["connector", "action", "connection"]


@functools.cache
def packs_dir() -> Path:
    """The folder of the packs that ship with connectorkit.

    A wheel carries them inside the package (``_packs/``). An editable install (``pip install
    -e``) has none there: it uses the ``packs/`` folder of the source tree it was installed
    from, which the install recorded in its ``direct_url.json`` (PEP 610).
    """
    bundled = _PACKAGE / "_packs"
    if bundled.is_dir():
        return bundled
    source = _editable_source()
    return source / "packs" if source is not None else bundled


def _editable_source() -> Path | None:
    from connectorkit.core._version import metadata_file  # noqa: PLC0415 - editable installs only

    for path in metadata_file("direct_url.json"):
        try:
            with open(path, encoding="utf-8") as handle:  # noqa: PTH123 - pathlib-free, as _version
                import json  # noqa: PLC0415

                record = json.load(handle)
        except (OSError, ValueError):
            continue
        url = record.get("url", "") if isinstance(record, dict) else ""
        if url.startswith("file://"):
            from urllib.parse import unquote, urlsplit  # noqa: PLC0415

            return Path(unquote(urlsplit(url).path))
    return None


def default_pack_root() -> Path:
    """The pack the command uses when none is named: ``$CONNECTORKIT_PACK``, else the default."""
    chosen = settings().pack
    if chosen:
        return named_pack(chosen)
    return packs_dir() / DEFAULT_PACK


def bundled_pack_names() -> list[str]:
    """The names of the packs that ship with connectorkit, sorted."""
    folder = packs_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "connector.yaml").is_file())


def named_pack(text: str) -> Path:
    """A pack named on the command line: a folder (or its ``connector.yaml``), or a bundled name.

    A folder that exists wins; otherwise a bare name such as ``reportserver`` is the bundled
    pack of that name, so that an install without a clone can use every pack it ships.
    """
    path = Path(text).expanduser()
    if path.name == "connector.yaml" and path.is_file():
        return path.parent
    if path.exists() or "/" in text or "\\" in text:
        return path
    bundled = packs_dir() / text
    return bundled if (bundled / "connector.yaml").is_file() else path


def schema_dir() -> Path:
    """The JSON Schemas every pack is checked against: those of this package."""
    return _PACKAGE / "schemas"


def pack_files(root: Path) -> list[tuple[Path, FileKind]]:
    """``connector.yaml``, then ``connections/*.yaml``, then ``actions/*.yaml``, each sorted."""
    files: list[tuple[Path, FileKind]] = [(root / "connector.yaml", "connector")]
    files += [(p, "connection") for p in sorted((root / "connections").glob("*.yaml"))]
    files += [(p, "action") for p in sorted((root / "actions").glob("*.yaml"))]
    return files
