"""Responses read through a pack's quirks: error code and message, refused tokens, throttling."""

from __future__ import annotations

import httpx
import pytest

from connectorkit.core._errors import AuthError, HttpError, RateLimited
from connectorkit.core._json import NOT_JSON, loads_service
from connectorkit.http._responses import error_for, parse_body, service_error, token_refused
from connectorkit.pack._definitions import Quirks, RefusalDef

POWER_BI = Quirks(
    token_refused=(RefusalDef(401), RefusalDef(403, "TokenExpired")),
    error_code=("error.code", "error"),
    error_message=("error.message", "Message", "error_description"),
)
URL = "https://api.example.test/v1.0/myorg/groups"


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", URL)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"error": {"code": "ItemNotFound", "message": "no such dataset"}}, "ItemNotFound",
         "no such dataset"),
        ({"Message": "Authorization has been denied for this request."}, None,
         "Authorization has been denied for this request."),
        ({"error": "invalid_grant", "error_description": "AADSTS70000"}, "invalid_grant",
         "AADSTS70000"),
        ({"error": {"code": 42}}, "42", None),
        ({"error": {"code": True}}, None, None),
        ([1, 2], None, None),
        ("not an object", None, None),
    ],
)  # fmt: skip
def test_the_packs_paths_find_code_and_message(body, code, message):
    assert service_error(answer(400, body), POWER_BI) == (code, message)


def test_without_quirks_only_oauths_body_is_read():
    nested = answer(400, {"error": {"code": "ItemNotFound", "message": "no"}})
    assert service_error(nested, Quirks()) == (None, None)
    oauth = answer(400, {"error": "invalid_grant", "error_description": "expired"})
    assert service_error(oauth, Quirks()) == ("invalid_grant", "expired")


def test_a_401_with_a_message_body_is_an_auth_error_that_says_it():
    error = error_for(answer(401, {"Message": "Authorization has been denied"}), POWER_BI)
    assert isinstance(error, AuthError)
    assert error.status == 401
    assert "Authorization has been denied" in error.message


def test_token_refusals_match_status_and_code():
    expired = answer(403, {"error": {"code": "TokenExpired"}})
    forbidden = answer(403, {"error": {"code": "PowerBINotAuthorizedException"}})
    assert token_refused(answer(401), POWER_BI)
    assert token_refused(expired, POWER_BI)
    assert not token_refused(forbidden, POWER_BI)
    assert not token_refused(expired, Quirks())
    assert isinstance(error_for(expired, POWER_BI), AuthError)
    assert type(error_for(forbidden, POWER_BI)) is HttpError


def test_throttling_statuses_come_from_the_pack():
    busy = answer(503, {"error": {"code": "ServiceBusy"}}, **{"Retry-After": "7"})
    plain = error_for(busy, POWER_BI)
    assert type(plain) is HttpError
    assert plain.retry_after == 7.0  # kept for the retry policy, not shown in the envelope
    assert "retry_after" not in plain.to_dict()
    throttling = Quirks(throttled=frozenset({429, 503}))
    limited = error_for(busy, throttling)
    assert isinstance(limited, RateLimited)
    assert limited.to_dict() == {
        "type": "rate_limited",
        "message": "the service answered 503 Service Unavailable",
        "status": 503,
        "retry_after": 7.0,
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"value":[{"id":"a","n":1.5}]}', {"value": [{"id": "a", "n": 1.5}]}),
        (b"123456789012345678901234567890", 123456789012345678901234567890),  # exact, no float
        (b'\xef\xbb\xbf{"a":1}', {"a": 1}),  # a byte order mark, as before
        (b'{"a":NaN}', '{"a":NaN}'),  # not strict JSON: the text
        (b'{"a":1e400}', '{"a":1e400}'),
        (b'{"a":"\\ud800"}', '{"a":"\\ud800"}'),
        (b"<html>busy</html>", "<html>busy</html>"),
        (b"", None),
    ],
)
def test_a_body_is_strict_json_or_text(content, expected):
    response = httpx.Response(200, content=content)
    body = parse_body(response)
    assert body == expected
    assert type(body) is type(expected)
    strict = loads_service(content) if content else NOT_JSON  # the strict reading agrees
    assert body == (None if not content else response.text if strict is NOT_JSON else strict)
