"""Microsoft's own client libraries against the emulator, started as a user starts it.

MSAL for Python and azure-identity run unaided (no shim, no monkeypatched library): they find
the emulator's authority over HTTPS (trusting the CA file it prints), read its discovery
documents, obtain tokens, and those tokens then work with `connectorkit invoke`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tls_emulator import Emulator, claims_of, trust_emulator

msal = pytest.importorskip("msal")
azure_identity = pytest.importorskip("azure.identity")

PBI = "https://analysis.windows.net/powerbi/api"
PBI_DEFAULT = f"{PBI}/.default"
USER_SCOPES = [f"{PBI}/Dataset.ReadWrite.All"]
APP, SECRET = "msal-app", "msal-secret-0001"
PUBLIC = "msal-public"
REDIRECT = "http://localhost:8765/callback"  # never contacted: the test reads the answer


@pytest.fixture(scope="module")
def emu():
    emulator = Emulator(
        "--client", f"{APP}:{SECRET}", "--client", PUBLIC, "--token-lifetime", "600"
    )
    yield emulator
    emulator.http.close()
    emulator.stop()


@pytest.fixture
def trust(emu, monkeypatch):
    """Trust the emulator's CA the way a user would: the standard environment variables."""
    trust_emulator(monkeypatch, emu)


def confidential(emu, secret=SECRET):
    return msal.ConfidentialClientApplication(
        APP,
        client_credential=secret,
        authority=emu.authority,
        instance_discovery=False,  # a host of its own, as MSAL documents for custom authorities
    )


class _HiddenFields(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}
        self.action = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action")
        if tag == "input" and values.get("type") == "hidden":
            self.fields[values["name"]] = values["value"]


def browse(emu, auth_uri):
    """Play the browser: open the authorize URL and return what reaches the redirect URI."""
    answer = emu.http.get(auth_uri)
    if answer.status_code == 302:
        location = answer.headers["location"]
        assert location.startswith(REDIRECT)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert answer.status_code == 200, answer.text
    parser = _HiddenFields()
    parser.feed(answer.text)
    assert parser.action == REDIRECT
    return parser.fields


def access_tid(result):
    return result["id_token_claims"]["tid"]


