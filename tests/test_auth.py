"""The auth flow: bearer tokens, proactive and reactive refresh, service principals, caching."""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import msgspec
import pytest

import connectorkit.auth._flow as auth_module
from certificates import JWT_BEARER, make_certificate
from conftest import ACCESS as PB_ACCESS
from conftest import BASE as PB_BASE
from conftest import REFRESH as PB_REFRESH
from conftest import FakeClock, assert_envelope, user_connection
from connectorkit._bind import BoundConnection
from connectorkit.auth._flow import ConnectionAuth, MemoryTokenStore
from connectorkit.call._send import transmit
from connectorkit.core import _errors
from connectorkit.core._errors import AuthError, InvalidConnection, NetworkError
from connectorkit.pack._definitions import (
    AssertionSourceDef,
    ClientAssertionDef,
    ConnectionDef,
    Quirks,
)
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

RUNTIME = Path(__file__).resolve().parent.parent / "runtime"
TOKEN_URL = "https://login.example.test/tenant-1/oauth2/v2.0/token"
API = "https://api.example.test/v1.0/myorg"
DATASETS = f"{API}/datasets"
USER_SCOPE = "https://analysis.windows.net/powerbi/api/Dataset.ReadWrite.All offline_access"
SP_SCOPE = "https://analysis.windows.net/powerbi/api/.default"
CLIENT_SECRET = "cs-SECRET-client-0001"
OLD_ACCESS = "at-SECRET-old-0002"
OLD_REFRESH = "rt-SECRET-old-0003"
NEW_ACCESS = "at-SECRET-new-0004"
NEW_REFRESH = "rt-SECRET-new-0005"
FEDERATED = "eyJhbGciOiJSUzI1NiJ9.federated-SECRET-0006.signature"
SECRETS = (CLIENT_SECRET, OLD_ACCESS, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH, FEDERATED)
NOW = 1_750_000_000
# The Power BI pack's quirks (a 403 TokenExpired also refuses a token).
QUIRKS = load_pack().quirks


def connection(
    grant="authorization_code",
    token=None,
    method="client_secret_post",
    refresh_scope="configured",  # the Power BI pack's choice; see test_refresh_scope_*
    **values,
):
    definition = ConnectionDef(
        key="oauth2" if grant == "authorization_code" else "client_credentials",
        label="Connection",
        description="",
        grant=grant,
        token_endpoint_auth_method=method,
        values=(),
        file=Path("connections/x.yaml"),
        refresh_scope=refresh_scope,
    )
    merged = {
        "client_id": "app-id-1",
        "client_secret": CLIENT_SECRET,
        "token_url": TOKEN_URL,
        "scopes": USER_SCOPE if grant == "authorization_code" else SP_SCOPE,
        "base_url": API,
        "token_leeway": 60,
        **values,
    }
    given = token if isinstance(token, dict) else {}
    secrets = {CLIENT_SECRET} | {str(v) for k, v in given.items() if "token" in k}
    return BoundConnection(
        definition=definition,
        values=merged,
        token=token,
        secrets=frozenset(secrets),
        quirks=QUIRKS,
    )


def user_token(expires_in=3600, refresh=OLD_REFRESH, access=OLD_ACCESS):
    token = {"access_token": access, "expires_at": NOW + expires_in, "token_type": "Bearer"}
    if refresh:
        token["refresh_token"] = refresh
    return token


def form(request):
    return dict(parse_qsl(request.content.decode(), strict_parsing=True))


def bearer(request):
    return request.headers["Authorization"].removeprefix("Bearer ")


def api_sequence(httpx_mock, *responses):
    """Serve ``responses`` in order at DATASETS; return the bearer tokens as they were sent.

    (A retry re-sends the same request object with a new header, so a recorded request shows
    only its last header.)
    """
    sent = []
    pending = list(responses)

    def serve(request):
        sent.append(bearer(request))
        return pending.pop(0)

    httpx_mock.add_callback(serve, url=DATASETS, is_reusable=True)
    return sent


def token_response(access=NEW_ACCESS, refresh=NEW_REFRESH, expires_in=3600):
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    return body


