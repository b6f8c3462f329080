"""Files: inputs streamed from disk (or base64) to the service, answers streamed to disk.

A ``file`` input is ``{"path": …}`` or ``{"base64": …}`` (with an optional ``name`` and
``content_type``). :func:`file_source` turns it into a :class:`FileSource`, opened anew by each
attempt of the request that sends it. A file result is written to ``save_to`` as it arrives
(:func:`save_answer`: beside the target, then renamed; size and SHA-256 on the way), or
returned as base64 when it is small (:func:`inline_answer`). ``CONNECTORKIT_FILES_DIR``
confines the paths a request may name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from connectorkit.core._errors import InvalidInput
from connectorkit.core._settings import settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

__all__ = [
    "FILES_DIR_ENV",
    "INLINE_CAP_ENV",
    "FileSource",
    "confined",
    "file_source",
    "inline_answer",
    "inline_cap",
    "save_answer",
    "stored_form",
]

FILES_DIR_ENV = "CONNECTORKIT_FILES_DIR"
INLINE_CAP_ENV = "CONNECTORKIT_MAX_INLINE_FILE_BYTES"
_DEFAULT_INLINE_CAP = 8 * 1024 * 1024
_CHUNK = 256 * 1024


def _refused(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"input '{field}': {message}", details=[{"field": field, "message": message}]
    )


def confined(field: str, text: str) -> Path:
    """The path ``text`` names, refused outside ``CONNECTORKIT_FILES_DIR`` when that is set."""
    path = Path(text).expanduser()
    root = settings().files_dir
    if root:
        base = Path(root).expanduser().resolve()
        resolved = (base / path).resolve() if not path.is_absolute() else path.resolve()
        if not resolved.is_relative_to(base):
            raise _refused(field, f"{text} is outside {base} ({FILES_DIR_ENV})")
        return resolved
    return path


@dataclass(frozen=True, slots=True)
class FileSource:
    """Bytes to send, read when sent: a file on disk (or a block of one), or decoded base64."""

    name: str
    content_type: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    offset: int = 0

    def open(self) -> IO[bytes]:
        """A reader at the first byte; a block of a file is read whole (one block in memory)."""
        if self.data is not None:
            return io.BytesIO(self.data[self.offset : self.offset + self.size])
        assert self.path is not None  # noqa: S101 - one of the two is always set
        reader = self.path.open("rb")
        if self.offset == 0 and self.size == self.path.stat().st_size:
            return reader  # the whole file: streamed by whoever sends it
        try:
            reader.seek(self.offset)
            return io.BytesIO(reader.read(self.size))
        finally:
            reader.close()

    def block(self, offset: int, size: int) -> FileSource:
        """``size`` bytes from ``offset``."""
        return FileSource(
            self.name, self.content_type, size, self.path, self.data, self.offset + offset
        )


def file_source(field: str, value: Mapping[str, Any]) -> FileSource:
    """The file a bound ``file`` input names; a missing file or bad base64 names the field."""
    name = value.get("name")
    if "path" in value:
        path = confined(field, str(value["path"]))
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise _refused(field, f"cannot read {value['path']}: {exc.strerror}") from None
        if not path.is_file():
            raise _refused(field, f"{value['path']} is not a file")
        shown = str(name or path.name)
        return FileSource(shown, _kind(value, shown), size, path=path)
    try:
        data = base64.b64decode(str(value.get("base64", "")), validate=True)
    except (binascii.Error, ValueError):
        raise _refused(field, "base64 is not valid base64") from None
    shown = str(name or field)
    return FileSource(shown, _kind(value, shown), len(data), data=data)


def _kind(value: Mapping[str, Any], name: str) -> str:
    given = value.get("content_type")
    if given:
        return str(given)
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def stored_form(value: Any) -> Any:
    """A file input as an operation's handle keeps it: where it was, not its bytes."""
    if isinstance(value, dict) and "base64" in value:
        kept = {k: v for k, v in value.items() if k != "base64"}
        return {**kept, "base64_bytes": len(str(value["base64"])) * 3 // 4}
    return value


def inline_cap() -> int:
    """The largest file a result carries as base64 (``CONNECTORKIT_MAX_INLINE_FILE_BYTES``)."""
    return settings().max_inline_file_bytes or _DEFAULT_INLINE_CAP


def _too_large(size: int, cap: int) -> InvalidInput:
    return _refused(
        "save_to",
        f"the file is {size} bytes, more than the {cap} a result carries inline "
        f"({INLINE_CAP_ENV}): give save_to, a path on the worker to write it to",
    )


def inline_answer(response: httpx.Response) -> dict[str, Any]:
    """A file answer as base64, refused (unread) when it is larger than :func:`inline_cap`."""
    cap = inline_cap()
    try:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise _too_large(int(length), cap)
        content = bytearray()
        for chunk in response.iter_bytes(_CHUNK):
            content += chunk
            if len(content) > cap:
                raise _too_large(len(content), cap)
    finally:
        response.close()
    data = bytes(content)
    return {
        "encoding": "base64",
        "content_type": response.headers.get("Content-Type"),
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def save_answer(response: httpx.Response, target: str) -> dict[str, Any]:
    """Stream a file answer to ``target`` (written beside it, then renamed); what was saved."""
    path = confined("save_to", target)
    if path.is_dir():
        path /= _suggested_name(response)
    if not path.parent.is_dir():
        response.close()
        raise _refused("save_to", f"{path.parent} is not a folder")
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        partial.replace(path)
    except OSError as exc:
        raise _refused("save_to", f"cannot write {path}: {exc.strerror}") from None
    finally:
        response.close()
        partial.unlink(missing_ok=True)
    return {
        "saved_to": str(path),
        "size": size,
        "content_type": response.headers.get("Content-Type"),
        "sha256": digest.hexdigest(),
    }


def _suggested_name(response: httpx.Response) -> str:
    """The file name the answer suggests (Content-Disposition), else the URL's last segment."""
    disposition = response.headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip('"'):
            return Path(value.strip('"')).name
    return Path(response.request.url.path).name or "download"
