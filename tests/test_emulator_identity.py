"""The emulator's identity platform endpoints, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from powerbi_emulator import DEFAULT_CLIENT, ClientApp, running

PBI = "https://analysis.windows.net/powerbi/api"
SCOPE = f"{PBI}/Dataset.ReadWrite.All offline_access"
REDIRECT = "http://localhost:8765/callback"
REGISTERED = ClientApp("registered-app", "s3cret", redirect_uris=(REDIRECT,))
ODD = ClientApp("odd:client", "p@ss w:rd&=+")
PUBLIC = ClientApp("public-app", None)
CLIENTS = (DEFAULT_CLIENT, REGISTERED, ODD, PUBLIC)


@pytest.fixture(scope="module")
def emu():
    with running(clients=CLIENTS) as handle:
        yield handle


@pytest.fixture
def http():
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def pkce_pair(method="S256"):
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(http, emu, *, client_id=DEFAULT_CLIENT.client_id, url=None, **params):
    query = {
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "state": "xyz-123",
        **params,
    }
    query = {k: v for k, v in query.items() if v is not None}
    return http.get(url or emu.authorize_url, params=query)


def redirect_params(response):
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(http, emu, **params):
    return redirect_params(authorize(http, emu, **params))["code"]


def token(http, emu, data, *, auth=None, headers=None):
    return http.post(emu.token_url, data=data, auth=auth, headers=headers)


def post_auth(client=DEFAULT_CLIENT):
    return {"client_id": client.client_id, "client_secret": client.client_secret}


def assert_aad_error(response, status, error, aadsts):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [aadsts]
    assert body["error_description"].startswith(f"AADSTS{aadsts}: ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    uuid.UUID(body["trace_id"])
    assert body["correlation_id"] in body["error_description"]
    assert response.headers["cache-control"].startswith("no-store")
    return body


def api_get(http, emu, access_token, path="/datasets"):
    return http.get(emu.base_url + path, headers={"Authorization": f"Bearer {access_token}"})


# -- authorization code with PKCE -------------------------------------------------------------


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_authorization_code_with_pkce_issues_working_tokens(emu, http, method):
    verifier, challenge = pkce_pair(method)
    response = authorize(http, emu, code_challenge=challenge, code_challenge_method=method)
    params = redirect_params(response)
    assert params["state"] == "xyz-123"
    assert params["code"]
    assert params["session_state"]

    redeemed = token(
        http,
        emu,
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            **post_auth(),
        },
    )

    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["ext_expires_in"] == 3600
    assert body["scope"] == SCOPE
    assert body["access_token"] != body["refresh_token"]
    assert redeemed.headers["cache-control"].startswith("no-store")
    assert api_get(http, emu, body["access_token"]).status_code == 200


def test_code_challenge_method_defaults_to_plain(emu, http):
    verifier, _ = pkce_pair("plain")
    code = get_code(http, emu, code_challenge=verifier)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    ok = token(http, emu, {**data, "code_verifier": verifier, **post_auth()})
    assert ok.status_code == 200, ok.text


def test_v1_authorize_path_without_scope_gives_a_power_bi_token(emu, http):
    url = f"{emu.url}/{emu.tenant}/oauth2/authorize"
    code = get_code(http, emu, url=url, scope=None)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    body = token(http, emu, {**data, **post_auth()}).json()
    assert body["scope"] == f"{PBI}/.default"
    assert "refresh_token" not in body  # no offline_access asked for
    assert api_get(http, emu, body["access_token"]).status_code == 200


def test_code_is_single_use(emu, http):
    code = get_code(http, emu)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert token(http, emu, {**data, **post_auth()}).status_code == 200
    assert_aad_error(token(http, emu, {**data, **post_auth()}), 400, "invalid_grant", 54005)


def test_code_expires_after_ten_emulated_minutes(emu, http):
    code = get_code(http, emu)
    emu.advance_clock(601)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert_aad_error(token(http, emu, {**data, **post_auth()}), 400, "invalid_grant", 70008)


def test_pkce_verifier_is_checked(emu, http):
    verifier, challenge = pkce_pair()
    code = get_code(http, emu, code_challenge=challenge, code_challenge_method="S256")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    wrong = pkce_pair()[0]
    assert_aad_error(
        token(http, emu, {**data, "code_verifier": wrong, **post_auth()}),
        400,
        "invalid_grant",
        50148,
    )
    assert_aad_error(token(http, emu, {**data, **post_auth()}), 400, "invalid_request", 900144)
    # A failed attempt does not burn the code: the right verifier still works.
    ok = token(http, emu, {**data, "code_verifier": verifier, **post_auth()})
    assert ok.status_code == 200, ok.text


def test_verifier_without_a_challenge_is_rejected(emu, http):
    code = get_code(http, emu)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = token(http, emu, {**data, "code_verifier": pkce_pair()[0], **post_auth()})
    assert_aad_error(response, 400, "invalid_grant", 50148)


def test_redirect_uri_must_match_the_authorization_request(emu, http):
    code = get_code(http, emu)
    data = {"grant_type": "authorization_code", "code": code, **post_auth()}
    response = token(http, emu, {**data, "redirect_uri": "http://localhost:9999/other"})
    assert_aad_error(response, 400, "invalid_grant", 50011)
    assert_aad_error(token(http, emu, data), 400, "invalid_request", 900144)


def test_code_of_another_client_is_rejected(emu, http):
    code = get_code(http, emu)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert_aad_error(
        token(http, emu, {**data, **post_auth(REGISTERED)}), 400, "invalid_grant", 9002313
    )


# -- refresh token rotation -------------------------------------------------------------------


def tokens_by_code(http, emu):
    code = get_code(http, emu)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    return token(http, emu, {**data, **post_auth()}).json()


def refresh(http, emu, refresh_token, client=DEFAULT_CLIENT, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return token(http, emu, {**data, **post_auth(client)})


def test_refresh_gives_a_new_refresh_token_and_the_old_one_stays_valid(emu, http):
    # Entra documents that redeeming a refresh token does not revoke it.
    first = tokens_by_code(http, emu)
    second = refresh(http, emu, first["refresh_token"])
    assert second.status_code == 200, second.text
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"]
    assert renewed["access_token"] != first["access_token"]
    assert renewed["scope"] == SCOPE
    assert api_get(http, emu, renewed["access_token"]).status_code == 200

    again = refresh(http, emu, first["refresh_token"])
    assert again.status_code == 200, again.text
    assert api_get(http, emu, again.json()["access_token"]).status_code == 200
    assert refresh(http, emu, renewed["refresh_token"]).status_code == 200


def test_single_use_refresh_tokens_refuse_a_redeemed_one(http):
    with running(single_use_refresh_tokens=True) as strict:
        first = tokens_by_code(http, strict)
        rotated = refresh(http, strict, first["refresh_token"]).json()
        reused = refresh(http, strict, first["refresh_token"])
        assert_aad_error(reused, 400, "invalid_grant", 70000)
        assert refresh(http, strict, rotated["refresh_token"]).status_code == 200


def test_refresh_token_is_bound_to_its_client(emu, http):
    first = tokens_by_code(http, emu)
    response = refresh(http, emu, first["refresh_token"], client=REGISTERED)
    assert_aad_error(response, 400, "invalid_grant", 9002313)


def test_revoked_refresh_token_is_rejected(emu, http):
    first = tokens_by_code(http, emu)
    assert emu.revoke_refresh_tokens(first["refresh_token"]) == 1
    assert_aad_error(refresh(http, emu, first["refresh_token"]), 400, "invalid_grant", 50173)


def test_refresh_can_narrow_scope_but_not_ask_for_unknown_ones(emu, http):
    first = tokens_by_code(http, emu)
    bad = refresh(http, emu, first["refresh_token"], scope=f"{PBI}/Dataset.ReadWrite.Al")
    assert_aad_error(bad, 400, "invalid_scope", 650053)
    narrowed = refresh(http, emu, first["refresh_token"], scope=f"{PBI}/Dataset.Read.All")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == f"{PBI}/Dataset.Read.All"


def test_refresh_token_garbage_and_missing(emu, http):
    assert_aad_error(refresh(http, emu, "not-a-token"), 400, "invalid_grant", 9002313)
    missing = token(http, emu, {"grant_type": "refresh_token", **post_auth()})
    assert_aad_error(missing, 400, "invalid_request", 900144)


# -- client credentials and client authentication ---------------------------------------------


def test_client_credentials_gives_an_app_token_without_refresh(emu, http):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default"}
    response = token(http, emu, {**data, **post_auth()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert api_get(http, emu, body["access_token"], "/groups").status_code == 200


@pytest.mark.parametrize(
    ("scope", "error", "aadsts"),
    [
        (None, "invalid_request", 900144),
        (f"{PBI}/Dataset.ReadWrite.All", "invalid_scope", 1002012),
        (f"{PBI}/.default offline_access", "invalid_scope", 1002012),
    ],
)
def test_client_credentials_scope_must_be_dot_default(emu, http, scope, error, aadsts):
    data = {"grant_type": "client_credentials", **post_auth()}
    if scope is not None:
        data["scope"] = scope
    assert_aad_error(token(http, emu, data), 400, error, aadsts)


def test_client_secret_basic_with_form_encoded_credentials(emu, http):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default"}
    # RFC 6749 2.3.1: id and secret are form-urlencoded, then base64'd.
    raw = f"{quote(ODD.client_id, safe='')}:{quote(ODD.client_secret, safe='')}"
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    response = token(http, emu, data, headers={"Authorization": header})
    assert response.status_code == 200, response.text
    log = emu.requests(kind="identity")[-1]
    assert log["client_auth"] == "client_secret_basic"
    assert log["client_id"] == ODD.client_id


def test_client_secret_post_is_logged_as_such(emu, http):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default", **post_auth()}
    assert token(http, emu, data).status_code == 200
    assert emu.requests(kind="identity")[-1]["client_auth"] == "client_secret_post"


def test_basic_and_post_together_are_rejected(emu, http):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default", **post_auth()}
    auth = (DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret)
    assert_aad_error(token(http, emu, data, auth=auth), 400, "invalid_request", 90014)


@pytest.mark.parametrize(
    ("client_id", "secret", "status", "error", "aadsts"),
    [
        (DEFAULT_CLIENT.client_id, "wrong", 401, "invalid_client", 7000215),
        (DEFAULT_CLIENT.client_id, None, 401, "invalid_client", 7000218),
        ("nobody", "x", 400, "unauthorized_client", 700016),
        (None, None, 400, "invalid_request", 900144),
        (PUBLIC.client_id, "x", 401, "invalid_client", 700025),
    ],
)
def test_client_authentication_errors(emu, http, client_id, secret, status, error, aadsts):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default"}
    data |= {k: v for k, v in (("client_id", client_id), ("client_secret", secret)) if v}
    assert_aad_error(token(http, emu, data), status, error, aadsts)


def test_wrong_secret_over_basic_is_invalid_client(emu, http):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default"}
    response = token(http, emu, data, auth=(DEFAULT_CLIENT.client_id, "nope"))
    assert_aad_error(response, 401, "invalid_client", 7000215)


def test_public_client_needs_pkce_and_no_secret(emu, http):
    refused = redirect_params(authorize(http, emu, client_id=PUBLIC.client_id))
    assert refused["error"] == "invalid_request"
    verifier, challenge = pkce_pair()
    code = get_code(
        http,
        emu,
        client_id=PUBLIC.client_id,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": PUBLIC.client_id,
    }
    assert token(http, emu, data).status_code == 200


# -- token endpoint request errors ------------------------------------------------------------


def test_grant_type_errors(emu, http):
    assert_aad_error(token(http, emu, post_auth()), 400, "invalid_request", 900144)
    assert_aad_error(
        token(http, emu, {"grant_type": "password", **post_auth()}),
        400,
        "unsupported_grant_type",
        70003,
    )


def test_json_body_and_get_are_not_token_requests(emu, http):
    as_json = http.post(emu.token_url, json={"grant_type": "client_credentials", **post_auth()})
    assert_aad_error(as_json, 400, "invalid_request", 900144)
    assert_aad_error(http.get(emu.token_url), 400, "invalid_request", 900561)


def test_unknown_tenant_and_common_tenant(emu, http):
    data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default", **post_auth()}
    other = emu.token_url.replace(f"/{emu.tenant}/", "/contoso/")
    assert_aad_error(http.post(other, data=data), 400, "invalid_tenant", 90002)
    common = emu.token_url.replace(f"/{emu.tenant}/", "/common/")
    assert http.post(common, data=data).status_code == 200


def test_correlation_id_echoes_client_request_id(emu, http):
    request_id = str(uuid.uuid4())
    response = token(
        http, emu, {"grant_type": "nope", **post_auth()}, headers={"client-request-id": request_id}
    )
    assert assert_aad_error(response, 400, "unsupported_grant_type", 70003)["correlation_id"] == (
        request_id
    )
    assert "client-request-id" not in response.headers  # only when asked


@pytest.mark.parametrize("path", ["token", "discovery"])
def test_client_request_id_is_returned_when_asked(emu, http, path):
    request_id = str(uuid.uuid4())
    headers = {"client-request-id": request_id, "return-client-request-id": "true"}
    if path == "token":
        data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default", **post_auth()}
        response = token(http, emu, data, headers=headers)
    else:
        url = f"{emu.url}/{emu.tenant}/v2.0/.well-known/openid-configuration"
        response = http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["client-request-id"] == request_id


# -- authorize errors -------------------------------------------------------------------------


def test_authorize_errors_shown_to_the_user_until_the_redirect_uri_is_trusted(emu, http):
    assert_aad_error(authorize(http, emu, client_id="nobody"), 400, "unauthorized_client", 700016)
    assert_aad_error(authorize(http, emu, redirect_uri=None), 400, "invalid_request", 900971)
    assert_aad_error(authorize(http, emu, redirect_uri="not a uri"), 400, "invalid_request", 90102)
    assert_aad_error(
        authorize(
            http, emu, client_id=REGISTERED.client_id, redirect_uri="http://localhost:1/elsewhere"
        ),
        400,
        "invalid_request",
        50011,
    )
    assert redirect_params(authorize(http, emu, client_id=REGISTERED.client_id))["code"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": None}, "invalid_request"),
        ({"scope": f"{PBI}/NoSuch.Permission"}, "invalid_scope"),
        ({"scope": f"{PBI}/.default {PBI}/Dataset.Read.All"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"response_mode": "bogus"}, "invalid_request"),
    ],
)
def test_authorize_errors_after_the_redirect_uri_go_back_to_the_client(emu, http, params, error):
    returned = redirect_params(authorize(http, emu, **params))
    assert returned["error"] == error
    assert returned["error_description"].startswith("AADSTS")
    assert returned["state"] == "xyz-123"
    assert "code" not in returned


# -- lifetimes on the emulated clock ----------------------------------------------------------


def test_expired_access_token_gets_token_expired_and_refresh_recovers(emu, http):
    tokens = tokens_by_code(http, emu)
    assert emu.expire_tokens(tokens["access_token"]) == 1
    expired = api_get(http, emu, tokens["access_token"])
    assert expired.status_code == 403
    assert expired.json()["error"]["code"] == "TokenExpired"
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    fresh = refresh(http, emu, tokens["refresh_token"]).json()
    assert api_get(http, emu, fresh["access_token"]).status_code == 200


def test_token_lifetime_runs_on_the_scaled_clock():
    with running(time_scale=3600, token_lifetime=7200) as fast, httpx.Client() as http:
        data = {"grant_type": "client_credentials", "scope": f"{PBI}/.default", **post_auth()}
        body = http.post(fast.token_url, data=data).json()
        assert body["expires_in"] == 2  # real seconds: 7200 emulated / 3600
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        groups = f"{fast.base_url}/groups"
        assert http.get(groups, headers=headers).status_code == 200
        time.sleep(2.05)
        expired = http.get(groups, headers=headers)
        assert expired.status_code == 403
        assert expired.json()["error"]["code"] == "TokenExpired"


def test_advancing_the_clock_expires_tokens(emu, http):
    access = emu.issue_token(principal="app")["access_token"]
    assert api_get(http, emu, access, "/groups").status_code == 200
    emu.advance_clock(3600)
    assert api_get(http, emu, access, "/groups").status_code == 403


def test_issued_tokens_honour_lifetime(emu, http):
    issued = emu.issue_token(lifetime=30)
    assert issued["expires_in"] == 30
    assert "refresh_token" in issued
    emu.advance_clock(31)
    assert api_get(http, emu, issued["access_token"]).status_code == 403


# -- secrets never leak -----------------------------------------------------------------------


def test_request_log_and_state_hold_no_secret_code_or_token(emu, http):
    verifier, challenge = pkce_pair()
    code = get_code(http, emu, code_challenge=challenge, code_challenge_method="S256")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    tokens = token(http, emu, {**data, "code_verifier": verifier, **post_auth()}).json()
    refresh(http, emu, tokens["refresh_token"])
    api_get(http, emu, tokens["access_token"])
    dumped = json.dumps([emu.requests(), emu.state()])
    for secret in (
        DEFAULT_CLIENT.client_secret,
        code,
        verifier,
        tokens["access_token"],
        tokens["refresh_token"],
    ):
        assert secret not in dumped
    kinds = {entry["kind"] for entry in emu.requests()}
    assert {"identity", "api"} <= kinds