@pytest.fixture(autouse=True)
def _no_secret_in_output(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in caplog.text
        assert secret not in out + err


@pytest.fixture
def clock():
    return FakeClock(NOW)


@pytest.fixture
def store(clock):
    return MemoryTokenStore(clock=clock)


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def call(http, store, conn, *, url=DATASETS, remaining=lambda: 30.0):
    # Through the sender's one-request layer, which names a request of the flow that got no
    # answer (the call's own, or a token request the flow yielded).
    flow = ConnectionAuth(conn, http, store, remaining=remaining)
    try:
        response = transmit(http, http.build_request("GET", url), flow)
    except _errors.ConnectorError as exc:
        exc.auth = flow  # type: ignore[attr-defined]
        raise
    return response, flow


def test_a_valid_token_is_sent_as_is(httpx_mock, http, store):
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    response, flow = call(http, store, connection(token=user_token()))
    assert response.status_code == 200
    assert bearer(httpx_mock.get_request()) == OLD_ACCESS
    assert flow.new_token is None


def test_a_token_within_the_leeway_is_refreshed_before_the_request(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    _, flow = call(http, store, connection(token=user_token(expires_in=30)))

    refresh, api = httpx_mock.get_requests()
    assert form(refresh) == {
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
        "scope": USER_SCOPE,
        "client_id": "app-id-1",
        "client_secret": CLIENT_SECRET,
    }
    assert bearer(api) == NEW_ACCESS
    assert flow.new_token == {
        "access_token": NEW_ACCESS,
        "refresh_token": NEW_REFRESH,
        "expires_at": NOW + 3600,
        "token_type": "Bearer",
        "scope": USER_SCOPE,
    }
    assert {NEW_ACCESS, NEW_REFRESH, CLIENT_SECRET} <= flow.secrets


def test_the_leeway_is_a_connection_value(httpx_mock, http, store):
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    _, flow = call(http, store, connection(token=user_token(expires_in=30), token_leeway=0))
    assert bearer(httpx_mock.get_request()) == OLD_ACCESS
    assert flow.new_token is None


def test_an_expired_token_is_refreshed_with_basic_client_auth(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    call(http, store, connection(token=user_token(expires_in=-10), method="client_secret_basic"))
    refresh = httpx_mock.get_requests()[0]
    assert refresh.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in form(refresh)


def test_without_rotation_the_old_refresh_token_is_kept(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    _, flow = call(http, store, connection(token=user_token(expires_in=0)))
    assert flow.new_token["access_token"] == NEW_ACCESS
    assert flow.new_token["refresh_token"] == OLD_REFRESH


def test_a_401_triggers_one_refresh_and_one_retry(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    sent = api_sequence(httpx_mock, httpx.Response(401), httpx.Response(200, json={"value": [1]}))
    response, flow = call(http, store, connection(token=user_token()))

    assert response.json() == {"value": [1]}
    assert sent == [OLD_ACCESS, NEW_ACCESS]
    assert form(httpx_mock.get_request(url=TOKEN_URL))["refresh_token"] == OLD_REFRESH
    assert flow.new_token["refresh_token"] == NEW_REFRESH


def test_a_second_401_is_an_auth_error_and_the_new_token_is_still_reported(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    sent = api_sequence(
        httpx_mock, httpx.Response(401), httpx.Response(401, json={"error": {"code": "Nope"}})
    )
    with pytest.raises(AuthError) as caught:
        call(http, store, connection(token=user_token()))

    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert sent == [OLD_ACCESS, NEW_ACCESS]
    assert caught.value.to_dict()["status"] == 401
    assert caught.value.to_dict()["code"] == "Nope"
    assert caught.value.auth.new_token["access_token"] == NEW_ACCESS


def test_power_bi_403_token_expired_triggers_a_refresh(httpx_mock, http, store):
    expired = {"error": {"code": "TokenExpired", "message": "Access token has expired"}}
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    sent = api_sequence(
        httpx_mock, httpx.Response(403, json=expired), httpx.Response(200, json={"value": []})
    )
    response, _ = call(http, store, connection(token=user_token()))
    assert response.status_code == 200
    assert sent == [OLD_ACCESS, NEW_ACCESS]


def test_a_403_token_expired_after_the_refresh_is_an_auth_error(httpx_mock, http, store):
    expired = {"error": {"code": "TokenExpired"}}
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    api_sequence(httpx_mock, httpx.Response(403, json=expired), httpx.Response(403, json=expired))
    with pytest.raises(AuthError, match="TokenExpired") as caught:
        call(http, store, connection(token=user_token()))
    assert caught.value.to_dict()["status"] == 403


def test_403_token_expired_means_nothing_without_the_packs_quirks(httpx_mock, http, store):
    # The generic runtime knows only the standard: a 401 refuses a token, a 403 is the caller's.
    expired = {"error": {"code": "TokenExpired"}}
    httpx_mock.add_response(url=DATASETS, status_code=403, json=expired)
    plain = msgspec.structs.replace(connection(token=user_token()), quirks=Quirks())
    response, flow = call(http, store, plain)
    assert response.status_code == 403
    assert flow.new_token is None
    assert httpx_mock.get_requests(url=TOKEN_URL) == []


def test_other_403s_are_left_to_the_caller(httpx_mock, http, store):
    forbidden = {"error": {"code": "PowerBINotAuthorizedException"}}
    httpx_mock.add_response(url=DATASETS, status_code=403, json=forbidden)
    response, flow = call(http, store, connection(token=user_token()))
    assert response.status_code == 403
    assert flow.new_token is None


def test_an_expired_token_without_refresh_token_asks_to_sign_in_again(http, store):
    with pytest.raises(InvalidConnection, match="connectorkit auth login") as caught:
        call(http, store, connection(token=user_token(expires_in=-1, refresh=None)))
    assert caught.value.type == "invalid_connection"


def test_a_401_without_refresh_token_is_an_auth_error(httpx_mock, http, store):
    httpx_mock.add_response(url=DATASETS, status_code=401)
    with pytest.raises(AuthError, match="connectorkit auth login"):
        call(http, store, connection(token=user_token(refresh=None)))


def test_an_authorization_code_connection_without_token_is_invalid(http, store):
    with pytest.raises(InvalidConnection, match="connectorkit auth login") as caught:
        ConnectionAuth(connection(token=None), http, store, remaining=lambda: None)
    assert caught.value.details == [{"field": "connection.token", "message": "is missing"}]


@pytest.mark.parametrize(
    ("token", "field", "message"),
    [
        (
            "a-string",
            "connection.token",
            "must be an object with access_token (from `connectorkit auth login`)",
        ),
        (
            {"refresh_token": OLD_REFRESH},
            "connection.token.access_token",
            "must be a non-empty string",
        ),
        (
            {"access_token": OLD_ACCESS, "expires_at": "tomorrow"},
            "connection.token.expires_at",
            "must be a number of seconds since the epoch",
        ),
        (
            {"access_token": OLD_ACCESS, "refresh_token": 5},
            "connection.token.refresh_token",
            "must be a string",
        ),
    ],
)
def test_a_malformed_token_is_invalid_without_echoing_it(http, store, token, field, message):
    with pytest.raises(InvalidConnection) as caught:
        ConnectionAuth(connection(token=token), http, store, remaining=lambda: None)
    assert caught.value.details == [{"field": field, "message": message}]
    for secret in SECRETS:
        assert secret not in json.dumps(caught.value.to_dict())


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"token_url": None}, "token_url", "is missing"),
        ({"token_url": "login.example.test/token"}, "token_url", "must be an http(s) URL"),
        ({"token_url": "https:///tenant-1/token"}, "token_url", "must be an http(s) URL"),
        ({"token_url": "ftp://login.example.test/token"}, "token_url", "must be an http(s) URL"),
        ({"client_id": ""}, "client_id", "is missing"),
        ({"client_id": 5}, "client_id", "must be a string"),
        ({"scopes": ["a", "b"]}, "scopes", "must be a string"),
        ({"token_leeway": -5}, "token_leeway", "must be >= 0"),
        ({"token_leeway": "60"}, "token_leeway", "must be >= 0"),
    ],
)
def test_missing_or_malformed_values_are_invalid(http, store, values, field, message):
    with pytest.raises(InvalidConnection) as caught:
        ConnectionAuth(
            connection(token=user_token(), **values), http, store, remaining=lambda: None
        )
    assert caught.value.details == [{"field": f"connection.values.{field}", "message": message}]


@pytest.mark.parametrize("secret", [None, ""])
def test_a_service_principal_without_its_secret_is_invalid(http, store, secret):
    conn = connection(grant="client_credentials", client_secret=secret)
    with pytest.raises(InvalidConnection) as caught:
        ConnectionAuth(conn, http, store, remaining=lambda: None)
    assert caught.value.details == [
        {"field": "connection.values.client_secret", "message": "is missing"}
    ]


def test_an_expired_token_without_a_refresh_token_names_the_missing_field(http, store):
    with pytest.raises(InvalidConnection, match="connectorkit auth login") as caught:
        call(http, store, connection(token=user_token(expires_in=-10, refresh=None)))
    assert caught.value.details == [
        {"field": "connection.token.refresh_token", "message": "is missing"}
    ]


def test_a_refused_refresh_is_an_auth_error_with_the_oauth_error(httpx_mock, http, store):
    httpx_mock.add_response(
        url=TOKEN_URL,
        status_code=400,
        json={"error": "invalid_grant", "error_description": "AADSTS70008: expired"},
    )
    with pytest.raises(AuthError) as caught:
        call(http, store, connection(token=user_token(expires_in=0)))
    error = caught.value.to_dict()
    assert error["oauth_error"] == "invalid_grant"
    assert error["oauth_error_description"] == "AADSTS70008: expired"
    assert not httpx_mock.get_requests(url=DATASETS)


def test_an_unreachable_token_endpoint_is_a_network_error(httpx_mock, http, store):
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=TOKEN_URL)
    with pytest.raises(NetworkError):
        call(http, store, connection(token=user_token(expires_in=0)))


def test_an_exhausted_budget_stops_the_refresh(http, store):
    def remaining():
        raise _errors.TimeoutError("the call's time budget ran out")

    with pytest.raises(_errors.TimeoutError):
        call(http, store, connection(token=user_token(expires_in=0)), remaining=remaining)


def test_the_refresh_request_gets_the_remaining_budget_as_timeout(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={})
    call(http, store, connection(token=user_token(expires_in=0)), remaining=lambda: 4.5)
    assert httpx_mock.get_request(url=TOKEN_URL).extensions["timeout"]["read"] == 4.5


def test_a_later_call_with_the_spent_token_gets_the_refreshed_one(httpx_mock, http, store):
    # serve: the platform has not stored the rotated token yet and sends the old one again.
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    call(http, store, connection(token=user_token(expires_in=0)))
    _, flow = call(http, store, connection(token=user_token(expires_in=0)))

    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert bearer(httpx_mock.get_requests(url=DATASETS)[1]) == NEW_ACCESS
    assert flow.new_token["refresh_token"] == NEW_REFRESH


def test_a_rotated_chain_refreshes_with_the_newest_refresh_token(httpx_mock, http, store, clock):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-3", "rt-3"))
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    call(http, store, connection(token=user_token(expires_in=0)))
    clock.now += 4000  # the refreshed token has expired as well
    _, flow = call(http, store, connection(token=user_token(expires_in=0)))

    second = httpx_mock.get_requests(url=TOKEN_URL)[1]
    assert form(second)["refresh_token"] == NEW_REFRESH
    assert flow.new_token["access_token"] == "at-3"


def test_concurrent_calls_with_the_same_expired_token_refresh_once(httpx_mock, http, store):
    def slow_token_endpoint(request):
        time.sleep(0.2)
        return httpx.Response(200, json=token_response())

    httpx_mock.add_callback(slow_token_endpoint, url=TOKEN_URL)
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    flows, errors = [], []

    def worker():
        try:
            flows.append(call(http, store, connection(token=user_token(expires_in=0)))[1])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert {bearer(r) for r in httpx_mock.get_requests(url=DATASETS)} == {NEW_ACCESS}
    assert all(f.new_token["refresh_token"] == NEW_REFRESH for f in flows)


def test_concurrent_401s_on_one_token_refresh_once(httpx_mock, http, store):
    def api(request):
        if bearer(request) == OLD_ACCESS:
            return httpx.Response(401)
        return httpx.Response(200, json={})

    def slow_token_endpoint(request):
        time.sleep(0.2)
        return httpx.Response(200, json=token_response())

    httpx_mock.add_callback(slow_token_endpoint, url=TOKEN_URL)
    httpx_mock.add_callback(api, url=DATASETS, is_reusable=True)
    statuses = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(call(http, store, connection(token=user_token()))[0])
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in statuses] == [200] * 6
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1


