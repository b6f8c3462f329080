"""Exported files, real ones of their format, of any size, produced as they are sent.

A PDF (one page per report page), a PNG (a zip of PNGs for several pages), PPTX, XLSX and
DOCX packages (zips), CSV, XML and MHTML text. Given a size, a file is exactly that long
(when the size is at least a little over the format's smallest file): the extra bytes are
an unreferenced PDF stream, a private PNG chunk, a stored zip member, or filler rows.
Nothing is held in memory beyond one chunk.
"""

from __future__ import annotations

import dataclasses
import random
import struct
import zlib
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from powerbi_emulator._flows._settings import MAX_EXPORT_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ExportFile", "file_for"]

CHUNK = 1 << 20
PDF_NUMBER = 12  # digits of the numbers that depend on the size (leading zeros are valid)
PNG_PADDING_TYPE = b"emUl"  # ancillary, private, safe to copy: readers skip it
OOXML = "application/vnd.openxmlformats-officedocument"


@dataclasses.dataclass(frozen=True)
class ExportFile:
    """A file to send: its type, extension, exact length and a generator of its bytes."""

    content_type: str
    extension: str
    length: int
    chunks: Callable[[], Iterator[bytes]]


def file_for(fmt: str, title: str, pages: int, size: int) -> ExportFile:
    """The file of an export in format `fmt` (PDF, PNG, PPTX, ...) of `size` bytes or so."""
    size = min(size, MAX_EXPORT_BYTES)
    pages = max(1, pages)
    if fmt in {"PDF", "ACCESSIBLEPDF"}:
        return _pdf(title, pages, size)
    if fmt in {"PNG", "IMAGE"} and pages == 1:
        return _png(title, size)
    if fmt in {"PNG", "IMAGE"}:
        images = [
            (f"Page{n}.png", _png_bytes(f"{title} - page {n}") + _chunk(b"IEND", b""))
            for n in range(1, pages + 1)
        ]
        return _zip("application/zip", ".zip", images, size)
    if fmt in {"PPTX", "XLSX", "DOCX"}:
        content_type, parts = _ooxml(fmt, title, pages)
        return _zip(content_type, f".{fmt.lower()}", parts, size)
    return _TEXT_FORMATS[fmt](title, pages, size)


def _csv(title: str, pages: int, size: int) -> ExportFile:
    rows = "".join(f'"{title}",{n},{n * 100}\r\n' for n in range(1, pages + 1))
    return _text("text/csv", ".csv", "Report,Page,Value\r\n" + rows, "", size, line=(",,", "\r\n"))


def _xml(title: str, pages: int, size: int) -> ExportFile:
    rows = "".join(f'<Page Number="{n}"/>' for n in range(1, pages + 1))
    head = f'<?xml version="1.0" encoding="utf-8"?>\n<Report Name="{escape(title)}">{rows}<!--\n'
    return _text("application/xml", ".xml", head, "-->\n</Report>\n", size, line=("", "\n"))


def _filler(seed: str) -> bytes:
    """A chunk of deterministic binary filler."""
    block = random.Random(seed).randbytes(64 * 1024)  # noqa: S311 - filler, not secrets
    return block * (CHUNK // len(block))


def _repeat(block: bytes, count: int) -> Iterator[bytes]:
    """`count` bytes of `block` repeated, a chunk at a time."""
    full, rest = divmod(count, len(block))
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


# -- PDF -----------------------------------------------------------------------------------------


def _pdf_text(text: str) -> str:
    ascii_text = text.encode("ascii", "replace").decode()
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf(title: str, pages: int, size: int) -> ExportFile:
    kids = " ".join(f"{4 + 2 * n} 0 R" for n in range(pages))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n in range(pages):
        bodies.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 960 540] /Resources << /Font "
            f"<< /F1 3 0 R >> >> /Contents {5 + 2 * n} 0 R >>".encode()
        )
        text = (
            f"BT /F1 28 Tf 60 470 Td ({_pdf_text(title)}) Tj 0 -40 Td /F1 16 Tf "
            f"(Page {n + 1} of {pages}) Tj ET"
        ).encode()
        bodies.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    head = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(head))
        head += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    padding_number = len(bodies) + 1
    offsets.append(len(head))
    prefix = b"%d 0 obj\n<< /Length " % padding_number
    suffix = b"\nendstream\nendobj\n"
    xref = b"xref\n0 %d\n0000000000 65535 f \n" % (padding_number + 1)
    xref += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n" % (padding_number + 1)
    fixed = len(head) + len(prefix) + PDF_NUMBER + len(b" >>\nstream\n") + len(suffix)
    fixed += len(xref) + len(trailer) + PDF_NUMBER + len(b"\n%%EOF\n")
    padding = max(0, size - fixed)
    filler = _filler(title)

    def chunks() -> Iterator[bytes]:
        yield bytes(head) + prefix + b"%0*d >>\nstream\n" % (PDF_NUMBER, padding)
        yield from _repeat(filler, padding)
        after = len(head) + len(prefix) + PDF_NUMBER + len(b" >>\nstream\n") + padding
        yield suffix + xref + trailer + b"%0*d\n%%%%EOF\n" % (PDF_NUMBER, after + len(suffix))

    return ExportFile("application/pdf", ".pdf", fixed + padding, chunks)


