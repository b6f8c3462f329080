"""The emulator's managed identity endpoints (IMDS and App Service) and user realm, over
real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from powerbi_emulator import ManagedIdentity, running

PBI = "https://analysis.windows.net/powerbi/api"
UAMI = ManagedIdentity("7d0c9d7e-0000-4000-8000-00000000a001", "reports-publisher")


@pytest.fixture(scope="module")
def emu():
    with running(managed_identities=(UAMI,)) as handle:
        yield handle


@pytest.fixture
def http():
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def imds(http, emu, headers=None, **params):
    query = {"api-version": "2018-02-01", "resource": PBI, **params}
    query = {k: v for k, v in query.items() if v is not None}
    headers = {"Metadata": "true"} if headers is None else headers
    return http.get(
        f"{emu.urls['imds_url']}/metadata/identity/oauth2/token", params=query, headers=headers
    )


def app_service(http, emu, header=None, **params):
    query = {"api-version": "2019-08-01", "resource": PBI, **params}
    query = {k: v for k, v in query.items() if v is not None}
    secret = emu.urls["identity_header"] if header is None else header
    return http.get(
        emu.urls["identity_endpoint"], params=query, headers={"X-IDENTITY-HEADER": secret}
    )


def claims_of(http, emu, token):
    keys = KeySet.import_key_set(http.get(f"{emu.url}/{emu.tenant}/discovery/v2.0/keys").json())
    return jwt.decode(token, keys).claims


def groups(http, emu, token):
    return http.get(f"{emu.base_url}/groups", headers={"Authorization": f"Bearer {token}"})


def test_imds_gives_the_system_identity_a_token_the_api_accepts(emu, http):
    answer = imds(http, emu)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    system = emu.managed_identities()[0]
    assert system["system"] is True
    assert body["client_id"] == system["client_id"]
    assert body["resource"] == PBI
    assert body["token_type"] == "Bearer"
    # IMDS answers numbers as strings.
    assert all(isinstance(body[k], str) for k in ("expires_in", "expires_on", "not_before"))
    assert int(body["expires_on"]) - int(body["expires_in"]) == pytest.approx(time.time(), abs=5)
    claims = claims_of(http, emu, body["access_token"])
    assert claims["aud"] == PBI
    assert claims["appid"] == system["client_id"]
    assert claims["idtyp"] == "app"
    assert claims["xms_mirid"] == system["resource_id"]
    assert groups(http, emu, body["access_token"]).status_code == 200
    logged = [e for e in emu.requests(kind="identity") if "managed_identity" in e][-1]
    assert (logged["managed_identity"], logged["status"]) == ("imds", 200)
    assert body["access_token"] not in str(emu.requests())


@pytest.mark.parametrize("key", ["client_id", "object_id", "msi_res_id", "mi_res_id"])
def test_imds_picks_a_user_assigned_identity_by_any_of_its_ids(emu, http, key):
    identity = emu.managed_identities()[1]
    value = identity["resource_id"] if key.endswith("res_id") else identity[key]
    answer = imds(http, emu, **{key: value})
    assert answer.status_code == 200, answer.text
    assert answer.json()["client_id"] == UAMI.client_id
    assert claims_of(http, emu, answer.json()["access_token"])["app_displayname"] == (
        "reports-publisher"
    )


@pytest.mark.parametrize(
    ("headers", "params", "status", "description"),
    [
        ({}, {}, 400, "Required metadata header not specified"),
        ({"Metadata": "false"}, {}, 400, "Required metadata header not specified"),
        (None, {"api-version": None}, 400, "Required query variable 'api-version' is missing"),
        (None, {"resource": None}, 400, "Required audience parameter not specified"),
        (None, {"client_id": "not-assigned"}, 400, "Identity not found"),
    ],
    ids=["no-metadata", "metadata-false", "no-api-version", "no-resource", "unknown-identity"],
)
def test_imds_refusals(emu, http, headers, params, status, description):
    answer = imds(http, emu, headers, **params)
    assert answer.status_code == status
    assert answer.json() == {"error": "invalid_request", "error_description": description}


def test_imds_refuses_another_clouds_power_bi(emu, http):
    answer = imds(http, emu, resource="https://analysis.usgovcloudapi.net/powerbi/api")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_resource"
    assert answer.json()["error_description"].startswith("AADSTS500011: ")


def test_app_service_endpoint_gives_a_token_the_api_accepts(emu, http):
    answer = app_service(http, emu)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert int(body["expires_on"]) > time.time() + 3000
    assert groups(http, emu, body["access_token"]).status_code == 200
    by_id = app_service(http, emu, principal_id=emu.managed_identities()[1]["object_id"])
    assert by_id.json()["client_id"] == UAMI.client_id


def test_app_service_wants_its_identity_header(emu, http):
    for header in ("", "wrong"):
        answer = app_service(http, emu, header=header)
        assert answer.status_code == 401
        assert answer.json()["statusCode"] == 401
        assert "X-IDENTITY-HEADER" in answer.json()["message"]


# -- user realm ---------------------------------------------------------------------------------


def test_user_realm_of_the_tenant_user_and_of_a_stranger(emu, http):
    ours = http.get(f"{emu.url}/common/userrealm/emulator.user@contoso.com?api-version=1.0")
    assert ours.status_code == 200
    assert ours.json() == {
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": "contoso.com",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
    stranger = http.get(f"{emu.url}/common/UserRealm/someone@example.org?api-version=1.0")
    assert stranger.json()["account_type"] == "Unknown"
    newer = http.get(f"{emu.url}/common/userrealm/emulator.user@contoso.com?api-version=2.1")
    assert newer.json()["NameSpaceType"] == "Managed"
    assert newer.json()["DomainName"] == "contoso.com"