def sp(**values):
    return connection(grant="client_credentials", **values)


def test_a_service_principal_fetches_caches_and_refetches(httpx_mock, http, store, clock):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None, expires_in=3599))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-2", refresh=None))
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)

    _, first = call(http, store, sp())
    assert form(httpx_mock.get_request(url=TOKEN_URL)) == {
        "grant_type": "client_credentials",
        "scope": SP_SCOPE,
        "client_id": "app-id-1",
        "client_secret": CLIENT_SECRET,
    }
    assert first.new_token == {
        "access_token": NEW_ACCESS,
        "expires_at": NOW + 3599,
        "token_type": "Bearer",
        "scope": SP_SCOPE,
    }

    _, second = call(http, store, sp())  # cached: no token request, nothing new to report
    assert second.new_token is None
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1

    clock.now += 3599 - 30  # within the leeway
    _, third = call(http, store, sp())
    assert third.new_token["access_token"] == "at-2"
    assert [bearer(r) for r in httpx_mock.get_requests(url=DATASETS)] == [
        NEW_ACCESS,
        NEW_ACCESS,
        "at-2",
    ]


@pytest.mark.parametrize(
    "other",
    [{"client_secret": "another-secret"}, {"scopes": "https://storage.example.test/.default"}],
)
def test_service_principals_with_another_secret_or_scope_do_not_share_a_token(
    httpx_mock, http, store, other
):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-2", refresh=None))
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    call(http, store, sp())
    call(http, store, sp(**other))
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 2
    assert [bearer(r) for r in httpx_mock.get_requests(url=DATASETS)] == [NEW_ACCESS, "at-2"]