# -- PNG -----------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bytes(title: str) -> bytes:
    """A PNG up to its IEND chunk: a small image in Power BI's yellow, titled."""
    width, height = 320, 180
    row = b"\x00" + bytes((242, 200, 17)) * width  # Power BI yellow, filter "None"
    pixels = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    title_text = title.encode("latin-1", "replace")
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"Title\x00" + title_text)
        + _chunk(b"IDAT", pixels)
    )


def _png(title: str, size: int) -> ExportFile:
    body = _png_bytes(title)
    end = _chunk(b"IEND", b"")
    natural = len(body) + len(end)
    padding = size - natural - 12 if size >= natural + 12 else None
    filler = _filler(title)

    def chunks() -> Iterator[bytes]:
        yield body
        if padding is not None:
            yield struct.pack(">I", padding) + PNG_PADDING_TYPE
            crc = zlib.crc32(PNG_PADDING_TYPE)
            for piece in _repeat(filler, padding):
                crc = zlib.crc32(piece, crc)
                yield piece
            yield struct.pack(">I", crc)
        yield end

    length = natural if padding is None else natural + 12 + padding
    return ExportFile("image/png", ".png", length, chunks)


# -- zip packages --------------------------------------------------------------------------------

_DOS_DATE = (2024 - 1980) << 9 | 1 << 5 | 1  # 2024-01-01, 00:00


def _local(name: bytes, crc: int, size: int, flags: int) -> bytes:
    return (
        struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, flags, 0, 0, _DOS_DATE, crc, size, size, len(name), 0
        )
        + name
    )


def _central(name: bytes, crc: int, size: int, flags: int, offset: int) -> bytes:
    return struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, 20, 20, flags, 0, 0, _DOS_DATE, crc, size, size, len(name), 0, 0, 0, 0, 0,
        offset,
    ) + name  # fmt: skip


def _zip(
    content_type: str, extension: str, parts: list[tuple[str, bytes]], size: int
) -> ExportFile:
    """A zip of `parts` (stored), and a stored filler member to reach `size`."""
    padding_name = b"emulator/padding.bin"
    # Each member: a local header and a directory entry (each with its name), and its data.
    fixed = sum(30 + 46 + 2 * len(name.encode()) + len(data) for name, data in parts) + 22
    with_padding = fixed + 30 + 46 + 2 * len(padding_name) + 16
    padding = size - with_padding if size >= with_padding else None
    filler = _filler(extension)

    def chunks() -> Iterator[bytes]:
        directory: list[bytes] = []
        offset = 0
        for name, data in parts:
            encoded, crc = name.encode(), zlib.crc32(data)
            directory.append(_central(encoded, crc, len(data), 0, offset))
            piece = _local(encoded, crc, len(data), 0) + data
            offset += len(piece)
            yield piece
        if padding is not None:
            header = _local(padding_name, 0, 0, 0x08)  # sizes and CRC follow the data
            yield header
            crc = 0
            for piece in _repeat(filler, padding):
                crc = zlib.crc32(piece, crc)
                yield piece
            yield struct.pack("<IIII", 0x08074B50, crc, padding, padding)
            directory.append(_central(padding_name, crc, padding, 0x08, offset))
            offset += len(header) + padding + 16
        listing = b"".join(directory)
        count = len(directory)
        yield listing + struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(listing), offset, 0
        )

    length = fixed if padding is None else with_padding + padding
    return ExportFile(content_type, extension, length, chunks)


