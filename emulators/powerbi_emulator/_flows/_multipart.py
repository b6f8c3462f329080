"""multipart/form-data read as it streams in: each part's name, size and first bytes.

The emulator never keeps an uploaded file; what it checks (that a .pbix is a zip, how big
it is) needs only this, so an upload of any size takes constant memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from email.parser import HeaderParser

from powerbi_emulator._http import BodyError

__all__ = ["HEAD_BYTES", "MultipartScanner", "PartInfo"]

HEAD_BYTES = 8  # how much of each part is kept (a file's magic number)
MAX_HEADER_BYTES = 16 * 1024


@dataclasses.dataclass
class PartInfo:
    """One part of the form, as far as the emulator cares."""

    name: str
    filename: str | None
    content_type: str
    size: int = 0
    head: bytes = b""
    sha256: str = ""


class MultipartScanner:
    """Feed it the body chunk by chunk, then `close()` for the parts."""

    def __init__(self, content_type: str) -> None:
        params = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
        boundary = params.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise BodyError("multipart/form-data without a boundary")
        self._delimiter = b"--" + boundary.encode("latin-1")
        self._buffer = bytearray()
        self._state = "preamble"
        self._part: PartInfo | None = None
        self._digest = hashlib.sha256()
        self.parts: list[PartInfo] = []

    def feed(self, chunk: bytes) -> None:
        """Scan more of the body; raises BodyError on a malformed one."""
        self._buffer += chunk
        while self._step():
            pass

    def close(self) -> list[PartInfo]:
        """The parts, once the body ended; raises BodyError if it ended early."""
        if self._state != "epilogue":
            raise BodyError("the multipart body ends before its closing boundary")
        return self.parts

    def _step(self) -> bool:
        """Advance one state if the buffer allows; False when more input is needed."""
        if self._state == "preamble":
            return self._preamble()
        if self._state == "headers":
            return self._headers()
        if self._state == "data":
            return self._data()
        if self._state == "after":
            return self._after_delimiter()
        self._buffer.clear()  # the epilogue is ignored
        return False

    def _preamble(self) -> bool:
        found = self._buffer.find(self._delimiter)
        if found < 0:
            keep = len(self._delimiter)
            del self._buffer[: max(0, len(self._buffer) - keep)]
            return False
        del self._buffer[: found + len(self._delimiter)]
        self._state = "after"
        return True

    def _after_delimiter(self) -> bool:
        if len(self._buffer) < 2:  # noqa: PLR2004 - "--" or CRLF
            return False
        marker = bytes(self._buffer[:2])
        del self._buffer[:2]
        if marker == b"--":
            self._finish_part()
            self._state = "epilogue"
        elif marker == b"\r\n":
            self._finish_part()
            self._state = "headers"
        else:
            raise BodyError("a multipart boundary is not followed by CRLF or --")
        return True

    def _headers(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise BodyError("a multipart part's headers are too long")
            return False
        text = bytes(self._buffer[:end]).decode("utf-8", errors="replace")
        del self._buffer[: end + 4]
        headers = HeaderParser().parsestr(text + "\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise BodyError("a multipart part has no form-data name")
        content_type = headers.get_content_type() if headers.get("content-type") else ""
        self._part = PartInfo(name, headers.get_filename(), content_type)
        self._digest = hashlib.sha256()
        self._state = "data"
        return True

    def _data(self) -> bool:
        marker = b"\r\n" + self._delimiter
        found = self._buffer.find(marker)
        if found < 0:
            # Keep a tail that may be the start of the delimiter.
            usable = len(self._buffer) - (len(marker) - 1)
            if usable > 0:
                self._take(usable)
            return False
        self._take(found)
        del self._buffer[: len(marker)]
        self._state = "after"
        return True

    def _take(self, count: int) -> None:
        part = self._part
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        if part is None:
            return
        if len(part.head) < HEAD_BYTES:
            part.head += data[: HEAD_BYTES - len(part.head)]
        part.size += len(data)
        self._digest.update(data)

    def _finish_part(self) -> None:
        if self._part is not None:
            self._part.sha256 = self._digest.hexdigest()
            self.parts.append(self._part)
            self._part = None
