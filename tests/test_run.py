"""Run: every action sends exactly the request the Power BI REST API defines."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from conftest import ACCESS, BASE

GROUP = "f089354e-8366-4e18-aea3-4cb4a3a50b48"
DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
COLUMNS = [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}]
ROWS = [{"Product": "A", "Qty": 3}, {"Product": "B", "Qty": 5}]

# The request of every action, in My workspace and in a workspace, is in the action's own
# examples (actions/*.yaml), run by the conformance suite: `pytest connector.yaml`.


def _check(request, method, path, query, body):
    assert request.method == method
    assert request.url.raw_path.decode().split("?")[0] == "/v1.0/myorg" + path
    assert parse_qsl(request.url.query.decode()) == query
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    if body is None:
        assert request.content == b""
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == body


def test_list_groups_pages_on_the_server(call, httpx_mock):
    httpx_mock.add_response(json={"value": [{"id": GROUP, "name": "Sales"}]})
    response, _ = call("list_groups", {"top": 5, "page_offset": 10})
    _check(httpx_mock.get_request(), "GET", "/groups", [("$top", "5"), ("$skip", "10")], None)
    assert response["result"] == {"value": [{"id": GROUP, "name": "Sales"}]}


def test_list_datasets_pages_the_returned_list(call, httpx_mock):
    items = [{"id": str(i), "name": f"d{i}"} for i in range(10)]
    httpx_mock.add_response(json={"@odata.context": "ctx", "value": items})
    response, _ = call("list_datasets", {"top": 3, "page_offset": 4})
    assert response["result"] == {"@odata.context": "ctx", "value": items[4:7]}
    assert response["meta"]["requests"] == 1


def test_table_name_stays_one_path_segment(call, httpx_mock):
    httpx_mock.add_response()
    call("delete_rows", {"dataset_id": DATASET, "table_name": "a/../b"})
    path = httpx_mock.get_request().url.raw_path.decode()
    assert path == f"/v1.0/myorg/datasets/{DATASET}/tables/a%2F..%2Fb/rows"


def test_a_dataset_id_that_is_not_a_uuid_is_refused_before_sending(call, httpx_mock):
    response, code = call("delete_rows", {"dataset_id": "..", "table_name": "T"})
    assert code == 2
    assert response["error"]["details"] == [
        {
            "field": "dataset_id",
            "message": '".." must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6',
        }
    ]
    assert httpx_mock.get_requests() == []


def test_delete_rows_result_is_null_for_empty_body(call, httpx_mock):
    httpx_mock.add_response(status_code=200, content=b"")
    response, code = call("delete_rows", {"dataset_id": DATASET, "table_name": "T"})
    assert (code, response["ok"], response["result"]) == (0, True, None)


def test_create_rows_splits_at_ten_thousand(call, httpx_mock):
    httpx_mock.add_response(is_reusable=True)
    rows = [{"Qty": i} for i in range(25_001)]
    response, code = call("create_rows", {"dataset_id": DATASET, "table_name": "T", "rows": rows})
    assert code == 0
    assert response["result"] == {"rows": 25_001, "batches": 3}
    sent = [json.loads(r.content)["rows"] for r in httpx_mock.get_requests()]
    assert [len(b) for b in sent] == [10_000, 10_000, 5_001]
    assert [row for batch in sent for row in batch] == rows


def test_create_rows_partial_failure_says_what_was_committed(call, httpx_mock):
    httpx_mock.add_response()
    httpx_mock.add_response(
        status_code=400, json={"error": {"code": "InvalidRequest", "message": "bad row 3"}}
    )
    rows = [{"Qty": i} for i in range(25_000)]
    response, code = call("create_rows", {"dataset_id": DATASET, "table_name": "T", "rows": rows})
    assert code == 1
    error = response["error"]
    assert error["type"] == "partial_failure"
    assert (error["committed"], error["total"], error["resume_from"]) == (10_000, 25_000, 10_000)
    assert [(d["batch"], d["first"], d["count"], d["status"]) for d in error["details"]] == [
        (1, 0, 10_000, "committed"),
        (2, 10_000, 10_000, "failed"),
        (3, 20_000, 5_000, "not_sent"),
    ]
    assert error["details"][1]["error"]["code"] == "InvalidRequest"
    assert len(httpx_mock.get_requests()) == 2


def test_first_batch_failure_is_the_plain_error(call, httpx_mock):
    httpx_mock.add_response(
        status_code=404, json={"error": {"code": "ItemNotFound", "message": "no such dataset"}}
    )
    response, code = call("create_rows", {"dataset_id": DATASET, "table_name": "T", "rows": ROWS})
    assert code == 1
    assert response["error"] == {
        "type": "http_error",
        "message": "no such dataset",
        "status": 404,
        "code": "ItemNotFound",
    }


class TestRawRequest:
    def test_post_json_with_query_and_headers(self, call, httpx_mock):
        httpx_mock.add_response(status_code=202, json={"id": "imp-1"}, headers={"X-Id": "7"})
        response, _ = call(
            "raw_request",
            {
                "url": "/imports?datasetDisplayName=Sales",
                "method": "POST",
                "data": {"fileUrl": "https://blob/x"},
                "query_params": [
                    {"key": "nameConflict", "value": "Abort"},
                    {"key": "tag", "value": "a"},
                    {"key": "tag", "value": "b"},
                ],
                "headers": {"X-Trace": "t-1"},
            },
        )
        request = httpx_mock.get_request()
        assert request.method == "POST"
        assert str(request.url) == (
            f"{BASE}/imports?datasetDisplayName=Sales&nameConflict=Abort&tag=a&tag=b"
        )
        assert request.headers["X-Trace"] == "t-1"
        assert json.loads(request.content) == {"fileUrl": "https://blob/x"}
        assert response["result"]["status"] == 202
        assert response["result"]["data"] == {"id": "imp-1"}
        assert response["result"]["headers"]["x-id"] == "7"

    def test_multipart_file_upload(self, call, httpx_mock):
        httpx_mock.add_response(status_code=202, json={"id": "imp-2"})
        call(
            "raw_request",
            {
                "method": "POST",
                "form_data": {"note": "quarterly"},
                "file_data": {"file": "UEsDBBQ="},
                "file_data_file_names": {"file": "Sales.pbix"},
            },
        )
        request = httpx_mock.get_request()
        assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
        body = request.content
        assert b'name="note"\r\n\r\nquarterly' in body
        assert b'name="file"; filename="Sales.pbix"' in body
        assert b"PK\x03\x04\x14" in body

    def test_bad_base64_names_the_file(self, call, httpx_mock):
        response, code = call("raw_request", {"method": "POST", "file_data": {"f": "not base64!"}})
        assert code == 2
        assert response["error"]["details"] == [
            {"field": "file_data.f", "message": "must be base64-encoded"}
        ]

    def test_binary_response_is_base64(self, call, httpx_mock):
        httpx_mock.add_response(content=b"\x00\xffPBIX")
        response, _ = call("raw_request", {"url": "/reports/r1/Export", "response_type": "binary"})
        assert response["result"]["data"] == "AP9QQklY"
        assert response["result"]["encoding"] == "base64"

    def test_text_response(self, call, httpx_mock):
        httpx_mock.add_response(text="hello")
        response, _ = call("raw_request", {"response_type": "text"})
        assert response["result"]["data"] == "hello"

    @pytest.mark.parametrize(
        "url", ["https://evil.example/steal", "//evil.example/x", "http://api.powerbi.com/x"]
    )
    def test_other_origin_is_refused_before_any_request(self, call, httpx_mock, url):
        response, code = call("raw_request", {"url": url})
        assert code == 2
        assert response["error"]["type"] == "invalid_input"
        assert response["error"]["details"][0]["field"] == "url"
        assert httpx_mock.get_requests() == []

    def test_same_origin_absolute_url_is_allowed(self, call, httpx_mock):
        httpx_mock.add_response(json={})
        call("raw_request", {"url": "https://api.powerbi.com/v1.0/myorg/profiles"})
        assert str(httpx_mock.get_request().url) == f"{BASE}/profiles"

    def test_non_success_is_an_http_error(self, call, httpx_mock):
        httpx_mock.add_response(
            status_code=404, json={"error": {"code": "ItemNotFound", "message": "nope"}}
        )
        response, code = call("raw_request", {"url": "/datasets/x"})
        assert code == 1
        assert response["error"]["status"] == 404
