"""Pages followed and resumed; files sent from disk; uploads in blocks; chunks of operations."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import pytest

from conftest import ACCESS
from jobs_helpers import BASE

EVENTS = f"{BASE}/events?start=s"


def event_page(httpx_mock, url, events, next_url=None, *, last=False):
    body = {"events": events, "continuationUri": next_url, "lastResultSet": last}
    httpx_mock.add_response(method="GET", url=url, json=body)


def test_every_page_is_followed_to_the_last(jobs, httpx_mock):
    event_page(httpx_mock, EVENTS, [1, 2], f"{BASE}/events?c=2")
    event_page(httpx_mock, f"{BASE}/events?c=2", [], f"{BASE}/events?c=3")  # empty, not last
    event_page(httpx_mock, f"{BASE}/events?c=3", [3], f"{BASE}/events?c=4", last=True)
    response, code = jobs("list_events", {"start": "s"})
    assert code == 0, response
    assert response["result"] == {"events": [1, 2, 3]}
    assert (response["meta"]["pages"], response["meta"]["items"]) == (3, 3)
    assert all(r.headers["Authorization"] == f"Bearer {ACCESS}" for r in httpx_mock.get_requests())


def test_max_items_stops_inside_a_page_and_the_continuation_goes_on_from_there(jobs, httpx_mock):
    event_page(httpx_mock, EVENTS, [1, 2, 3], f"{BASE}/events?c=2")
    response, code = jobs("list_events", {"start": "s", "max_items": 2})
    assert code == 0, response
    assert response["result"]["events"] == [1, 2]
    continuation = response["result"]["continuation"]

    event_page(httpx_mock, EVENTS, [1, 2, 3], f"{BASE}/events?c=2")
    event_page(httpx_mock, f"{BASE}/events?c=2", [4], None, last=True)
    response, code = jobs("list_events", {"start": "s", "continuation": continuation})
    assert code == 0, response
    assert response["result"] == {"events": [3, 4]}


def test_a_call_out_of_time_returns_what_it_has_and_where_to_go_on(jobs, httpx_mock, clock):
    event_page(httpx_mock, EVENTS, [1, 2], f"{BASE}/events?c=2")

    def slow(request):
        clock.now += 60  # the page takes the rest of the call's time
        raise __import__("httpx").ReadTimeout("slow", request=request)

    httpx_mock.add_callback(slow, url=f"{BASE}/events?c=2")
    response, code = jobs("list_events", {"start": "s", "timeout": 30_000})
    assert code == 0, response
    assert response["result"]["events"] == [1, 2]
    event_page(httpx_mock, f"{BASE}/events?c=2", [3], None, last=True)
    rest, _ = jobs(
        "list_events", {"start": "s", "continuation": response["result"]["continuation"]}
    )
    assert rest["result"]["events"] == [3]


def test_a_page_that_fails_after_others_says_where_to_go_on(jobs, httpx_mock):
    event_page(httpx_mock, EVENTS, [1, 2], f"{BASE}/events?c=2")
    httpx_mock.add_response(
        url=f"{BASE}/events?c=2", status_code=400, json={"error": {"code": "Bad", "message": "no"}}
    )
    response, code = jobs("list_events", {"start": "s"})
    assert code == 1
    error = response["error"]
    assert error["code"] == "Bad"
    assert "2 items in 1 pages were read (not returned) before this page" in error["message"]
    assert error["details"][-1]["field"] == "continuation"


def test_without_all_pages_one_page_and_its_continuation(jobs, httpx_mock):
    httpx_mock.add_response(
        url=f"{BASE}/things", json={"value": [1], "@odata.nextLink": f"{BASE}/things?p=2"}
    )
    response, code = jobs("list_things")
    assert code == 0, response
    assert response["result"]["value"] == [1]
    assert "@odata.nextLink" not in response["result"]
    httpx_mock.add_response(url=f"{BASE}/things?p=2", json={"value": [2]})
    rest, _ = jobs("list_things", {"continuation": response["result"]["continuation"]})
    assert rest["result"] == {"value": [2]}


def test_a_continuation_of_another_action_or_host_is_refused(jobs, httpx_mock):
    httpx_mock.add_response(
        url=f"{BASE}/things", json={"value": [1], "@odata.nextLink": f"{BASE}/things?p=2"}
    )
    continuation = jobs("list_things")[0]["result"]["continuation"]
    response, code = jobs("list_tokens", {"continuation": continuation})
    assert (code, response["error"]["type"]) == (2, "invalid_input")
    assert "is a continuation of 'list_things'" in response["error"]["message"]
    forged = base64.urlsafe_b64encode(
        json.dumps({"a": "list_things", "m": "GET", "u": "https://evil.example/x"}).encode()
    ).decode()
    response, code = jobs("list_things", {"continuation": forged})
    assert code == 2
    assert "leads outside the connection's base_url" in response["error"]["message"]


def test_tokens_are_sent_back_as_a_query_parameter(jobs, httpx_mock):
    httpx_mock.add_response(url=f"{BASE}/tokened", json={"items": [1], "next": "t2"})
    httpx_mock.add_response(url=f"{BASE}/tokened?token=t2", json={"items": [2], "next": None})
    response, code = jobs("list_tokens", {"all_pages": True})
    assert code == 0, response
    assert response["result"] == {"items": [1, 2]}


def test_offsets_ask_for_pages_until_a_short_one(jobs, httpx_mock):
    httpx_mock.add_response(url=f"{BASE}/offsets?%24top=3&%24skip=0", json={"value": [1, 2, 3]})
    httpx_mock.add_response(url=f"{BASE}/offsets?%24top=3&%24skip=3", json={"value": [4, 5, 6]})
    httpx_mock.add_response(url=f"{BASE}/offsets?%24top=3&%24skip=6", json={"value": [7]})
    response, code = jobs("list_offsets", {"all_pages": True})
    assert code == 0, response
    assert response["result"] == {"value": [1, 2, 3, 4, 5, 6, 7]}


def test_streamed_items_are_not_gathered(jobs, httpx_mock):
    event_page(httpx_mock, EVENTS, [1, 2], f"{BASE}/events?c=2")
    event_page(httpx_mock, f"{BASE}/events?c=2", [3], None, last=True)
    envelope = jobs.streamed("list_events", {"start": "s", "stream": True})
    assert envelope["ok"], envelope
    assert envelope["result"] == {"items": 3}
    assert jobs.items == [1, 2, 3]


# -- files -----------------------------------------------------------------------------------


def test_a_file_is_sent_as_a_multipart_part_streamed_from_disk(jobs, httpx_mock, tmp_path):
    path = tmp_path / "report.pbix"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
    httpx_mock.add_response(method="POST", url=f"{BASE}/files?title=Q1", json={"ok": True})
    response, code = jobs("upload_file", {"file": {"path": str(path)}, "title": "Q1"})
    assert code == 0, response
    request = httpx_mock.get_request()
    kind = request.headers["Content-Type"]
    assert kind.startswith("multipart/form-data; boundary=")
    body = request.read()
    assert b'name="file"; filename="report.pbix"' in body
    assert path.read_bytes() in body
    assert b'name="title"\r\n\r\nQ1' in body


def test_a_base64_file_is_sent_with_its_name(jobs, httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/files", json={})
    data = base64.b64encode(b"hello").decode()
    response, code = jobs("upload_file", {"file": {"base64": data, "name": "a.txt"}})
    assert code == 0, response
    body = httpx_mock.get_request().read()
    assert b'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello' in body


def test_a_missing_file_names_the_input(jobs, httpx_mock, tmp_path):
    response, code = jobs("upload_file", {"file": {"path": str(tmp_path / "nope")}})
    assert code == 2
    assert response["error"]["details"][0]["field"] == "file"
    assert httpx_mock.get_requests() == []


def test_a_malformed_file_value_is_refused_by_its_type(jobs):
    response, code = jobs("upload_file", {"file": {"path": "a", "base64": "b"}})
    assert code == 2
    assert response["error"]["details"][0]["field"] == "file"


def test_files_are_confined_to_the_files_folder_when_one_is_set(
    jobs, httpx_mock, tmp_path, monkeypatch
):
    monkeypatch.setenv("CONNECTORKIT_FILES_DIR", str(tmp_path / "inbox"))
    (tmp_path / "inbox").mkdir()
    (tmp_path / "secret").write_text("x")
    response, code = jobs("upload_file", {"file": {"path": str(tmp_path / "secret")}})
    assert code == 2
    assert "is outside" in response["error"]["message"]
    assert httpx_mock.get_requests() == []


def test_a_file_is_the_raw_body(jobs, httpx_mock, tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01" * 1000)
    httpx_mock.add_response(method="PUT", url=f"{BASE}/content")
    response, code = jobs("put_content", {"file": {"path": str(path)}})
    assert code == 0, response
    request = httpx_mock.get_request()
    assert request.read() == path.read_bytes()
    assert request.headers["Content-Length"] == "2000"
    assert request.headers["Content-Type"] == "application/octet-stream"


def test_a_one_request_file_result_is_saved(jobs, httpx_mock, tmp_path):
    httpx_mock.add_response(
        url=f"{BASE}/files/a.csv", content=b"a,b\n", headers={"Content-Type": "text/csv"}
    )
    response, code = jobs("download_file", {"name": "a.csv", "save_to": str(tmp_path)})
    assert code == 0, response
    assert response["result"]["saved_to"] == str(tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == b"a,b\n"


# -- uploads in blocks -------------------------------------------------------------------------

BLOB = "https://blob.example/c/x?sig=abc"


def test_a_small_file_is_imported_in_one_multipart_request(jobs, httpx_mock, tmp_path):
    path = tmp_path / "small.pbix"
    path.write_bytes(b"x" * 100)
    httpx_mock.add_response(
        method="POST", url=f"{BASE}/imports", status_code=202, json={"id": "i1"}
    )
    httpx_mock.add_response(
        url=f"{BASE}/imports/i1", json={"state": "Succeeded", "reports": [{"id": "R"}]}
    )
    response, code = jobs("import_file", {"file": {"path": str(path)}})
    assert code == 0, response
    assert response["result"] == {"import_id": "i1", "report_id": "R", "state": "Succeeded"}
    first = httpx_mock.get_requests()[0]
    assert first.headers["Content-Type"].startswith("multipart/form-data")


def test_a_large_file_goes_through_the_upload_location_in_blocks(jobs, httpx_mock, tmp_path):
    path = tmp_path / "large.pbix"
    data = bytes(range(256)) * 4  # 1024 bytes: above 1000, three blocks of at most 400
    path.write_bytes(data)
    httpx_mock.add_response(method="POST", url=f"{BASE}/uploads", json={"url": BLOB})
    httpx_mock.add_response(method="PUT", is_reusable=True, status_code=201)
    httpx_mock.add_response(
        method="POST", url=f"{BASE}/imports", status_code=202, json={"id": "i2"}
    )
    httpx_mock.add_response(url=f"{BASE}/imports/i2", json={"state": "Publishing"})
    httpx_mock.add_response(
        url=f"{BASE}/imports/i2", json={"state": "Succeeded", "reports": [{"id": "R2"}]}
    )
    response, code = jobs("import_file", {"file": {"path": str(path)}})
    assert code == 0, response
    assert response["result"]["report_id"] == "R2"
    requests = httpx_mock.get_requests()
    puts = [r for r in requests if r.method == "PUT"]
    ids = [base64.b64encode(f"{n:08d}".encode()).decode() for n in range(3)]
    assert [dict(parse_qsl(r.url.query.decode())) for r in puts] == [
        {"sig": "abc", "comp": "block", "blockid": ids[0]},
        {"sig": "abc", "comp": "block", "blockid": ids[1]},
        {"sig": "abc", "comp": "block", "blockid": ids[2]},
        {"sig": "abc", "comp": "blocklist"},
    ]
    assert b"".join(r.read() for r in puts[:3]) == data
    assert (
        puts[3].read().decode()
        == "<BlockList>" + "".join(f"<Latest>{i}</Latest>" for i in ids) + "</BlockList>"
    )
    # The blob store is another origin: it never sees the token.
    assert all("Authorization" not in r.headers for r in puts)
    imported = next(r for r in requests if r.url.path.endswith("/imports"))
    assert json.loads(imported.read()) == {"fileUrl": BLOB}
    assert imported.headers["Authorization"] == f"Bearer {ACCESS}"


def test_upload_mode_never_keeps_a_large_file_in_one_request(jobs, httpx_mock, tmp_path):
    path = tmp_path / "large.pbix"
    path.write_bytes(b"y" * 2000)
    httpx_mock.add_response(
        method="POST", url=f"{BASE}/imports", status_code=202, json={"id": "i3"}
    )
    httpx_mock.add_response(url=f"{BASE}/imports/i3", json={"state": "Succeeded", "reports": []})
    response, code = jobs("import_file", {"file": {"path": str(path)}, "upload_mode": "never"})
    assert code == 0, response
    assert len(httpx_mock.get_requests()) == 2


# -- chunks ------------------------------------------------------------------------------------


def scans(httpx_mock):
    for n in (1, 2, 3):
        httpx_mock.add_response(url=f"{BASE}/scans/s{n}", json={"status": "Succeeded"})
        httpx_mock.add_response(
            url=f"{BASE}/scans/s{n}/result",
            json={"items": [f"item{n}"], "problems": [] if n != 2 else ["p2"]},
        )


def test_chunks_start_an_operation_each_and_merge_their_results(jobs, httpx_mock):
    for n in (1, 2, 3):
        httpx_mock.add_response(
            method="POST", url=f"{BASE}/scans", status_code=202, json={"id": f"s{n}"}
        )
    scans(httpx_mock)
    response, code = jobs("start_scan", {"ids": ["a", "b", "c", "d", "e"]})
    assert code == 0, response
    assert response["result"] == {"items": ["item1", "item2", "item3"], "problems": ["p2"]}
    posted = [json.loads(r.read()) for r in httpx_mock.get_requests() if r.method == "POST"]
    assert posted == [{"ids": ["a", "b"]}, {"ids": ["c", "d"]}, {"ids": ["e"]}]


def test_chunks_gather_their_list_when_none_is_given(jobs, httpx_mock):
    httpx_mock.add_response(url=f"{BASE}/changed?since=t", json=[{"id": "a"}, {"id": "b"}])
    httpx_mock.add_response(method="POST", url=f"{BASE}/scans", status_code=202, json={"id": "s1"})
    httpx_mock.add_response(url=f"{BASE}/scans/s1", json={"status": "Succeeded"})
    httpx_mock.add_response(url=f"{BASE}/scans/s1/result", json={"items": ["x"], "problems": []})
    response, code = jobs("start_scan", {"since": "t"})
    assert code == 0, response
    assert response["result"] == {"items": ["x"], "problems": []}


def test_chunks_resume_from_their_handle(jobs, httpx_mock):
    for n in (1, 2):
        httpx_mock.add_response(
            method="POST", url=f"{BASE}/scans", status_code=202, json={"id": f"s{n}"}
        )
    response, code = jobs("start_scan", {"ids": ["a", "b", "c"], "wait": False})
    assert code == 0, response
    operation = response["result"]["operation"]
    assert operation["operations"] == {"running": 2}
    for n in (1, 2):
        httpx_mock.add_response(url=f"{BASE}/scans/s{n}", json={"status": "Succeeded"})
        httpx_mock.add_response(
            url=f"{BASE}/scans/s{n}/result", json={"items": [n], "problems": []}
        )
    response, code = jobs.request({"resume": operation["handle"], "inputs": {"wait": True}})
    assert code == 0, response
    assert response["result"] == {"items": [1, 2], "problems": []}


@pytest.mark.parametrize("action", ["export_report", "list_events", "upload_file"])
def test_the_actions_describe_their_call_inputs(jobs, action):
    from connectorkit.authoring._catalog import describe  # noqa: PLC0415

    catalog = describe(jobs.pack)
    entry = next(a for a in catalog["actions"] if a["key"] == action)
    assert entry["inputs"]["type"] == "object"