def test_a_service_principal_refetches_once_on_401(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-2", refresh=None))
    sent = api_sequence(httpx_mock, httpx.Response(401), httpx.Response(200, json={}))
    response, flow = call(http, store, sp())
    assert response.status_code == 200
    assert sent == [NEW_ACCESS, "at-2"]
    assert flow.new_token["access_token"] == "at-2"


class _Offline(httpx.BaseTransport):
    """A transport that fails the test if anything is sent through it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the flow sent {request.method} {request.url} on its own")


def test_the_flow_yields_its_token_request_instead_of_sending_it(store):
    # Driven by hand, as httpx drives it: the token request is one of the flow's requests, and
    # the flow sends nothing itself (its client here cannot send anything).
    with httpx.Client(transport=_Offline()) as offline:
        flow = ConnectionAuth(
            connection(token=user_token(expires_in=0)), offline, store, remaining=lambda: 7.5
        )
        api = httpx.Request("GET", DATASETS)
        steps = flow.sync_auth_flow(api)

        token_request = next(steps)
        assert (token_request.method, str(token_request.url)) == ("POST", TOKEN_URL)
        assert form(token_request)["refresh_token"] == OLD_REFRESH
        assert token_request.extensions["timeout"]["read"] == 7.5
        answer = httpx.Response(200, json=token_response(), request=token_request)
        assert steps.send(answer) is api
        assert bearer(api) == NEW_ACCESS
        with pytest.raises(StopIteration):
            steps.send(httpx.Response(200, json={}, request=api))
    assert flow.new_token["refresh_token"] == NEW_REFRESH


def test_the_token_request_goes_through_the_clients_hooks_and_history(httpx_mock, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    seen = []
    hooks = {"request": [lambda request: seen.append((request.method, str(request.url)))]}
    with httpx.Client(event_hooks=hooks) as client:
        response, _ = call(client, store, connection(token=user_token(expires_in=0)))
    assert seen == [("POST", TOKEN_URL), ("GET", DATASETS)]
    assert [str(r.request.url) for r in response.history] == [TOKEN_URL]
    assert response.json() == {"value": []}


def test_the_token_request_carries_no_cookie_of_another_response(httpx_mock, store):
    # serve shares one client between connections: a cookie some response set stays out of
    # the token requests, as it stays out of the calls' own requests.
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=DATASETS, json={})
    with httpx.Client(cookies={"fpc": "from-another-tenant"}) as client:
        call(client, store, sp())
    token_request = httpx_mock.get_request(url=TOKEN_URL)
    assert "cookie" not in token_request.headers
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("failure", "error", "said"),
    [
        (httpx.ConnectError(f"refused {CLIENT_SECRET}"), NetworkError, "could not be reached"),
        (httpx.ReadTimeout("slow"), _errors.TimeoutError, "did not answer in time"),
    ],
)
def test_a_token_request_without_answer_is_the_token_endpoints_error_and_frees_the_lease(
    httpx_mock, http, store, failure, error, said
):
    httpx_mock.add_exception(failure, url=TOKEN_URL)
    with pytest.raises(error) as caught:
        call(http, store, sp())
    message = caught.value.to_dict()["message"]
    assert message.startswith(f"the token endpoint (login.example.test) {said}")
    assert CLIENT_SECRET not in json.dumps(caught.value.to_dict())
    assert caught.value.request_sent is None  # the call's own request never left
    assert not httpx_mock.get_requests(url=DATASETS)

    # httpx closed the flow, which let the lease go: the next call renews at once (the store's
    # lease is not re-entrant, so a leaked one would make it wait out its budget).
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=DATASETS, json={})
    response, flow = call(http, store, sp(), remaining=lambda: 0.2)
    assert response.status_code == 200
    assert flow.new_token["access_token"] == NEW_ACCESS


def test_a_service_principal_needs_a_secret(http, store):
    with pytest.raises(InvalidConnection, match="client_secret"):
        ConnectionAuth(sp(client_secret=None), http, store, remaining=lambda: None)


def test_concurrent_service_principal_calls_fetch_once(httpx_mock, http, store):
    def slow_token_endpoint(request):
        time.sleep(0.2)
        return httpx.Response(200, json=token_response(refresh=None))

    httpx_mock.add_callback(slow_token_endpoint, url=TOKEN_URL)
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    threads = [threading.Thread(target=call, args=(http, store, sp())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert len(httpx_mock.get_requests(url=DATASETS)) == 8


def test_a_waiter_gives_up_when_its_budget_runs_out(httpx_mock, http, store):
    release, reached = threading.Event(), threading.Event()

    def blocked_token_endpoint(request):
        reached.set()
        release.wait(5)
        return httpx.Response(200, json=token_response(refresh=None))

    httpx_mock.add_callback(blocked_token_endpoint, url=TOKEN_URL)
    httpx_mock.add_response(url=DATASETS, json={})
    first = threading.Thread(target=call, args=(http, store, sp()))
    first.start()
    assert reached.wait(5)  # the first call holds the renewal, waiting for its answer
    with pytest.raises(_errors.TimeoutError):
        call(http, store, sp(), remaining=lambda: 0.05)
    release.set()
    first.join()


def test_the_store_keeps_digests_not_secrets(httpx_mock, http, store):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={})
    call(http, store, connection(token=user_token(expires_in=0)))
    assert len(store) == 2  # the old and the new refresh token lead to the same token
    for key in store._slots:
        assert all(secret not in key for secret in SECRETS)
    store.clear()
    assert len(store) == 0


def test_the_store_is_bounded():
    small = MemoryTokenStore(max_entries=2)
    for key in "abc":
        small.put(key, {"access_token": key})
    assert list(small._slots) == ["b", "c"]


def test_importing_the_auth_flow_does_not_import_authlib():
    code = "import sys, connectorkit.auth._flow; print('authlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(RUNTIME)},
    )
    assert out.stdout.strip() == "False"


def test_all_is_complete():
    public = {n for n in vars(auth_module) if not n.startswith("_")}
    defined_here = {
        n
        for n in public
        if getattr(getattr(auth_module, n), "__module__", None) == auth_module.__name__
    }
    assert defined_here <= set(auth_module.__all__)


@pytest.mark.parametrize("leeway", [60, None], ids=["given", "a-pack-without-token_leeway"])
@pytest.mark.parametrize(("expires_in", "renewed"), [(61, False), (60, True)])
def test_a_token_is_renewed_from_a_minute_before_it_expires(
    httpx_mock, http, store, expires_in, renewed, leeway
):
    # 60 s is the packs' default of token_leeway, and the runtime's when a pack declares none.
    if renewed:
        httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={"value": []})
    conn = connection(token=user_token(expires_in=expires_in), token_leeway=leeway)
    _, flow = call(http, store, conn)
    assert bearer(httpx_mock.get_requests()[-1]) == (NEW_ACCESS if renewed else OLD_ACCESS)
    assert (flow.new_token is not None) is renewed


@pytest.mark.parametrize(("remaining", "timeout"), [(30.0, 8.0), (5.0, 5.0)])
def test_a_token_request_answers_well_inside_the_shared_stores_lease(
    httpx_mock, http, clock, remaining, timeout
):
    # With a store shared by workers, the lease on the token lasts 10 s: the token request
    # must end within 80 % of it, or another worker could spend the same refresh token.
    from cryptography.fernet import Fernet  # noqa: PLC0415

    from connectorkit.state import Sealer, State, StoreTokens  # noqa: PLC0415
    from connectorkit.state._memory import MemoryStore  # noqa: PLC0415

    key = Fernet.generate_key().decode()
    state = State(MemoryStore(clock=clock), Sealer([key], source="test"))
    shared = StoreTokens(state, lease_ttl_s=10.0, clock=clock)
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={})
    conn = connection(token=user_token(expires_in=0))
    call(http, shared, conn, remaining=lambda: remaining)
    assert httpx_mock.get_request(url=TOKEN_URL).extensions["timeout"]["read"] == timeout


@pytest.mark.parametrize(
    ("kind", "values", "says"),
    [
        (
            "none",
            {},
            (
                "the service refused the request (HTTP 401: Sign in first): it needs credentials, "
                "and connection 'none-conn' sends none"
            ),
        ),
        (
            "bearer",
            {"token": "tk-SECRET-static-0006"},
            (
                "the service refused the connection's token (HTTP 401 (Unauthorized)); check the "
                "connection's values"
            ),
        ),
    ],
)
def test_a_refused_credential_that_cannot_be_renewed_is_an_auth_error_saying_what_to_check(
    httpx_mock, http, store, kind, values, says
):
    from connectorkit.auth._none import NoAuth  # noqa: PLC0415
    from connectorkit.auth._static import StaticAuth  # noqa: PLC0415

    refusal = {"error": {"code": "Unauthorized", "message": "Sign in first"}}
    httpx_mock.add_response(url=DATASETS, status_code=401, json=refusal)
    definition = ConnectionDef(
        key=f"{kind}-conn",
        label="Connection",
        description="",
        grant=None,
        token_endpoint_auth_method="client_secret_post",
        values=(),
        file=Path("connections/x.yaml"),
        type=kind,
    )
    conn = BoundConnection(
        definition=definition,
        values={"base_url": API, **values},
        token=None,
        secrets=frozenset(values.values()),
        quirks=QUIRKS,
    )
    flow = (NoAuth if kind == "none" else StaticAuth)(conn, http, store, remaining=lambda: 30.0)
    with pytest.raises(AuthError) as caught:
        transmit(http, http.build_request("GET", DATASETS), flow)
    assert str(caught.value) == says
    assert caught.value.to_dict()["status"] == 401
    assert caught.value.to_dict()["code"] == "Unauthorized"


@pytest.mark.parametrize(
    ("policy", "scope"),
    [("omit", None), ("granted", "Dataset.Read.All"), ("configured", USER_SCOPE)],
)
def test_refresh_scope_names_the_scope_a_refresh_asks_for(httpx_mock, http, store, policy, scope):
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={})
    token = {**user_token(expires_in=0), "scope": "Dataset.Read.All"}  # what was granted
    call(http, store, connection(token=token, refresh_scope=policy))
    assert form(httpx_mock.get_request(url=TOKEN_URL)).get("scope") == scope


def rotations(httpx_mock, count):
    """The token endpoint's next ``count`` answers: at-1 with rt-1, at-2 with rt-2, ..."""
    for n in range(1, count + 1):
        httpx_mock.add_response(url=TOKEN_URL, json=token_response(f"at-{n}", f"rt-{n}"))


def test_a_caller_that_keeps_sending_its_first_token_renews_with_the_newest_each_time(
    httpx_mock, http, store, clock
):
    # A platform that never stores the rotated token sends the first one on every call: each
    # renewal spends the newest refresh token, however many renewals ago the first one was.
    rotations(httpx_mock, 12)
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    for _ in range(12):
        _, flow = call(http, store, connection(token=user_token(expires_in=0)))
        clock.now += 4000  # the renewed token has expired by the next call
    spent = [form(r)["refresh_token"] for r in httpx_mock.get_requests(url=TOKEN_URL)]
    assert spent == [OLD_REFRESH] + [f"rt-{n}" for n in range(1, 12)]
    sent = [bearer(r) for r in httpx_mock.get_requests(url=DATASETS)]
    assert sent == [f"at-{n}" for n in range(1, 13)]
    assert flow.new_token["refresh_token"] == "rt-12"


@pytest.mark.parametrize(("renewals", "followed"), [(8, True), (9, False)])
def test_a_refresh_token_is_followed_through_eight_rotations_at_most(
    httpx_mock, http, store, clock, renewals, followed
):
    # Every call sends the token the one before it got (the platform stores each rotated
    # token), until a caller that still holds the first one comes back: its refresh token
    # leads to the newest token through every rotation since. Eight are followed; a longer
    # chain asks to sign in again rather than walk the store without end.
    rotations(httpx_mock, renewals)
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    token = user_token(expires_in=0)
    for _ in range(renewals):
        clock.now += 4000  # the token of the call before has expired
        token = call(http, store, connection(token=token))[1].new_token
    assert token["access_token"] == f"at-{renewals}"

    first = connection(token=user_token(expires_in=0))
    if followed:
        _, flow = call(http, store, first)
        assert bearer(httpx_mock.get_requests(url=DATASETS)[-1]) == f"at-{renewals}"
        assert flow.new_token == token
    else:
        with pytest.raises(AuthError, match="rotated too many times") as caught:
            call(http, store, first)
        assert "connectorkit auth login" in str(caught.value)
        assert len(httpx_mock.get_requests(url=DATASETS)) == renewals
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == renewals


class _RenewedWhileWaiting(MemoryTokenStore):
    """A store in which another worker files its new token while this call waits for the lease."""

    def __init__(self, clock, token):
        super().__init__(clock=clock)
        self._theirs = token

    @contextmanager
    def lease(self, key, *, wait):
        with super().lease(key, wait=wait) as held:
            if self._theirs is not None:
                self.put(key, self._theirs)
                self._theirs = None
            yield held


def test_a_service_principal_token_another_worker_fetched_meanwhile_is_used_not_reported(
    httpx_mock, http, clock
):
    # The call found no token, waited for the lease, and then found the one another worker
    # fetched: it sends that token, asks for none, and reports none as its own new token.
    theirs = {"access_token": "at-theirs", "expires_at": NOW + 3600, "token_type": "Bearer"}
    httpx_mock.add_response(url=DATASETS, json={})
    _, flow = call(http, _RenewedWhileWaiting(clock, theirs), sp())
    assert bearer(httpx_mock.get_request(url=DATASETS)) == "at-theirs"
    assert httpx_mock.get_requests(url=TOKEN_URL) == []
    assert flow.new_token is None


PB_TOKEN_URL = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
EVENTS = f"{PB_BASE}/admin/activityevents"


@pytest.mark.parametrize("why", ["expired", "refused"])
def test_a_paged_call_renews_the_token_once_and_sends_the_new_one_for_every_page(
    pack, runner, httpx_mock, why
):
    # The first page finds the caller's token expired (renewed before it is sent) or refused
    # by the service (renewed on the 401): either way the token is renewed once, and every
    # later page of the call carries the renewed token. Sending the old one again would be
    # refused again, and renewing again would spend a rotated refresh token twice.
    sent = []

    def events(request):
        sent.append(bearer(request))
        if bearer(request) == PB_ACCESS:
            return httpx.Response(401, json={"error": {"code": "TokenExpired"}})
        page = int(request.url.params.get("page", "1"))
        return httpx.Response(
            200,
            json={
                "activityEventEntities": [{"page": page}],
                "continuationUri": f"{EVENTS}?page={page + 1}" if page < 3 else None,
                "lastResultSet": page == 3,
            },
        )

    httpx_mock.add_callback(events, url=re.compile(re.escape(EVENTS)), is_reusable=True)
    httpx_mock.add_response(url=PB_TOKEN_URL, json=token_response())
    token = {"expires_at": NOW - 10} if why == "expired" else {}
    body = {"action": "list_activity_events", "connection": user_connection(**token)}
    response, code = respond(pack, runner, json.dumps(body))

    assert_envelope(response)
    assert (code, response["ok"]) == (0, True), response
    assert response["result"]["activityEventEntities"] == [{"page": n} for n in (1, 2, 3)]
    assert sent == ([PB_ACCESS] if why == "refused" else []) + [NEW_ACCESS] * 3
    [renewal] = httpx_mock.get_requests(url=PB_TOKEN_URL)
    assert form(renewal)["refresh_token"] == PB_REFRESH
    assert response["token"]["refresh_token"] == NEW_REFRESH


def test_a_connection_bound_once_serves_every_call_that_uses_it(httpx_mock, http, store, clock):
    # serve binds a connection once for all its calls: the second call reads its client and
    # leeway from the first's checks, and renews with them as the first did.
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-3", "rt-3"))
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    bound = connection(token=user_token(expires_in=0))
    call(http, store, bound)
    clock.now += 4000
    _, flow = call(http, store, bound)
    spent = [form(r)["refresh_token"] for r in httpx_mock.get_requests(url=TOKEN_URL)]
    assert spent == [OLD_REFRESH, NEW_REFRESH]
    assert flow.new_token["access_token"] == "at-3"


def test_a_public_client_renews_with_its_client_id_alone(httpx_mock, http, store):
    # A user connection whose app has no secret (a public client, as `auth login` may use).
    httpx_mock.add_response(url=TOKEN_URL, json=token_response())
    httpx_mock.add_response(url=DATASETS, json={})
    call(http, store, connection(token=user_token(expires_in=0), client_secret=None))
    assert form(httpx_mock.get_request(url=TOKEN_URL)) == {
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
        "scope": USER_SCOPE,
        "client_id": "app-id-1",
    }


def jwt_header(assertion):
    head = assertion.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


@pytest.mark.parametrize("secret", [None, CLIENT_SECRET], ids=["no-secret", "a-secret-beside"])
def test_each_certificate_signs_its_token_request_and_gets_a_token_of_its_own(
    httpx_mock, http, store, secret
):
    # Two certificates of one app (the old and the new one, while rotating them): each signs
    # its own token request, which carries no secret even when a client_secret value is left
    # beside the certificate, and each is given a token of its own.
    old, new = make_certificate("app-id-1"), make_certificate("app-id-1")
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-2", refresh=None))
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    for certificate in (old, new):
        call(
            http,
            store,
            sp(method="private_key_jwt", client_secret=secret, certificate=certificate.pem),
        )
    forms = [form(r) for r in httpx_mock.get_requests(url=TOKEN_URL)]
    assert [sorted(f) for f in forms] == [
        ["client_assertion", "client_assertion_type", "client_id", "grant_type", "scope"]
    ] * 2
    assert {f["client_assertion_type"] for f in forms} == {JWT_BEARER}
    assert [jwt_header(f["client_assertion"])["x5t"] for f in forms] == [old.x5t, new.x5t]
    assert [bearer(r) for r in httpx_mock.get_requests(url=DATASETS)] == [NEW_ACCESS, "at-2"]


def test_a_federated_connection_presents_the_token_of_another_issuer(httpx_mock, http, store):
    federated = ClientAssertionDef(
        federated=(AssertionSourceDef(kind="value", source="{client_assertion}"),)
    )
    conn = sp(method="private_key_jwt", client_secret=None, client_assertion=FEDERATED)
    conn = msgspec.structs.replace(
        conn, definition=msgspec.structs.replace(conn.definition, client_assertion=federated)
    )
    httpx_mock.add_response(url=TOKEN_URL, json=token_response(refresh=None))
    httpx_mock.add_response(url=DATASETS, json={})
    call(http, store, conn)
    assert form(httpx_mock.get_request(url=TOKEN_URL)) == {
        "grant_type": "client_credentials",
        "scope": SP_SCOPE,
        "client_id": "app-id-1",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": FEDERATED,
    }
    assert bearer(httpx_mock.get_request(url=DATASETS)) == NEW_ACCESS


def test_a_renewal_through_a_rotation_whose_record_was_evicted_keeps_the_newest_refresh_token(
    httpx_mock, http, clock
):
    # A worker's bounded store (least recently used out) has kept "the first refresh token
    # became at-1/rt-1" but evicted rt-1's own record. A caller still sending the first token
    # renews with rt-1; the answer rotates nothing, so the new token keeps rt-1 (the one just
    # used), never the first refresh token, which rt-1 replaced.
    store = MemoryTokenStore(clock=clock, max_entries=3)
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-1", "rt-1"))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("sp-1", refresh=None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("sp-2", refresh=None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-3", refresh=None))
    httpx_mock.add_response(url=DATASETS, json={}, is_reusable=True)
    first = user_token(expires_in=0)
    call(http, store, connection(token=first))  # renewed: at-1 with rt-1
    call(http, store, connection(token=first))  # at-1 is still good: the first's record is read
    call(http, store, sp())  # two other connections' tokens evict rt-1's record
    call(http, store, sp(client_secret="another-secret"))
    clock.now += 4000  # at-1 has expired
    _, flow = call(http, store, connection(token=first))

    renewal = httpx_mock.get_requests(url=TOKEN_URL)[-1]
    assert form(renewal)["refresh_token"] == "rt-1"
    assert flow.new_token["access_token"] == "at-3"
    assert flow.new_token["refresh_token"] == "rt-1"