def _ooxml(fmt: str, title: str, pages: int) -> tuple[str, list[tuple[str, bytes]]]:
    """The smallest parts of a PowerPoint, Excel or Word package, one slide/row per page."""
    name = escape(title)
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006"
    if fmt == "PPTX":
        main, kind = "ppt/presentation.xml", "presentationml"
        body = "".join(
            f'<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
            f'<p:cSld name="{name} {n}"/></p:sld>'
            for n in range(1, pages + 1)
        )
        extra = [(f"ppt/slides/slide{n}.xml", body.encode()) for n in range(1, pages + 1)]
        document = (
            '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>'
        )
        main_type = f"{OOXML}.presentationml.presentation.main+xml"
    elif fmt == "XLSX":
        main, kind = "xl/workbook.xml", "spreadsheetml"
        document = (
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheets><sheet name="{name[:31]}" sheetId="1"/></sheets></workbook>'
        )
        extra = []
        main_type = f"{OOXML}.spreadsheetml.sheet.main+xml"
    else:
        main, kind = "word/document.xml", "wordprocessingml"
        paragraphs = "".join(
            f"<w:p><w:r><w:t>{name} {n}</w:t></w:r></w:p>" for n in range(1, pages + 1)
        )
        document = (
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{paragraphs}</w:body></w:document>"
        )
        extra = []
        main_type = f"{OOXML}.wordprocessingml.document.main+xml"
    types = (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{package}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/octet-stream"/>'
        f'<Override PartName="/{main}" ContentType="{main_type}"/></Types>'
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{package}/relationships">'
        f'<Relationship Id="rId1" Type="{relations}/officeDocument" Target="{main}"/>'
        "</Relationships>"
    )
    content_type = {
        "presentationml": f"{OOXML}.presentationml.presentation",
        "spreadsheetml": f"{OOXML}.spreadsheetml.sheet",
        "wordprocessingml": f"{OOXML}.wordprocessingml.document",
    }[kind]
    parts = [
        ("[Content_Types].xml", types.encode()),
        ("_rels/.rels", rels.encode()),
        (main, ('<?xml version="1.0" encoding="UTF-8"?>' + document).encode()),
        *extra,
    ]
    return content_type, parts


# -- text ----------------------------------------------------------------------------------------

LINE = 1024


def _text(
    content_type: str, extension: str, head: str, tail: str, size: int, *, line: tuple[str, str]
) -> ExportFile:
    """`head`, filler lines (`line` is each one's prefix and suffix), then `tail`."""
    start, end = head.encode(), tail.encode()
    prefix, suffix = line
    shortest = len(prefix) + len(suffix) + 1
    room = size - len(start) - len(end)
    full, rest = divmod(max(0, room), LINE)
    if rest and rest < shortest:
        full, rest = (full - 1, rest + LINE) if full else (0, 0)
    filler_line = (prefix + "x" * (LINE - len(prefix) - len(suffix)) + suffix).encode()
    block = filler_line * (CHUNK // LINE)

    def chunks() -> Iterator[bytes]:
        yield start
        yield from _repeat(block, full * LINE)
        if rest:
            yield (prefix + "x" * (rest - len(prefix) - len(suffix)) + suffix).encode()
        yield end

    return ExportFile(content_type, extension, len(start) + full * LINE + rest + len(end), chunks)


def _mhtml(title: str, pages: int, size: int) -> ExportFile:
    boundary = "----=_NextPart_01DA0000.EMULATOR"
    name = escape(title)
    sections = "".join(f"<h2>Page {n}</h2>" for n in range(1, pages + 1))
    head = (
        f"MIME-Version: 1.0\r\nSubject: {title.encode('ascii', 'replace').decode()}\r\n"
        f'Content-Type: multipart/related; boundary="{boundary}"; type="text/html"\r\n\r\n'
        f'--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"<html><head><title>{name}</title></head><body><h1>{name}</h1>{sections}<!--\r\n"
    )
    tail = f"--></body></html>\r\n--{boundary}--\r\n"
    return _text("multipart/related", ".mhtml", head, tail, size, line=("", "\r\n"))


_TEXT_FORMATS = {"CSV": _csv, "XML": _xml, "MHTML": _mhtml}
