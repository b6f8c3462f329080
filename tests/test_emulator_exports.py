"""Export to file over real HTTP: a job polled with Retry-After, then a real file of its format."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

import httpx
import pytest

import flows_helpers
from flows_helpers import (
    IN_SALES,
    Api,
    app_token,
    emulator_process,
    error_of,
    peak_rss_mib,
    wait_until,
)
from powerbi_emulator import SEED_IDS, running

api, emu = flows_helpers.api, flows_helpers.emu  # shared fixtures

REPORTS = f"{IN_SALES}/reports"
REPORT = f"{REPORTS}/{SEED_IDS['sales_report']}"
MIB = 1 << 20


def export(api, report: str = REPORT, **body: object) -> str:
    started = api.post(f"{report}/ExportTo", json={"format": "PDF", **body})
    assert started.status_code == 202, started.text
    return started.json()["id"]


def finished_file(emu, api, report: str = REPORT, **body: object) -> httpx.Response:
    export_id = export(api, report, **body)
    emu.advance_clock(11)
    status = api.get(f"{report}/exports/{export_id}").json()
    assert status["status"] == "Succeeded"
    file = api.get(status["resourceLocation"])
    assert file.status_code == 200
    assert status["ResourceFileExtension"] in file.headers["content-disposition"]
    return file


def paginated_report(emu, api) -> str:
    api.post(
        f"{IN_SALES}/imports",
        params={"datasetDisplayName": "Invoice.rdl"},
        files={"file": ("Invoice.rdl", b"<Report/>", "application/xml")},
    )
    emu.advance_clock(10)
    [found] = [r for r in api.get(REPORTS).json()["value"] if r["name"] == "Invoice"]
    return f"{REPORTS}/{found['id']}"


# -- the job -------------------------------------------------------------------------------------


def test_the_status_poll_sends_retry_after_and_percent_complete_until_it_succeeds(emu, api):
    started = api.post(f"{REPORT}/ExportTo", json={"format": "PDF"})
    assert started.status_code == 202
    job = started.json()
    assert (job["status"], job["percentComplete"], job["reportName"]) == (
        "NotStarted", 0, "Sales Pipeline"
    )  # fmt: skip
    status_url = f"{REPORT}/exports/{job['id']}"

    polled = api.get(status_url)
    assert polled.status_code == 202
    assert polled.headers["retry-after"] == "5"  # five emulated seconds, at 1x
    emu.advance_clock(6)  # 1 s queued, then half of the 10 s it runs
    halfway = api.get(status_url)
    assert (halfway.status_code, halfway.json()["status"]) == (202, "Running")
    assert halfway.json()["percentComplete"] == 50
    assert "resourceLocation" not in halfway.json()
    assert error_of(api.get(f"{status_url}/file"), 400)["code"] == "ExportNotCompleted"

    emu.advance_clock(5)
    done = api.get(status_url)
    assert done.status_code == 200
    assert "retry-after" not in done.headers
    body = done.json()
    assert (body["status"], body["percentComplete"], body["ResourceFileExtension"]) == (
        "Succeeded", 100, ".pdf"
    )  # fmt: skip
    assert body["resourceLocation"] == f"{emu.base_url}{status_url}/file"


def test_a_failed_export_says_so_and_a_busy_one_says_when_to_retry(emu, api):
    emu.set_flows(exports={"fail": 1})
    failed = export(api)
    emu.advance_clock(11)
    status = api.get(f"{REPORT}/exports/{failed}")
    assert (status.status_code, status.json()["status"]) == (200, "Failed")
    assert "retry-after" not in status.headers  # permanent
    assert error_of(api.get(f"{REPORT}/exports/{failed}/file"), 400)["code"] == "ExportNotCompleted"

    emu.set_flows(exports={"fail": 1, "fail_retry_after": 30})
    busy = export(api)
    emu.advance_clock(11)
    status = api.get(f"{REPORT}/exports/{busy}")
    assert status.json()["status"] == "Failed"
    assert status.headers["retry-after"] == "30"  # transient: export again after that


def test_a_poll_answering_429_says_when_to_retry(emu, api):
    export_id = export(api)
    emu.set_fault(path=r"/exports/[^/]+$", method="GET", status=429, retry_after=7, count=1)
    throttled = api.get(f"{REPORT}/exports/{export_id}")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert api.get(f"{REPORT}/exports/{export_id}").status_code == 202


def test_a_wait_that_outlives_its_token(emu):
    emu.reset()
    emu.set_flows(exports={"seconds": 5400})  # a 90-minute export
    short = Api(emu, lifetime=3600)
    export_id = export(short)
    emu.advance_clock(3700)
    expired = short.get(f"{REPORT}/exports/{export_id}")
    assert error_of(expired, 403)["code"] == "TokenExpired"
    renewed = Api(emu, lifetime=3600)
    still_running = renewed.get(f"{REPORT}/exports/{export_id}")
    assert (still_running.status_code, still_running.json()["status"]) == (202, "Running")
    emu.advance_clock(1800)
    assert renewed.get(f"{REPORT}/exports/{export_id}").json()["status"] == "Succeeded"
    short.close()
    renewed.close()


def test_formats_a_report_cannot_export_are_refused(emu, api):
    refused = api.post(f"{REPORT}/ExportTo", json={"format": "XLSX"})
    assert "PDF, PPTX, PNG" in error_of(refused, 400)["message"]
    missing = api.post(f"{REPORT}/ExportTo", json={})
    assert "format" in error_of(missing, 400)["message"]
    paginated = paginated_report(emu, api)
    assert (
        "PNG"
        not in error_of(api.post(f"{paginated}/ExportTo", json={"format": "PNG"}), 400)[
            "message"
        ].split("use one of")[1]
    )


def test_an_export_and_its_file_are_gone_after_a_day(emu, api):
    export_id = export(api)
    emu.advance_clock(86_400)
    gone = api.get(f"{REPORT}/exports/{export_id}")
    assert error_of(gone, 404)["code"] == "PowerBIEntityNotFound"


def test_an_export_on_a_scaled_clock_follows_retry_after():
    with running(time_scale=100) as emu:
        api = Api(emu)
        export_id = export(api)
        status = api.get(f"{REPORT}/exports/{export_id}")
        assert status.headers["retry-after"] == "1"  # 5 emulated seconds: at least 1 real one
        done = wait_until(
            lambda: (s := api.get(f"{REPORT}/exports/{export_id}")).status_code == 200 and s
        )
        assert done.json()["status"] == "Succeeded"
        api.close()


# -- the files -----------------------------------------------------------------------------------


def check_pdf(content: bytes, pages: int) -> None:
    assert content.startswith(b"%PDF-1.7\n")
    assert content.endswith(b"%%EOF\n")
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", content).group(1))
    assert content[start : start + 5] == b"xref\n"
    count = int(content[start:].split(b"\n")[1].split()[1])
    entries = content[start:].split(b"\n")[2 : 2 + count]
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry[:10])
        assert content[offset:].startswith(b"%d 0 obj\n" % number), number
    assert b"/Type /Pages /Kids" in content
    assert re.search(rb"/Count (\d+)", content).group(1) == str(pages).encode()


def png_chunks(content: bytes) -> list[tuple[bytes, bytes]]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(content):
        (length,) = struct.unpack(">I", content[position : position + 4])
        kind = content[position + 4 : position + 8]
        data = content[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", content[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        position += 12 + length
    return chunks


def check_png(content: bytes) -> None:
    chunks = dict(png_chunks(content))
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
    assert png_chunks(content)[-1] == (b"IEND", b"")


def test_a_pdf_is_a_pdf_with_a_page_per_report_page(emu, api):
    file = finished_file(emu, api)
    assert file.headers["content-type"] == "application/pdf"
    assert 'filename="Sales Pipeline.pdf"' in file.headers["content-disposition"]
    check_pdf(file.content, 1)
    pages = [{"pageName": "ReportSection1"}, {"pageName": "ReportSection2"}]
    check_pdf(finished_file(emu, api, powerBIReportConfiguration={"pages": pages}).content, 2)


def test_a_png_is_a_png_and_several_pages_are_a_zip_of_them(emu, api):
    file = finished_file(emu, api, format="PNG")
    assert file.headers["content-type"] == "image/png"
    check_png(file.content)
    pages = [{"pageName": "A"}, {"pageName": "B"}, {"pageName": "C"}]
    zipped = finished_file(emu, api, format="PNG", powerBIReportConfiguration={"pages": pages})
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert archive.namelist() == ["Page1.png", "Page2.png", "Page3.png"]
        for name in archive.namelist():
            check_png(archive.read(name))


def test_a_pptx_is_an_open_packaging_zip_with_a_slide_per_page(emu, api):
    pages = [{"pageName": "A"}, {"pageName": "B"}]
    file = finished_file(emu, api, format="PPTX", powerBIReportConfiguration={"pages": pages})
    assert file.headers["content-type"].endswith("presentationml.presentation")
    with zipfile.ZipFile(io.BytesIO(file.content)) as archive:
        assert archive.testzip() is None
        assert {"[Content_Types].xml", "_rels/.rels", "ppt/presentation.xml"} <= set(
            archive.namelist()
        )
        assert [n for n in archive.namelist() if n.startswith("ppt/slides/")] == [
            "ppt/slides/slide1.xml", "ppt/slides/slide2.xml"
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "content_type", "check"),
    [
        ("XLSX", "spreadsheetml.sheet", lambda c: zipfile.ZipFile(io.BytesIO(c)).testzip() is None),
        ("DOCX", "wordprocessingml.document", lambda c: b"word/document.xml" in c),
        ("CSV", "text/csv", lambda c: c.startswith(b'Report,Page,Value\r\n"Invoice",1,')),
        ("XML", "application/xml", lambda c: c.endswith(b"</Report>\n")),
        ("MHTML", "multipart/related", lambda c: b"<h1>Invoice</h1>" in c),
        ("ACCESSIBLEPDF", "application/pdf", lambda c: c.startswith(b"%PDF-")),
    ],
)
def test_a_paginated_report_exports_to_its_formats(emu, api, fmt, content_type, check):
    file = finished_file(emu, api, paginated_report(emu, api), format=fmt)
    assert content_type in file.headers["content-type"]
    assert check(file.content)


@pytest.mark.parametrize("fmt", ["PDF", "PNG", "PPTX", "XLSX", "CSV", "XML", "MHTML"])
def test_a_file_is_exactly_the_size_asked_for(emu, api, fmt):
    report = REPORT if fmt in {"PDF", "PNG", "PPTX"} else paginated_report(emu, api)
    emu.set_flows(exports={"bytes": 300_000})
    file = finished_file(emu, api, report, format=fmt)
    assert len(file.content) == int(file.headers["content-length"]) == 300_000
    if fmt == "PDF":
        check_pdf(file.content, 1)
    elif fmt == "PNG":
        check_png(file.content)
    elif fmt in {"PPTX", "XLSX"}:
        assert zipfile.ZipFile(io.BytesIO(file.content)).testzip() is None


def test_a_200_mb_file_streams_without_the_emulator_holding_it():
    flows = '{"exports": {"bytes": 209715200, "seconds": 0, "queued_seconds": 0}}'
    with emulator_process("--flows", flows) as (process, urls):
        headers = {"Authorization": f"Bearer {app_token(urls)}"}
        with httpx.Client(base_url=urls["base_url"], headers=headers, timeout=120) as http:
            started = http.post(f"{REPORT}/ExportTo", json={"format": "PDF"}).json()
            status = http.get(f"{REPORT}/exports/{started['id']}").json()
            assert status["status"] == "Succeeded"
            before = peak_rss_mib(process.pid)
            received = 0
            tail = b""
            with http.stream("GET", status["resourceLocation"]) as file:
                assert file.headers["content-length"] == str(200 * MIB)
                for chunk in file.iter_bytes():
                    received += len(chunk)
                    tail = (tail + chunk)[-64:]
            assert received == 200 * MIB
            assert tail.endswith(b"%%EOF\n")
            # The emulator's peak memory barely moved: the file was made as it was sent.
            assert peak_rss_mib(process.pid) - before < 40
