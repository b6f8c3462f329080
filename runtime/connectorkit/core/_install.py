"""Where this copy of connectorkit came from, and the command that adds an optional extra to it.

connectorkit is not published on a package index: a copy is installed from a clone
(``pip install -e .``, ``pip install .``) or from a Git URL
(``pip install 'connectorkit @ git+URL'``, ``pipx install``, ``uv tool install``). The install
records which in its ``direct_url.json`` (PEP 610); a hint repeats that source with the extra
added, run by the tool that manages this environment (pipx, uv, or this Python's pip). A name
alone (no clone, no URL) would ask an index for somebody else's package.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from connectorkit.core._version import metadata_file

__all__ = ["InstallSource", "extra_command", "install_source", "missing_extra"]

_CLONE_HINT = "pip install '.[{extra}]'"


@dataclass(frozen=True, slots=True)
class InstallSource:
    """What the install recorded: a local folder (maybe editable), a Git URL, or an archive."""

    requirement: str  # with ``{extra}`` where the extra goes
    editable: bool = False


def install_source(record: dict[str, Any] | None = None) -> InstallSource | None:
    """The source of this copy, from ``record`` (default: the installed ``direct_url.json``)."""
    if record is None:
        record = _direct_url() or {}
    url = record.get("url")
    if not isinstance(url, str) or not url:
        return None
    vcs = record.get("vcs_info")
    if isinstance(vcs, dict):
        revision = vcs.get("requested_revision")
        at = f"@{revision}" if isinstance(revision, str) and revision else ""
        return InstallSource(f"connectorkit[{{extra}}] @ {vcs.get('vcs', 'git')}+{url}{at}")
    folder_info = record.get("dir_info")
    if url.startswith("file://") and isinstance(folder_info, dict):
        from urllib.parse import unquote, urlsplit  # noqa: PLC0415 - only when a hint is shown

        folder = unquote(urlsplit(url).path)
        editable = bool(folder_info.get("editable"))
        return InstallSource(f"{folder}[{{extra}}]", editable=editable)
    return InstallSource(f"connectorkit[{{extra}}] @ {url}")


def extra_command(
    extra: str,
    *,
    source: InstallSource | None = None,
    prefix: str | None = None,
    executable: str | None = None,
    has_pip: bool | None = None,
) -> str:
    """The command that installs ``extra`` into this copy's environment.

    The keyword arguments stand in for this process's facts (tests): the install's source,
    ``sys.prefix``, ``sys.executable`` and whether pip is importable.
    """
    source = source if source is not None else install_source()
    if source is None:  # nothing recorded: the form that works in a clone of the repository
        return _CLONE_HINT.format(extra=extra) + "  (in a clone of the repository)"
    requirement = shlex.quote(source.requirement.format(extra=extra))
    prefix = prefix if prefix is not None else sys.prefix
    parts = prefix.replace(os.sep, "/").split("/")
    edit = "--editable " if source.editable else ""
    if "pipx" in parts and "venvs" in parts:
        return f"pipx install --force {edit}{requirement}"
    if "uv" in parts and "tools" in parts:
        return f"uv tool install --force {edit}{requirement}"
    python = _shown_path(executable if executable is not None else sys.executable)
    if has_pip is None:
        import importlib.util  # noqa: PLC0415

        has_pip = importlib.util.find_spec("pip") is not None
    edit = "-e " if source.editable else ""
    if not has_pip:  # an environment made by uv has no pip of its own
        return f"uv pip install --python {python} {edit}{requirement}"
    return f"{python} -m pip install {edit}{requirement}"


def missing_extra(extra: str, what: str, module: str) -> str:
    """The message for a command that needs ``extra`` (which brings ``module``) and lacks it."""
    return (
        f"{what} needs the optional extra '{extra}' ({module} is not installed); "
        f"install it with: {extra_command(extra)}"
    )


def _shown_path(path: str) -> str:
    """``path`` relative to the working folder when it is inside it (shorter to read)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return shlex.quote(path)
    return shlex.quote(relative if not relative.startswith("..") else path)


def _direct_url() -> dict[str, Any] | None:
    for path in metadata_file("direct_url.json"):
        try:
            with open(path, encoding="utf-8") as handle:  # noqa: PTH123 - as _version
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            return record
    return None
