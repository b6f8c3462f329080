"""Long-running operations: started, polled with Retry-After or the interval, ended, resumed."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from jobs_helpers import BASE

EXPORT = f"{BASE}/reports/r1/exports"
STATUS = f"{EXPORT}/e1"
FILE = f"{STATUS}/file"
PDF = b"%PDF-1.7 a small file"


def started(httpx_mock, **headers):
    httpx_mock.add_response(
        method="POST", url=EXPORT, status_code=202, json={"id": "e1"}, headers=headers
    )


def status(httpx_mock, word, percent=None, *, code=200, retry_after=None, **extra):
    body = {"id": "e1", "status": word, **extra}
    if percent is not None:
        body["percentComplete"] = percent
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    httpx_mock.add_response(method="GET", url=STATUS, status_code=code, json=body, headers=headers)


def test_an_export_is_polled_to_its_end_and_its_file_returned(jobs, httpx_mock, clock):
    started(httpx_mock, **{"Retry-After": "3"})
    status(httpx_mock, "Running", 40, retry_after=7)
    status(httpx_mock, "Running", 80)
    status(httpx_mock, "Succeeded", 100)
    httpx_mock.add_response(
        method="GET", url=FILE, content=PDF, headers={"Content-Type": "application/pdf"}
    )
    response, code = jobs("export_report", {"report_id": "r1"})
    assert code == 0, response
    assert response["result"] == {
        "encoding": "base64",
        "content_type": "application/pdf",
        "data": base64.b64encode(PDF).decode(),
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    # The start's Retry-After, a poll's Retry-After, then the interval (first_s 2).
    assert clock.sleeps == [3, 7, 2]
    requests = httpx_mock.get_requests()
    assert [(r.method, str(r.url)) for r in requests] == [
        ("POST", EXPORT),
        ("GET", STATUS),
        ("GET", STATUS),
        ("GET", STATUS),
        ("GET", FILE),
    ]
    assert json.loads(requests[0].content) == {"format": "PDF"}
    assert response["meta"]["operation"]["status"] == "succeeded"
    assert response["meta"]["operation"]["polls"] == 3


def test_retry_after_is_kept_within_the_declared_bounds(jobs, httpx_mock, clock):
    started(httpx_mock, **{"Retry-After": "0"})
    status(httpx_mock, "Running", retry_after=3600)
    status(httpx_mock, "Succeeded")
    httpx_mock.add_response(method="GET", url=FILE, content=PDF)
    response, code = jobs("export_report", {"report_id": "r1", "timeout": 600_000})
    assert code == 0, response
    assert clock.sleeps == [1, 30]  # retry_after: {min_s: 1, max_s: 30}


def test_without_retry_after_the_interval_backs_off_to_its_ceiling(jobs, httpx_mock, clock):
    started(httpx_mock)
    for _ in range(5):
        status(httpx_mock, "NotStarted")
    status(httpx_mock, "Succeeded")
    httpx_mock.add_response(method="GET", url=FILE, content=PDF)
    response, code = jobs("export_report", {"report_id": "r1"})
    assert code == 0, response
    assert clock.sleeps == [2, 2, 4, 8, 10, 10]  # first_s 2, backoff 2, max_s 10


def test_save_to_writes_the_file_and_says_what_it_wrote(jobs, httpx_mock, tmp_path):
    started(httpx_mock)
    status(httpx_mock, "Succeeded")
    httpx_mock.add_response(
        method="GET", url=FILE, content=PDF, headers={"Content-Type": "application/pdf"}
    )
    target = tmp_path / "report.pdf"
    response, code = jobs("export_report", {"report_id": "r1", "save_to": str(target)})
    assert code == 0, response
    assert target.read_bytes() == PDF
    assert response["result"] == {
        "saved_to": str(target),
        "size": len(PDF),
        "content_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no partial file left


def test_a_file_too_big_for_the_envelope_asks_for_save_to(jobs, httpx_mock, monkeypatch):
    monkeypatch.setenv("CONNECTORKIT_MAX_INLINE_FILE_BYTES", "10")
    started(httpx_mock)
    status(httpx_mock, "Succeeded")
    httpx_mock.add_response(method="GET", url=FILE, content=PDF)
    response, code = jobs("export_report", {"report_id": "r1"})
    assert code == 2
    error = response["error"]
    assert error["type"] == "invalid_input"
    assert error["details"][0]["field"] == "save_to"
    assert f"the file is {len(PDF)} bytes, more than the 10" in error["message"]


def test_a_failed_operation_is_an_http_error_with_the_service_details(jobs, httpx_mock):
    started(httpx_mock)
    status(
        httpx_mock,
        "Failed",
        error={"code": "ExportRenderFailed", "message": "The visual could not be rendered."},
    )
    response, code = jobs("export_report", {"report_id": "r1"})
    assert code == 1
    error = response["error"]
    assert error["type"] == "http_error"
    assert error["code"] == "ExportRenderFailed"
    assert error["message"] == "the operation failed (Failed): The visual could not be rendered."
    assert error["operation"]["status"] == "failed"
    assert error["operation"]["details"] == {
        "code": "ExportRenderFailed",
        "message": "The visual could not be rendered.",
    }
    assert error["operation"]["handle"].startswith("op_")
    # No file is asked for.
    assert [r.method for r in httpx_mock.get_requests()] == ["POST", "GET"]


def test_polls_that_are_throttled_or_fail_on_the_server_are_polled_again(jobs, httpx_mock, clock):
    started(httpx_mock)
    httpx_mock.add_response(method="GET", url=STATUS, status_code=429, headers={"Retry-After": "4"})
    httpx_mock.add_response(method="GET", url=STATUS, status_code=503)
    status(httpx_mock, "Succeeded")
    httpx_mock.add_response(method="GET", url=FILE, content=PDF)
    response, code = jobs("export_report", {"report_id": "r1"})
    assert code == 0, response
    assert clock.sleeps == [2, 4, 2]


def test_five_failed_polls_in_a_row_end_the_call(jobs, httpx_mock):
    started(httpx_mock)
    httpx_mock.add_response(method="GET", url=STATUS, status_code=503, is_reusable=True)
    response, code = jobs("export_report", {"report_id": "r1", "timeout": 3_600_000})
    assert code == 1
    assert response["error"]["status"] == 503
    assert len(httpx_mock.get_requests()) == 6


def test_a_poll_the_service_refuses_ends_the_call(jobs, httpx_mock):
    started(httpx_mock)
    httpx_mock.add_response(
        method="GET",
        url=STATUS,
        status_code=404,
        json={"error": {"code": "NotFound", "message": "No such export."}},
    )
    response, code = jobs("export_report", {"report_id": "r1"})
    assert (code, response["error"]["type"], response["error"]["code"]) == (
        1,
        "http_error",
        "NotFound",
    )


def test_when_the_call_runs_out_of_time_it_hands_back_the_operation(jobs, httpx_mock, clock):
    started(httpx_mock)
    status(httpx_mock, "Running", 10, retry_after=20)
    response, code = jobs("export_report", {"report_id": "r1", "timeout": 10_000})
    assert code == 0, response
    result = response["result"]
    assert result["status"] == "running"
    operation = result["operation"]
    assert operation["handle"].startswith("op_")
    assert operation["action"] == "export_report"
    assert (operation["service_status"], operation["percent"], operation["polls"]) == (
        "Running",
        10.0,
        1,
    )
    # It waited 2 s for the first poll, then stopped rather than wait 20 s past its budget.
    assert clock.sleeps == [2]


def test_wait_false_returns_the_handle_at_once_and_resume_ends_it(jobs, httpx_mock):
    started(httpx_mock)
    response, code = jobs("export_report", {"report_id": "r1", "wait": False})
    assert code == 0, response
    handle = response["result"]["operation"]["handle"]
    assert response["result"]["operation"]["polls"] == 0
    assert len(httpx_mock.get_requests()) == 1

    status(httpx_mock, "Succeeded")
    httpx_mock.add_response(method="GET", url=FILE, content=PDF)
    response, code = jobs.request({"id": 7, "resume": handle})
    assert code == 0, response
    assert response["id"] == 7
    assert response["action"] == "export_report"
    assert base64.b64decode(response["result"]["data"]) == PDF
    record = jobs.runner.operations.get(handle)
    assert record["status"] == "succeeded"


def test_resume_with_wait_false_polls_once(jobs, httpx_mock):
    started(httpx_mock)
    handle = jobs("export_report", {"report_id": "r1", "wait": False})[0]["result"]["operation"][
        "handle"
    ]
    status(httpx_mock, "Running", 55)
    response, code = jobs.request({"resume": handle, "inputs": {"wait": False}})
    assert code == 0, response
    assert response["result"]["status"] == "running"
    assert response["result"]["operation"]["percent"] == 55.0


def test_an_unknown_handle_is_an_invalid_request(jobs):
    response, code = jobs.request({"resume": "op_nothing"})
    assert code == 2
    assert response["error"]["type"] == "invalid_request"
    assert response["error"]["details"] == [
        {"field": "resume", "message": "is not an operation handle of this store"}
    ]


def test_an_operation_past_its_timeout_is_a_timeout(jobs, httpx_mock, clock):
    started(httpx_mock)
    status(httpx_mock, "Running", retry_after=30)
    handle = None
    # A call with a long budget: the operation's own limit (3600 s) ends it first.
    httpx_mock.add_response(
        method="GET",
        url=STATUS,
        json={"status": "Running"},
        headers={"Retry-After": "30"},
        is_reusable=True,
    )
    response, code = jobs("export_report", {"report_id": "r1", "timeout": 10_000_000})
    assert code == 1
    error = response["error"]
    assert error["type"] == "timeout"
    assert error["operation"]["status"] == "timeout"
    assert "ran past its time limit of 3600 s" in error["message"]
    handle = error["operation"]["handle"]
    assert jobs.runner.operations.get(handle)["status"] == "timeout"
    assert clock.now - 1000.0 >= 3600


JOB = f"{BASE}/jobs"
OPERATION = "https://jobs.example/v1/operations/o1"


def test_a_job_is_found_by_its_location_and_its_result_by_the_last_poll(jobs, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=JOB,
        status_code=202,
        headers={"Location": OPERATION, "x-operation-id": "o1"},
    )
    response, _ = jobs("start_job", {"name": "n"})  # wait: false by the pack's default
    handle = response["result"]["operation"]["handle"]
    httpx_mock.add_response(
        method="GET",
        url=OPERATION,
        json={"status": "Succeeded"},
        headers={"Location": f"{OPERATION}/result"},
    )
    httpx_mock.add_response(method="GET", url=f"{OPERATION}/result", json={"answer": 42})
    response, code = jobs.request({"resume": handle, "inputs": {"wait": True}})
    assert code == 0, response
    assert response["result"] == {"answer": 42}


def test_a_job_without_a_result_location_ends_with_its_last_poll(jobs, httpx_mock):
    httpx_mock.add_response(
        method="POST", url=JOB, status_code=202, headers={"Location": OPERATION}, json={"id": "o1"}
    )
    httpx_mock.add_response(
        method="GET", url=OPERATION, json={"status": "Succeeded", "percentComplete": 100}
    )
    response, code = jobs("start_job", {"name": "n", "wait": True})
    assert code == 0, response
    assert response["result"] == {"status": "Succeeded", "percentComplete": 100}


def test_a_job_that_finishes_at_once_is_no_operation(jobs, httpx_mock):
    httpx_mock.add_response(
        method="POST", url=JOB, status_code=201, json={"id": "o1", "done": True}
    )
    response, code = jobs("start_job", {"name": "n"})
    assert (code, response["result"]) == (0, {"id": "o1", "done": True})


def test_a_job_is_cancelled_with_its_handle(jobs, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=JOB,
        status_code=202,
        headers={"Location": OPERATION, "x-operation-id": "o1"},
    )
    handle = jobs("start_job", {"name": "n"})[0]["result"]["operation"]["handle"]
    httpx_mock.add_response(method="DELETE", url=f"{BASE}/operations/o1", status_code=204)
    httpx_mock.add_response(method="GET", url=OPERATION, json={"status": "Cancelled"})
    response, code = jobs.request({"cancel": handle})
    assert code == 0, response
    assert response["result"]["status"] == "cancelled"
    assert response["result"]["operation"]["service_status"] == "Cancelled"
    # Resuming a cancelled job says so.
    httpx_mock.add_response(method="GET", url=OPERATION, json={"status": "Cancelled"})
    response, code = jobs.request({"resume": handle, "inputs": {"wait": True}})
    assert code == 1
    assert (response["error"]["type"], response["error"]["code"]) == (
        "http_error",
        "operation_cancelled",
    )


def test_an_action_without_cancel_cannot_be_cancelled(jobs, httpx_mock):
    started(httpx_mock)
    handle = jobs("export_report", {"report_id": "r1", "wait": False})[0]["result"]["operation"][
        "handle"
    ]
    response, code = jobs.request({"cancel": handle})
    assert code == 2
    assert response["error"]["type"] == "invalid_request"


def test_a_handle_keeps_no_credential(jobs, httpx_mock):
    started(httpx_mock)
    handle = jobs("export_report", {"report_id": "r1", "wait": False})[0]["result"]["operation"][
        "handle"
    ]
    record = jobs.runner.operations.get(handle)
    assert record["connection"] == {"key": "user", "name": None}
    assert record["inputs"] == {"report_id": "r1", "format": "PDF", "max_retry_count": 0}
    assert "access" not in json.dumps(record)


@pytest.mark.parametrize("given", [{"resume": 5}, {"resume": "op_x", "cancel": "op_x"}])
def test_a_malformed_handle_request_is_refused(jobs, given):
    response, code = jobs.request(dict(given))
    assert (code, response["error"]["type"]) == (2, "invalid_request")