def invoke_list_groups(emu, token: str) -> dict:
    """`connectorkit invoke` of list_groups with a token obtained by a Microsoft library."""
    request = {
        "id": "msal-1",
        "action": "list_groups",
        "connection": {
            "key": "oauth2",
            "values": {
                "client_id": APP,
                "client_secret": SECRET,
                "authorize_url": emu.urls["authorize_url"],
                "token_url": emu.urls["token_url"],
                "base_url": emu.urls["base_url"],
            },
            "token": {
                "access_token": token,
                "expires_at": int(time.time()) + 500,
                "token_type": "Bearer",
            },
        },
        "inputs": {},
    }
    env = {**os.environ, "SSL_CERT_FILE": emu.urls["ca_file"], "NO_PROXY": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, "-m", "connectorkit", "invoke"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


# -- discovery -----------------------------------------------------------------------------


def test_discovery_documents_point_back_at_the_emulator(emu):
    config = emu.http.get(f"{emu.authority}/v2.0/.well-known/openid-configuration").json()
    base = emu.urls["url"]
    for key in ("token_endpoint", "authorization_endpoint", "device_authorization_endpoint"):
        assert config[key].startswith(f"{base}/"), key
    assert config["issuer"].endswith("/v2.0")
    instance = emu.http.get(
        f"{base}/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": f"{emu.authority}/oauth2/v2.0/authorize",
        },
    ).json()
    assert instance["tenant_discovery_endpoint"].startswith(f"{base}/emulator/v2.0/")
    assert instance["metadata"][0]["aliases"] == [emu.host]
    unknown = emu.http.get(
        f"{base}/common/discovery/instance",
        params={"authorization_endpoint": "https://evil.example/x/oauth2/v2.0/authorize"},
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_instance"
    assert unknown.json()["error_codes"] == [50049]
    missing = emu.http.get(f"{base}/no-such-tenant/v2.0/.well-known/openid-configuration")
    assert missing.status_code == 400
    assert missing.json()["error_codes"] == [90002]


# -- MSAL, confidential client ---------------------------------------------------------------


def test_msal_client_credentials_gives_a_signed_power_bi_token_the_api_accepts(emu, trust):
    app = confidential(emu)
    result = app.acquire_token_for_client(scopes=[PBI_DEFAULT])
    assert "access_token" in result, result
    claims = claims_of(emu, result["access_token"])
    assert claims["aud"] == PBI
    assert claims["appid"] == APP
    assert claims["idtyp"] == "app"
    assert claims["tid"] == claims["iss"].split("/")[3]
    assert "scp" not in claims
    again = app.acquire_token_for_client(scopes=[PBI_DEFAULT])
    assert again["access_token"] == result["access_token"]  # MSAL's cache served it
    assert again["token_source"] == "cache"
    answer = invoke_list_groups(emu, result["access_token"])
    assert answer["ok"] is True, answer
    assert str(answer["result"]).count("Sales Analytics") == 1


def test_msal_wrong_secret_is_invalid_client_with_its_aadsts_code(emu, trust):
    result = confidential(emu, secret="not-the-secret").acquire_token_for_client(
        scopes=[PBI_DEFAULT]
    )
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215:")


@pytest.mark.parametrize("response_mode", ["query", "form_post"])
def test_msal_auth_code_with_pkce_then_silent_refresh(emu, trust, response_mode):
    app = confidential(emu)
    if response_mode == "query":  # MSAL recommends form_post, and says so
        with pytest.warns(UserWarning, match="form_post"):
            flow = app.initiate_auth_code_flow(USER_SCOPES, redirect_uri=REDIRECT)
    else:
        flow = app.initiate_auth_code_flow(
            USER_SCOPES, redirect_uri=REDIRECT, response_mode=response_mode
        )
    assert "code_challenge=" in flow["auth_uri"]
    auth_response = browse(emu, flow["auth_uri"])
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "emulator.user@contoso.com"
    assert result["id_token_claims"]["aud"] == APP
    client_info = json.loads(base64.urlsafe_b64decode(_pad(result["client_info"])))
    assert client_info == {"uid": result["id_token_claims"]["oid"], "utid": access_tid(result)}
    access = claims_of(emu, result["access_token"])
    assert access["aud"] == PBI
    assert "Dataset.ReadWrite.All" in access["scp"].split()

    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == ["emulator.user@contoso.com"]
    cached = app.acquire_token_silent(USER_SCOPES, account=accounts[0])
    assert cached["access_token"] == result["access_token"]
    # After expiry (forced, as time passing would), the refresh token gets a new access token.
    refreshed = app.acquire_token_silent(USER_SCOPES, account=accounts[0], force_refresh=True)
    assert "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != result["access_token"]
    grants = [r.get("grant_type") for r in emu.requests()]
    assert "refresh_token" in grants
    answer = invoke_list_groups(emu, refreshed["access_token"])
    assert answer["ok"] is True, answer


def test_msal_silent_refreshes_an_expired_token_on_its_own(monkeypatch):
    short = Emulator("--client", f"{APP}:{SECRET}", "--token-lifetime", "1")
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", short.urls["ca_file"])
        app = confidential(short)
        flow = app.initiate_auth_code_flow(
            USER_SCOPES, redirect_uri=REDIRECT, response_mode="form_post"
        )
        first = app.acquire_token_by_auth_code_flow(flow, browse(short, flow["auth_uri"]))
        assert first["expires_in"] == 1
        time.sleep(1.1)
        account = app.get_accounts()[0]
        second = app.acquire_token_silent(USER_SCOPES, account=account)
        assert second is not None
        assert second["access_token"] != first["access_token"]
        assert [r.get("grant_type") for r in short.requests()].count("refresh_token") == 1
    finally:
        short.http.close()
        short.stop()


# -- MSAL, public client: device code -------------------------------------------------------


def test_msal_device_code_flow(emu, trust):
    app = msal.PublicClientApplication(
        PUBLIC,
        authority=emu.authority,
        instance_discovery=False,  # a host of its own, as MSAL documents for custom authorities
    )
    flow = app.initiate_device_flow(scopes=USER_SCOPES)
    assert flow["user_code"] in flow["message"]
    # The user signs in on another device with the code shown.
    page = emu.http.get(flow["verification_uri"], params={"otc": flow["user_code"]})
    assert page.status_code == 200
    assert "signed in" in page.text
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert claims_of(emu, result["access_token"])["aud"] == PBI
    assert app.get_accounts()[0]["username"] == "emulator.user@contoso.com"
    assert invoke_list_groups(emu, result["access_token"])["ok"] is True


# -- azure-identity ---------------------------------------------------------------------------


def test_azure_identity_client_secret_credential(emu, trust):
    credential = azure_identity.ClientSecretCredential(
        "emulator", APP, SECRET, authority=emu.host, disable_instance_discovery=True
    )
    first = credential.get_token(PBI_DEFAULT)
    second = credential.get_token(PBI_DEFAULT)
    assert first.token == second.token
    assert first.expires_on > time.time()
    assert claims_of(emu, first.token)["aud"] == PBI
    assert invoke_list_groups(emu, first.token)["ok"] is True


def test_azure_identity_authorization_code_credential_across_calls(monkeypatch):
    short = Emulator("--client", f"{APP}:{SECRET}", "--token-lifetime", "1")
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", short.urls["ca_file"])
        monkeypatch.setenv("SSL_CERT_FILE", short.urls["ca_file"])
        query = browse(
            short,
            str(
                httpx.URL(
                    short.urls["authorize_url"],
                    params={
                        "client_id": APP,
                        "response_type": "code",
                        "redirect_uri": REDIRECT,
                        "scope": " ".join([*USER_SCOPES, "offline_access", "openid"]),
                    },
                )
            ),
        )
        credential = azure_identity.AuthorizationCodeCredential(
            "emulator",
            APP,
            query["code"],
            REDIRECT,
            client_secret=SECRET,
            authority=short.host,
        )
        tokens = []
        for _ in range(3):
            tokens.append(credential.get_token(*USER_SCOPES).token)
            time.sleep(1.1)  # past the one-second lifetime: the next call must refresh
        assert len(set(tokens)) == 3
        grants = [r.get("grant_type") for r in short.requests()]
        assert grants.count("authorization_code") == 1
        assert grants.count("refresh_token") == 2
    finally:
        short.http.close()
        short.stop()


def _pad(text: str) -> str:
    return text + "=" * (-len(text) % 4)


# -- the v1 endpoint --------------------------------------------------------------------------


def test_v1_token_endpoint_takes_a_resource(emu):
    answer = emu.http.post(
        f"{emu.authority}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": APP,
            "client_secret": SECRET,
            "resource": PBI,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resource"] == PBI
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], str)
    assert int(body["expires_on"]) > time.time()
    assert claims_of(emu, body["access_token"])["aud"] == PBI
    missing = emu.http.post(
        f"{emu.authority}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET},
    )
    assert missing.status_code == 400
    assert missing.json()["error_codes"] == [900144]
