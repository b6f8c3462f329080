"""The installed version, read once from the package's metadata."""

from __future__ import annotations

import functools
import os
import sys

__all__ = ["metadata_file", "version"]

_PREFIX = "connectorkit-"
_SUFFIX = ".dist-info"


def metadata_file(name: str) -> list[str]:
    """``name`` (``METADATA``, ``direct_url.json``) of every ``connectorkit-*.dist-info`` found.

    The folders of ``sys.path`` are searched install folders first, and the search stops at
    the first folder that holds one.
    """
    folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    folders += [p for p in sys.path if p not in folders]
    found: list[str] = []
    for folder in folders:
        try:
            with os.scandir(folder or ".") as entries:
                names = [e.name for e in entries if e.name.startswith(_PREFIX)]
        except OSError:
            continue
        found += [os.path.join(folder, n, name) for n in names if n.endswith(_SUFFIX)]  # noqa: PTH118 - os.path keeps pathlib off start-up
        if found:
            break
    return found


@functools.cache
def version() -> str:
    """The version in the package's ``METADATA``.

    The file is read directly: ``importlib.metadata`` costs tens of milliseconds to import, a
    large part of a cold ``invoke``; it remains the fallback.
    """
    for path in metadata_file("METADATA"):
        try:
            with open(path, encoding="utf-8") as handle:  # noqa: PTH123 - see above
                for line in handle:
                    if line.startswith("Version:"):
                        return line.partition(":")[2].strip()
                    if not line.strip():
                        break  # the headers end at the first blank line
        except OSError:
            continue
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415 - the slow, sure way
    from importlib.metadata import version as installed  # noqa: PLC0415

    try:
        return installed("connectorkit")
    except PackageNotFoundError:
        return "0+unknown"
