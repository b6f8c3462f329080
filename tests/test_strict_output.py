"""Strict JSON out whatever comes in, and caller or service mistakes answered with their type.

Each case here once produced a traceback, a non-JSON stdout (``NaN``, ``Infinity``, a lone
surrogate that cannot be encoded) or an ``internal_error``. The requests run through the whole
protocol against a recording stand-in for the service, so "nothing was sent" is checked too.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from conftest import assert_envelope, user_connection
from connectorkit.call._run import Runner
from connectorkit.protocol._protocol import invoke


def strict_loads(text: str) -> Any:
    """Parse as RFC 8259 would: no NaN/Infinity, and the text must be valid UTF-8."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} on stdout")

    text.encode("utf-8")  # raises on a lone surrogate
    return json.loads(text, parse_constant=refuse)


class Service:
    """A stand-in Power BI: records what it receives, answers what the test set."""

    def __init__(self, response: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.response = response or httpx.Response(200, json={"value": []})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response


def run(pack, text: str | bytes, service: Service | None = None) -> tuple[dict[str, Any], int]:
    service = service or Service()
    runner = Runner(http=httpx.Client(transport=httpx.MockTransport(service)), sleep=lambda _: None)
    out = io.StringIO()
    stdin = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    try:
        code = invoke(lambda: (pack, runner), stdin, out)
    finally:
        runner.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    response = strict_loads(lines[0])
    assert_envelope(response)
    return response, code


def raw(inputs: dict[str, Any], **extra: Any) -> str:
    request = {
        "id": "r1",
        "action": "raw_request",
        "inputs": inputs,
        "connection": user_connection(),
        **extra,
    }
    return json.dumps(request)


# -- the request: ids, lone surrogates, numbers out of range -------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"\\ud800","action":"list_groups"}',
        '{"id":1e400,"action":"list_groups"}',
        '{"id":[1],"action":"list_groups"}',
        '{"id":{"a":1},"action":"list_groups"}',
        '{"id":true,"action":"list_groups"}',
    ],
)
def test_an_id_the_schema_does_not_allow_is_refused_and_not_echoed(pack, text):
    response, code = run(pack, text)
    assert code == 2
    assert "id" not in response
    assert response["error"]["type"] == "invalid_request"
    assert {"field": "id", "message": "must be a string or a finite number"} in response["error"][
        "details"
    ]


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"keep-me","action":5}',
        '{"id":"keep-me","action":"list_groups","inputs":[]}',
        '{"id":"keep-me","action":"list_groups","extra":1}',
        '{"id":"keep-me","action":"list_groups","connection":"oauth2"}',
    ],
)
def test_a_request_of_the_wrong_shape_keeps_its_readable_id(pack, text):
    response, code = run(pack, text)
    assert code == 2
    assert response["id"] == "keep-me"
    assert response["error"]["type"] == "invalid_request"


def test_a_lone_surrogate_in_the_action_name_is_answered_in_strict_json(pack):
    response, code = run(pack, '{"id":"a","action":"list_\\udc00groups"}')
    assert code == 2
    assert response["id"] == "a"
    assert response["error"]["type"] == "invalid_request"


@pytest.mark.parametrize(
    ("inputs_text", "field"),
    [
        ('{"data": {"name": "\\ud800"}}', "data.name"),
        ('{"data": "x\\udfff"}', "data"),
        ('{"form_data": {"k": "\\ud800"}}', "form_data.k"),
        ('{"query_params": {"q": "\\udbff"}}', "query_params.q"),
        ('{"query_params": [{"key": "q", "value": "\\ud800"}]}', "query_params[0].value"),
        ('{"headers": {"X-A": "\\ud800"}}', "headers.X-A"),
        ('{"data": {"n": 1e400}}', "data.n"),
        ('{"data": [1, -1E999]}', "data[1]"),
    ],
)
def test_text_or_numbers_json_cannot_carry_are_invalid_input_and_nothing_is_sent(
    pack, inputs_text, field
):
    service = Service()
    connection = json.dumps(user_connection())
    text = f'{{"id":"r","action":"raw_request","inputs":{inputs_text},"connection":{connection}}}'
    response, code = run(pack, text, service)
    assert code == 2
    assert response["id"] == "r"
    assert response["error"]["type"] == "invalid_input"
    assert field in {d["field"] for d in response["error"]["details"]}
    assert service.requests == []


