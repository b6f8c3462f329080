"""The token-endpoint protocol: authorize URLs, PKCE, token requests and their failures."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import string
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import msgspec
import pytest

from connectorkit.auth._oauth import (
    OAuthClient,
    authorization_url,
    fetch_token,
    new_pkce_pair,
    new_state,
)
from connectorkit.core import _errors
from connectorkit.core._errors import AuthError, HttpError, NetworkError, RateLimited
from connectorkit.pack._definitions import Quirks
from connectorkit.pack._load import load_pack

TOKEN_URL = "https://login.example.test/tenant-1/oauth2/v2.0/token"
AUTHORIZE_URL = "https://login.example.test/tenant-1/oauth2/v2.0/authorize"
SCOPE = "https://analysis.windows.net/powerbi/api/Dataset.ReadWrite.All offline_access"
CLIENT_SECRET = "cs~SECRET~value-0001"
CODE = "authcode-SECRET-0002"
VERIFIER = "verifier-SECRET-0003-verifier-SECRET-0003-verifier"
REFRESH = "rt-SECRET-old-0004"
NEW_ACCESS = "at-SECRET-new-0005"
NEW_REFRESH = "rt-SECRET-new-0006"
SECRETS = (CLIENT_SECRET, CODE, VERIFIER, REFRESH, NEW_ACCESS, NEW_REFRESH)
NOW = 1_750_000_000.0
REDIRECT = "http://127.0.0.1:53682/callback"


def client(auth_method="client_secret_post", secret=CLIENT_SECRET, scope=SCOPE):
    return OAuthClient(
        token_url=TOKEN_URL,
        client_id="app-id-1",
        client_secret=secret,
        scope=scope,
        auth_method=auth_method,
    )


def form(request: httpx.Request) -> dict[str, str]:
    pairs = parse_qsl(request.content.decode(), keep_blank_values=True, strict_parsing=True)
    assert len(pairs) == len(dict(pairs)), "a form field is repeated"
    return dict(pairs)


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.fixture(autouse=True)
def _no_secret_in_output(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capsys.readouterr()
    assert_clean(caplog.text, out, err)


def test_pkce_challenge_is_unpadded_base64url_sha256_of_the_verifier():
    verifier, challenge = new_pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set(string.ascii_letters + string.digits + "-._~")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert new_pkce_pair()[0] != verifier


def test_state_is_random_and_long():
    first, second = new_state(), new_state()
    assert first != second
    assert len(first) >= 32


def test_authorization_url_carries_every_parameter():
    url = authorization_url(AUTHORIZE_URL, "app-id-1", REDIRECT, SCOPE, "state-xyz", "chal-123")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    assert parse_qs(parts.query, strict_parsing=True) == {
        "response_type": ["code"],
        "client_id": ["app-id-1"],
        "redirect_uri": [REDIRECT],
        "scope": [SCOPE],
        "state": ["state-xyz"],
        "code_challenge": ["chal-123"],
        "code_challenge_method": ["S256"],
    }


def test_authorization_url_keeps_existing_query_parameters():
    url = authorization_url(AUTHORIZE_URL + "?prompt=select_account", "a", REDIRECT, None, "s", "c")
    query = parse_qs(urlsplit(url).query)
    assert query["prompt"] == ["select_account"]
    assert "scope" not in query


def test_code_exchange_sends_the_exact_form_with_client_secret_post(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL,
        method="POST",
        json={
            "access_token": NEW_ACCESS,
            "refresh_token": NEW_REFRESH,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "Dataset.ReadWrite.All",
            "id_token": "x.y.z",
        },
    )
    grant = {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    with httpx.Client() as http:
        token = fetch_token(http, client(), grant, timeout=5.0, now=lambda: NOW)

    request = httpx_mock.get_request()
    assert form(request) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "scope": SCOPE,
        "client_id": "app-id-1",
        "client_secret": CLIENT_SECRET,
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    assert token == {
        "access_token": NEW_ACCESS,
        "refresh_token": NEW_REFRESH,
        "expires_at": int(NOW) + 3599,
        "token_type": "Bearer",
        "scope": "Dataset.ReadWrite.All",
    }


def test_client_secret_basic_puts_the_form_encoded_credentials_in_the_header(httpx_mock):
    httpx_mock.add_response(url=TOKEN_URL, json={"access_token": NEW_ACCESS, "expires_in": 60})
    secret = "a b:c/d+e%f"
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http:
        fetch_token(http, client("client_secret_basic", secret=secret), grant, timeout=None)

    request = httpx_mock.get_request()
    # The scope of a refresh is the grant's business (refresh_grant), not added here.
    assert form(request) == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    expected = base64.b64encode(b"app-id-1:a%20b%3Ac%2Fd%2Be%25f").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


def test_refresh_keeps_the_old_refresh_token_when_none_is_returned(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL,
        json={"access_token": NEW_ACCESS, "expires_in": "3600", "token_type": "bearer"},
    )
    previous = {"access_token": "old", "refresh_token": REFRESH, "scope": "Dataset.Read.All"}
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http:
        token = fetch_token(http, client(), grant, timeout=5.0, previous=previous, now=lambda: NOW)
    # Microsoft's v1 endpoints send expires_in as a string.
    assert token == {
        "access_token": NEW_ACCESS,
        "refresh_token": REFRESH,
        "expires_at": int(NOW) + 3600,
        "token_type": "Bearer",
        "scope": "Dataset.Read.All",
    }


def test_refresh_takes_a_rotated_refresh_token(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL,
        json={"access_token": NEW_ACCESS, "refresh_token": NEW_REFRESH, "expires_in": 10},
    )
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http:
        token = fetch_token(http, client(), grant, timeout=5.0, previous={"refresh_token": REFRESH})
    assert token["refresh_token"] == NEW_REFRESH


def test_client_credentials_grant_needs_no_refresh_token(httpx_mock):
    httpx_mock.add_response(url=TOKEN_URL, json={"access_token": NEW_ACCESS, "expires_in": 3599})
    scope = "https://analysis.windows.net/powerbi/api/.default"
    with httpx.Client() as http:
        token = fetch_token(
            http,
            client(scope=scope),
            {"grant_type": "client_credentials"},
            timeout=5.0,
            now=lambda: NOW,
        )
    assert form(httpx_mock.get_request()) == {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_id": "app-id-1",
        "client_secret": CLIENT_SECRET,
    }
    assert "refresh_token" not in token
    assert token["expires_at"] == int(NOW) + 3599


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "invalid_grant"),
        (401, "invalid_client"),
        (400, "unauthorized_client"),
        (400, "invalid_scope"),
        (400, "invalid_request"),
    ],
)
def test_token_endpoint_errors_become_auth_errors_without_secrets(httpx_mock, status, error):
    description = f"AADSTS00000: {error} happened. Trace ID: 1234"
    httpx_mock.add_response(
        url=TOKEN_URL,
        status_code=status,
        json={"error": error, "error_description": description, "error_codes": [70000]},
    )
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http, pytest.raises(AuthError) as caught:
        fetch_token(http, client(), grant, timeout=5.0)

    exc = caught.value
    assert exc.oauth_error == error
    assert exc.oauth_error_description == description
    assert exc.status == status
    assert error in str(exc)
    payload = json.dumps(exc.to_dict())
    assert json.loads(payload)["type"] == "auth_error"
    assert_clean(str(exc), repr(exc), payload)


def test_invalid_grant_on_refresh_tells_the_user_to_sign_in_again(httpx_mock):
    httpx_mock.add_response(url=TOKEN_URL, status_code=400, json={"error": "invalid_grant"})
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http, pytest.raises(AuthError, match="connectorkit auth login"):
        fetch_token(http, client(), grant, timeout=5.0)


def test_an_endpoint_echoing_a_secret_is_masked(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL,
        status_code=400,
        json={
            "error": "invalid_grant",
            "error_description": f"bad token {REFRESH} for {CLIENT_SECRET}",
        },
    )
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http, pytest.raises(AuthError) as caught:
        fetch_token(http, client(), grant, timeout=5.0)
    assert caught.value.oauth_error_description == "bad token *** for ***"
    assert_clean(str(caught.value), json.dumps(caught.value.to_dict()))


def test_a_server_error_is_an_http_error_not_a_refusal(httpx_mock):
    # A failing endpoint has not refused the credentials: the call's retry policy may try again.
    httpx_mock.add_response(url=TOKEN_URL, status_code=500, text="<html>oops</html>")
    with httpx.Client() as http, pytest.raises(HttpError) as caught:
        fetch_token(http, client(), {"grant_type": "client_credentials"}, timeout=5.0)
    assert caught.value.to_dict() == {
        "type": "http_error",
        "message": "the token endpoint (login.example.test) answered HTTP 500",
        "status": 500,
        "endpoint": "token",
    }


def test_a_throttled_endpoint_is_rate_limited_with_retry_after(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL,
        status_code=429,
        headers={"Retry-After": "3"},
        json={"error": {"code": "TooManyRequests", "message": "slow down"}},
    )
    with httpx.Client() as http, pytest.raises(RateLimited) as caught:
        fetch_token(
            http,
            client(),
            {"grant_type": "client_credentials"},
            timeout=5.0,
            quirks=load_pack().quirks,
        )
    assert caught.value.to_dict() == {
        "type": "rate_limited",
        "message": "the token endpoint (login.example.test) is throttling requests (HTTP 429)",
        "status": 429,
        "code": "TooManyRequests",
        "retry_after": 3.0,
        "endpoint": "token",
    }


def test_an_object_shaped_error_body_gives_its_code_where_the_pack_says(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL, status_code=400, json={"error": {"code": "BadThing", "message": "no"}}
    )
    with httpx.Client() as http, pytest.raises(AuthError) as caught:
        fetch_token(
            http,
            client(),
            {"grant_type": "client_credentials"},
            timeout=5.0,
            quirks=load_pack().quirks,
        )
    assert caught.value.oauth_error == "BadThing"


def test_without_quirks_only_oauths_error_body_is_read(httpx_mock):
    # The generic runtime guesses no service's body shape: an object-shaped error has no code.
    httpx_mock.add_response(
        url=TOKEN_URL, status_code=400, json={"error": {"code": "BadThing", "message": "no"}}
    )
    with httpx.Client() as http, pytest.raises(AuthError) as caught:
        fetch_token(
            http, client(), {"grant_type": "client_credentials"}, timeout=5.0, quirks=Quirks()
        )
    assert caught.value.oauth_error is None
    assert "without an OAuth error" in caught.value.message


def test_a_success_without_access_token_is_an_auth_error(httpx_mock):
    httpx_mock.add_response(url=TOKEN_URL, json={"token_type": "Bearer"})
    with httpx.Client() as http, pytest.raises(AuthError, match="without an access token"):
        fetch_token(http, client(), {"grant_type": "client_credentials"}, timeout=5.0)


def test_an_unreachable_endpoint_is_a_network_error(httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=TOKEN_URL)
    grant = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    with httpx.Client() as http, pytest.raises(NetworkError) as caught:
        fetch_token(http, client(), grant, timeout=5.0)
    assert "connection refused" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert_clean(str(caught.value), json.dumps(caught.value.to_dict()))


def test_a_slow_endpoint_is_a_timeout(httpx_mock):
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=TOKEN_URL)
    with httpx.Client() as http, pytest.raises(_errors.TimeoutError):
        fetch_token(http, client(), {"grant_type": "client_credentials"}, timeout=0.5)


def test_the_timeout_applies_to_the_token_request(httpx_mock):
    httpx_mock.add_response(url=TOKEN_URL, json={"access_token": NEW_ACCESS})
    with httpx.Client() as http:
        fetch_token(http, client(), {"grant_type": "client_credentials"}, timeout=2.5)
    assert httpx_mock.get_request().extensions["timeout"]["read"] == 2.5


def test_the_client_repr_hides_the_secret():
    assert CLIENT_SECRET not in repr(client())


def test_clients_differing_only_in_their_signer_are_one_client():
    signed = [
        msgspec.structs.replace(client("private_key_jwt"), signer=lambda n=n: f"assertion-{n}")
        for n in range(2)
    ]
    assert signed[0] == signed[1]
    assert hash(signed[0]) == hash(signed[1])
    assert len({client(), client(), client(secret="cs~other-0007")}) == 2
    assert client() != client(scope="other")
    assert "assertion" not in repr(signed[0])
    assert repr(client()) == (
        f"OAuthClient(token_url={TOKEN_URL!r}, client_id='app-id-1', scope={SCOPE!r}, "
        "auth_method='client_secret_post', credential='')"
    )
