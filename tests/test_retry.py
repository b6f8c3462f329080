"""Retry and backoff: what is retried, how long the runtime waits, and when it stops."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest

from conftest import assert_envelope, copy_pack, sp_connection, user_connection
from connectorkit.call._run import Runner
from connectorkit.http._responses import parse_retry_after
from connectorkit.http._retry import RetryPolicy
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

DATASET = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
ROWS = {
    "dataset_id": DATASET,
    "table_name": "T",
    "rows": [{"Qty": 1}],
    "columns": [{"name": "Qty", "dataType": "Int64"}],
}
ROWS_URL = f"https://api.powerbi.com/v1.0/myorg/datasets/{DATASET}/tables/T/rows"
BUSY = {"error": {"code": "ServiceUnavailable", "message": "try later"}}


def test_503_on_create_rows_is_not_retried_by_default(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=503, json=BUSY)
    response, code = call("create_rows", {**ROWS, "max_retry_count": 3})
    assert code == 1
    assert response["error"]["type"] == "http_error"
    assert response["error"]["status"] == 503
    assert len(httpx_mock.get_requests()) == 1
    assert (response["meta"]["retries"], clock.sleeps) == (0, [])


def test_503_on_create_rows_is_retried_with_retry_on_all_errors(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=503, json=BUSY)
    httpx_mock.add_response()
    response, code = call(
        "create_rows",
        {**ROWS, "max_retry_count": 3, "retry_on_all_errors": True, "retry_delay_ms": 250},
    )
    assert code == 0, response
    assert len(httpx_mock.get_requests()) == 2
    assert (response["meta"]["retries"], clock.sleeps) == (1, [0.25])


def test_503_on_get_is_retried(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=503, json=BUSY)
    httpx_mock.add_response(status_code=500, json=BUSY)
    httpx_mock.add_response(json={"value": []})
    response, code = call("list_datasets", {"max_retry_count": 2, "retry_delay_ms": 100})
    assert code == 0
    assert (response["meta"]["retries"], response["meta"]["requests"]) == (2, 3)
    assert clock.sleeps == [0.1, 0.1]


def test_no_retries_by_default(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=503, json=BUSY)
    response, _ = call("list_datasets")
    assert response["error"]["status"] == 503
    assert len(httpx_mock.get_requests()) == 1


def test_429_waits_retry_after_then_succeeds(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"}, json=BUSY)
    httpx_mock.add_response()
    response, code = call("create_rows", {**ROWS, "max_retry_count": 1, "retry_delay_ms": 10})
    assert code == 0
    assert clock.sleeps == [7.0]  # Retry-After wins over Retry Delay
    assert response["meta"]["retries"] == 1


def test_429_retry_after_as_http_date(call, httpx_mock, clock):
    when = email.utils.formatdate(clock.now + 10_000_000_000, usegmt=True)
    assert parse_retry_after(when) is not None
    in_three = email.utils.formatdate(__import__("time").time() + 3, usegmt=True)
    httpx_mock.add_response(status_code=429, headers={"Retry-After": in_three})
    httpx_mock.add_response(json={"value": []})
    call("list_datasets", {"max_retry_count": 1})
    assert len(clock.sleeps) == 1
    assert 1.5 <= clock.sleeps[0] <= 3.0


def test_429_exhausted_is_rate_limited_with_retry_after(call, httpx_mock, clock):
    httpx_mock.add_response(
        status_code=429, headers={"Retry-After": "2"}, json=BUSY, is_reusable=True
    )
    response, code = call("list_datasets", {"max_retry_count": 2})
    assert code == 1
    assert response["error"]["type"] == "rate_limited"
    assert response["error"]["retry_after"] == 2.0
    assert clock.sleeps == [2.0, 2.0]
    assert len(httpx_mock.get_requests()) == 3


def test_timeout_stops_the_retries(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=503, json=BUSY, is_reusable=True)
    response, code = call(
        "list_datasets", {"max_retry_count": 10, "retry_delay_ms": 400, "timeout": 1000}
    )
    assert code == 1
    assert response["error"]["type"] == "timeout"
    # 0 ms, 400 ms, 800 ms: a third wait would end past the 1000 ms budget.
    assert clock.sleeps == [0.4, 0.4]
    assert len(httpx_mock.get_requests()) == 3
    assert response["error"]["last_error"]["status"] == 503


def test_retry_after_longer_than_the_budget_stops_at_once(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "60"}, json=BUSY)
    response, _ = call("list_datasets", {"max_retry_count": 3, "timeout": 5000})
    assert response["error"]["type"] == "timeout"
    assert response["error"]["retry_after"] == 60.0
    assert clock.sleeps == []


def test_exponential_backoff_doubles_from_retry_delay(call, httpx_mock, clock, monkeypatch):
    monkeypatch.setattr("random.uniform", lambda low, high: high)  # the top of the jitter range
    httpx_mock.add_response(status_code=503, json=BUSY, is_reusable=True)
    call(
        "list_datasets",
        {"max_retry_count": 4, "retry_delay_ms": 100, "use_exponential_backoff": True},
    )
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]


def test_exponential_backoff_has_a_base_when_delay_is_zero():
    policy = RetryPolicy(max_retries=3, exponential=True, jitter=lambda low, high: low)
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]  # half of 0.5, 1, 2


def test_jitter_stays_within_half_to_full_step():
    policy = RetryPolicy(max_retries=5, delay_s=1.0, exponential=True)
    for retry in range(1, 6):
        step = 2 ** (retry - 1)
        assert all(step / 2 <= policy.delay(retry) <= step for _ in range(50))


def test_connect_error_is_retried_even_for_post(call, httpx_mock, clock):
    httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    httpx_mock.add_response()
    response, code = call("create_rows", {**ROWS, "max_retry_count": 1})
    assert code == 0, response
    assert len(httpx_mock.get_requests()) == 2


def test_read_error_on_post_is_not_retried(call, httpx_mock, clock):
    # The rows may have been committed before the connection broke: sending them again could
    # duplicate them.
    httpx_mock.add_exception(httpx.RemoteProtocolError("peer closed connection"))
    response, code = call("create_rows", {**ROWS, "max_retry_count": 3})
    assert code == 1
    # Rows whose fate is unknown are accounted for (see test_bulk_accounting.py).
    assert response["error"]["type"] == "partial_failure"
    [batch] = response["error"]["details"]
    assert batch["status"] == "unknown"
    assert batch["error"]["type"] == "network_error"
    assert batch["error"]["request_sent"] is True
    assert len(httpx_mock.get_requests()) == 1


def test_read_error_on_get_is_retried(call, httpx_mock, clock):
    httpx_mock.add_exception(httpx.ReadError("reset"))
    httpx_mock.add_response(json={"value": []})
    response, _ = call("list_reports", {"max_retry_count": 1})
    assert response["ok"]


def test_network_error_when_nothing_answers(call, httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    response, code = call("list_groups")
    assert code == 1
    assert response["error"]["type"] == "network_error"


def test_retry_on_all_errors_retries_a_400(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=400, json={"error": {"code": "InvalidRequest"}})
    httpx_mock.add_response(json={"value": []})
    response, _ = call("list_groups", {"max_retry_count": 1, "retry_on_all_errors": True})
    assert response["ok"]


def test_a_400_is_not_retried_by_default(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=400, json={"error": {"code": "InvalidRequest"}})
    response, _ = call("list_groups", {"max_retry_count": 3})
    assert response["error"]["code"] == "InvalidRequest"
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), (None, None)],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header) == expected


def test_a_throttled_token_endpoint_is_waited_out(call, httpx_mock, clock):
    token_url = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
    httpx_mock.add_response(url=token_url, status_code=429, headers={"Retry-After": "4"})
    httpx_mock.add_response(url=token_url, json={"access_token": "sp-token-1", "expires_in": 3600})
    httpx_mock.add_response(json={"value": []})
    response, code = call(
        "list_datasets",
        {"group_id": "c0ffee00-5a1e-4a1a-8a1b-000000000001", "max_retry_count": 1},
        connection=sp_connection(),
    )
    assert code == 0, response
    assert clock.sleeps == [4.0]
    assert response["meta"]["retries"] == 1
    assert response["token"]["access_token"] == "sp-token-1"


# -- what is retried: each rule of the policy, seen as the requests sent -----------------------


def test_a_5xx_on_put_is_retried_put_is_idempotent(call, httpx_mock, clock):
    httpx_mock.add_response(method="PUT", status_code=503, json=BUSY)
    httpx_mock.add_response(method="PUT", json={})
    columns = [{"name": "Qty", "dataType": "Int64"}]
    inputs = {"dataset_id": DATASET, "table_name": "T", "columns": columns}
    response, code = call("update_table", {**inputs, "max_retry_count": 1})
    assert code == 0, response
    assert [r.method for r in httpx_mock.get_requests()] == ["PUT", "PUT"]


def test_a_failing_token_endpoint_is_retried_also_for_a_post(call, httpx_mock, clock):
    # A token request does no work that sending it again could double.
    token_url = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
    httpx_mock.add_response(url=token_url, status_code=500)
    httpx_mock.add_response(url=token_url, json={"access_token": "sp-token-2", "expires_in": 3600})
    httpx_mock.add_response(method="POST", url=ROWS_URL)
    response, code = call("create_rows", {**ROWS, "max_retry_count": 1}, connection=sp_connection())
    assert code == 0, response
    assert [str(r.url) for r in httpx_mock.get_requests()] == [token_url, token_url, ROWS_URL]


def test_a_300_is_retried_with_retry_on_all_errors(call, httpx_mock, clock):
    httpx_mock.add_response(status_code=300, json={})
    httpx_mock.add_response(json={"value": []})
    response, code = call("list_groups", {"max_retry_count": 1, "retry_on_all_errors": True})
    assert code == 0, response
    assert len(httpx_mock.get_requests()) == 2


def test_a_read_error_on_a_post_is_retried_with_retry_on_all_errors(call, httpx_mock, clock):
    httpx_mock.add_exception(httpx.ReadError("reset"))
    httpx_mock.add_response()
    response, code = call(
        "create_rows", {**ROWS, "max_retry_count": 1, "retry_on_all_errors": True}
    )
    assert code == 0, response
    assert len(httpx_mock.get_requests()) == 2


def test_a_429_is_retried_for_a_post_where_the_pack_throttles_with_another_status(
    httpx_mock, clock, tmp_path
):
    # A pack that names 503 as its throttling status: a 429 is then a plain HTTP error, and still
    # retried on a POST (the service refused it before doing anything), unlike a 500.
    folder = copy_pack(tmp_path / "pack")
    manifest = folder / "connector.yaml"
    manifest.write_text(manifest.read_text().replace("throttled: [429]", "throttled: [503]"))
    pack = load_pack(folder)
    runner = Runner(sleep=clock.sleep, clock=clock)
    httpx_mock.add_response(status_code=429, json=BUSY)
    httpx_mock.add_response()
    httpx_mock.add_response(status_code=500, json=BUSY)
    request = {"action": "create_rows", "connection": user_connection()}
    try:
        answers = [
            respond(pack, runner, json.dumps({**request, "inputs": {**ROWS, "max_retry_count": 1}}))
            for _ in range(2)
        ]
    finally:
        runner.close()
    for response, _ in answers:
        assert_envelope(response)
    assert answers[0][1] == 0, answers[0]
    [batch] = answers[1][0]["error"]["details"]
    assert batch["error"]["status"] == 500  # a 500 on a POST is not retried
    assert len(httpx_mock.get_requests()) == 3


def test_a_budget_spent_to_exactly_zero_is_the_calls_timeout(call, httpx_mock, clock):
    # The service takes exactly the whole budget to answer 503: no second request is sent, and
    # the timeout names the budget.
    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.now += 1.0
        return httpx.Response(503, json=BUSY)

    httpx_mock.add_callback(slow_503)
    response, code = call("list_datasets", {"max_retry_count": 3, "timeout": 1000})
    assert code == 1, response
    assert response["error"]["type"] == "timeout"
    assert response["error"]["timeout_ms"] == 1000
    assert "1000 ms" in response["error"]["message"]
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("method", "sent"),
    [
        ("GET", 2),
        ("HEAD", 2),
        ("OPTIONS", 2),
        ("PUT", 2),
        ("DELETE", 2),
        ("POST", 1),
        ("PATCH", 1),
    ],
)
def test_a_5xx_is_retried_only_for_the_idempotent_methods(call, httpx_mock, clock, method, sent):
    httpx_mock.add_response(method=method, status_code=502, json=BUSY)
    httpx_mock.add_response(method=method, json={}, is_optional=sent == 1)
    response, code = call(
        "raw_request", {"url": "/imports", "method": method, "max_retry_count": 1}
    )
    assert len(httpx_mock.get_requests()) == sent
    assert code == (0 if sent == 2 else 1), response


def test_exponential_backoff_stops_growing_at_a_minute(call, httpx_mock, clock, monkeypatch):
    monkeypatch.setattr("random.uniform", lambda low, high: high)  # the top of the jitter range
    httpx_mock.add_response(status_code=503, json=BUSY, is_reusable=True)
    call(
        "list_datasets",
        {"max_retry_count": 5, "retry_delay_ms": 10_000, "use_exponential_backoff": True},
    )
    assert clock.sleeps == [10.0, 20.0, 40.0, 60.0, 60.0]


def test_an_expired_token_without_a_refresh_token_is_not_retried(call, httpx_mock, clock):
    # Not a failure of the service: sending again cannot help, so nothing is waited for.
    expired = user_connection(expires_at=int(time.time()) - 60, refresh_token="")
    response, code = call(
        "list_groups", {"max_retry_count": 3, "retry_delay_ms": 100}, connection=expired
    )
    assert response["error"]["type"] == "invalid_connection", response
    assert code == 2
    assert clock.sleeps == []
    assert httpx_mock.get_requests() == []


def test_a_token_refused_again_after_its_renewal_is_not_retried(call, httpx_mock, clock):
    httpx_mock.add_response(method="GET", status_code=401, is_reusable=True)
    httpx_mock.add_response(
        method="POST", json={"access_token": "renewed-access-1", "expires_in": 3600}
    )
    response, code = call("list_groups", {"max_retry_count": 2, "retry_delay_ms": 100})
    assert response["error"]["type"] == "auth_error", response
    assert code == 1
    assert clock.sleeps == []
    assert [r.method for r in httpx_mock.get_requests()] == ["GET", "POST", "GET"]