def test_a_refused_token_is_never_replaced_by_an_older_one_from_the_store(httpx_mock, http, store):
    # The store holds at-1, renewed from the caller's refresh token an hour ago. The caller
    # now sends at-2, which it got later elsewhere from the same refresh token; the service
    # refuses it. The retry does not fall back to the older at-1: the token is renewed.
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-1", refresh=None))
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-3", refresh=None))
    sent = api_sequence(
        httpx_mock,
        httpx.Response(200, json={}),
        httpx.Response(401),
        httpx.Response(200, json={}),
    )
    call(http, store, connection(token=user_token(expires_in=0)))
    later = user_token(expires_in=7200, access="at-2")
    _, flow = call(http, store, connection(token=later))
    assert sent == ["at-1", "at-2", "at-3"]
    assert form(httpx_mock.get_requests(url=TOKEN_URL)[1])["refresh_token"] == OLD_REFRESH
    assert flow.new_token["access_token"] == "at-3"


def test_a_refused_token_without_expiry_is_replaced_by_the_one_renewed_from_it(
    httpx_mock, http, store
):
    # A token without expires_at is taken as good until refused. When it is, the token the
    # store already holds for its refresh token is sent instead, with no token request.
    httpx_mock.add_response(url=TOKEN_URL, json=token_response("at-1", "rt-1"))
    sent = api_sequence(
        httpx_mock,
        httpx.Response(200, json={}),
        httpx.Response(401),
        httpx.Response(200, json={}),
    )
    call(http, store, connection(token=user_token(expires_in=0)))
    timeless = {"access_token": "at-0", "refresh_token": OLD_REFRESH}
    _, flow = call(http, store, connection(token=timeless))
    assert sent == ["at-1", "at-0", "at-1"]
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert flow.new_token["refresh_token"] == "rt-1"