def test_a_lone_surrogate_in_an_input_name_is_answered_in_strict_json(pack):
    connection = json.dumps(user_connection())
    text = f'{{"action":"list_groups","inputs":{{"t\\ud800p":1}},"connection":{connection}}}'
    response, code = run(pack, text)
    assert code == 2
    assert response["error"]["type"] == "invalid_input"


def test_a_lone_surrogate_in_a_connection_value_is_invalid_connection(pack):
    connection = user_connection()
    connection["values"]["client_id"] = "PLACEHOLDER"
    text = json.dumps({"action": "list_groups", "connection": connection}).replace(
        "PLACEHOLDER", "\\ud800"
    )
    response, code = run(pack, text)
    assert code == 2
    assert response["error"]["type"] == "invalid_connection"
    assert response["error"]["details"][0]["field"] == "connection.values.client_id"


def test_valid_surrogate_pairs_are_text_like_any_other(pack):
    service = Service()
    response, code = run(pack, raw({"method": "POST", "data": {"emoji": "\U0001f600"}}), service)
    assert code == 0, response
    assert json.loads(service.requests[0].content) == {"emoji": "\U0001f600"}


# -- what the service answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": [NaN]}',
        b'{"value": [Infinity, -Infinity]}',
        b'{"value": [1e400]}',
        b'{"value": ["\\ud800"]}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_service_body_that_is_not_strict_json_is_shown_as_text(pack, body):
    service = Service(httpx.Response(200, content=body))
    request = {"id": 1, "action": "list_groups", "connection": user_connection()}
    response, code = run(pack, json.dumps(request), service)
    assert code == 0, response
    assert isinstance(response["result"], str)


@pytest.mark.parametrize("body", [b'{"n": NaN}', b'{"s": "\\udc80"}', b"[" * 50_000])
def test_raw_request_gives_a_body_that_is_not_strict_json_as_text(pack, body):
    service = Service(httpx.Response(200, content=body))
    response, code = run(pack, raw({"url": "/imports"}), service)
    assert code == 0
    assert response["result"]["encoding"] == "text"
    assert response["result"]["data"] == body.decode()


def test_a_service_error_nested_too_deep_is_the_services_http_error(pack):
    service = Service(httpx.Response(500, content=b'{"error":' * 50_000))
    request = {"id": 1, "action": "list_groups", "connection": user_connection()}
    response, code = run(pack, json.dumps(request), service)
    assert code == 1
    assert response["error"]["type"] == "http_error"
    assert response["error"]["status"] == 500


@pytest.mark.parametrize("header", ["inf", "1e20", "NaN", "-inf", "9" * 400])
def test_a_retry_after_that_is_not_a_number_of_seconds_is_no_defect(pack, header):
    service = Service(httpx.Response(429, headers={"Retry-After": header}, json={}))
    request = {"id": 1, "action": "list_groups", "connection": user_connection()}
    response, code = run(pack, json.dumps(request), service)
    assert code == 1
    assert response["error"]["type"] == "rate_limited"


# -- raw_request: headers and URLs that cannot travel ---------------------------------------


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Note": "a\r\nInjected: yes"}, "headers.X-Note"),
        ({"X-Note": "line\nbreak"}, "headers.X-Note"),
        ({"X-Note": "nul\x00"}, "headers.X-Note"),
        ({"X-Note": "caf\u00e9"}, "headers.X-Note"),
        ({"X-N\u00f6te": "ok"}, "headers.X-N\u00f6te"),
        ({"Bad Name": "ok"}, "headers.Bad Name"),
        ({"": "ok"}, "headers."),
    ],
)
def test_a_header_that_cannot_travel_is_invalid_input_and_nothing_is_sent(pack, headers, field):
    service = Service()
    response, code = run(pack, raw({"headers": headers}), service)
    assert code == 2
    assert response["error"]["type"] == "invalid_input"
    assert response["error"]["details"][0]["field"] == field
    assert "request_sent" not in response["error"]
    assert service.requests == []


@pytest.mark.parametrize("url", ["/imports\x00", "/imp\rorts", "/a\nb", "http://[::1/x"])
def test_a_url_with_control_characters_is_invalid_input_and_nothing_is_sent(pack, url):
    service = Service()
    response, code = run(pack, raw({"url": url}), service)
    assert code == 2
    assert response["error"]["type"] == "invalid_input"
    assert response["error"]["details"][0]["field"] == "url"
    assert service.requests == []
