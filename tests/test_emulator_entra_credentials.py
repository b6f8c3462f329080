"""Credentials without a client secret, with Microsoft's own libraries against the emulator.

MSAL's `ConfidentialClientApplication` with a certificate, and azure-identity's
`CertificateCredential`, `ClientAssertionCredential`, `WorkloadIdentityCredential` and
`ManagedIdentityCredential` (IMDS and App Service), unaided, against `connectorkit emulator
--tls` started as a user starts it: each obtains a token the emulator's API accepts.
"""

from __future__ import annotations

import json

import pytest

from certificates import make_certificate
from tls_emulator import Emulator, claims_of, trust_emulator

msal = pytest.importorskip("msal")
azure_identity = pytest.importorskip("azure.identity")
ClientAuthenticationError = pytest.importorskip("azure.core.exceptions").ClientAuthenticationError

PBI = "https://analysis.windows.net/powerbi/api"
PBI_DEFAULT = f"{PBI}/.default"
CERT_APP, FED_APP = "cert-app", "fed-app"
SUBJECT = "repo:contoso/reports:environment:production"
UAMI = "5b7e0f0a-0000-4000-8000-00000000b001"
CERT = make_certificate("cert-app")


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    folder = tmp_path_factory.mktemp("entra")
    cert_file = folder / "cert-app.pem"
    cert_file.write_text(CERT.cert_pem)
    emulator = Emulator(
        "--client", CERT_APP,
        "--client-certificate", f"{CERT_APP}={cert_file}",
        "--client", FED_APP,
        "--federated-credential", json.dumps({"client_id": FED_APP, "subject": SUBJECT}),
        "--managed-identity", f"{UAMI}:reports-publisher",
    )  # fmt: skip
    yield emulator
    emulator.close()


@pytest.fixture
def trust(emu, monkeypatch):
    trust_emulator(monkeypatch, emu)
    for name in (
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)


def accepted(emu, token: str) -> bool:
    """Whether the emulator's REST API takes the token."""
    answer = emu.http.get(
        f"{emu.urls['base_url']}/groups", headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code == 200 and answer.json()["value"][0]["name"] == "Sales Analytics"


def last_grant(emu) -> dict:
    return [e for e in emu.requests() if "grant_type" in e][-1]


def cert_app(emu, credential):
    return msal.ConfidentialClientApplication(
        CERT_APP, client_credential=credential, authority=emu.authority, instance_discovery=False
    )


# -- certificates --------------------------------------------------------------------------------


def test_msal_with_a_certificate_thumbprint_signs_rs256_with_x5t(emu, trust):
    app = cert_app(emu, {"private_key": CERT.key_pem, "thumbprint": CERT.sha1_hex})
    result = app.acquire_token_for_client(scopes=[PBI_DEFAULT])
    assert "access_token" in result, result
    assert claims_of(emu, result["access_token"])["appid"] == CERT_APP
    assert accepted(emu, result["access_token"])
    grant = last_grant(emu)
    assert (grant["client_auth"], grant["credential"]) == ("private_key_jwt", "certificate")


def test_msal_with_the_public_certificate_signs_ps256_with_x5t_s256(emu, trust):
    app = cert_app(emu, {"private_key": CERT.key_pem, "public_certificate": CERT.cert_pem})
    result = app.acquire_token_for_client(scopes=[PBI_DEFAULT])
    assert "access_token" in result, result
    assert accepted(emu, result["access_token"])


def test_msal_with_an_unregistered_certificate_gets_700027(emu, trust):
    stranger = make_certificate("stranger")
    app = cert_app(emu, {"private_key": stranger.key_pem, "public_certificate": stranger.cert_pem})
    result = app.acquire_token_for_client(scopes=[PBI_DEFAULT])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]
    assert stranger.sha256_hex.upper() in result["error_description"]


@pytest.mark.parametrize("send_chain", [False, True])
def test_azure_identity_certificate_credential(emu, trust, send_chain):
    credential = azure_identity.CertificateCredential(
        "emulator",
        CERT_APP,
        certificate_data=CERT.pem.encode(),
        authority=emu.host,
        disable_instance_discovery=True,
        send_certificate_chain=send_chain,
    )
    token = credential.get_token(PBI_DEFAULT)
    assert accepted(emu, token.token)
    assert credential.get_token(PBI_DEFAULT).token == token.token  # cached, as the library does


# -- federated credentials -----------------------------------------------------------------------


def issuer_token(emu, subject=SUBJECT):
    return emu.control("POST", "issuer/token", {"subject": subject})["value"]


def test_azure_identity_client_assertion_credential_with_a_federated_token(emu, trust):
    credential = azure_identity.ClientAssertionCredential(
        "emulator",
        FED_APP,
        lambda: issuer_token(emu),
        authority=emu.host,
        disable_instance_discovery=True,
    )
    token = credential.get_token(PBI_DEFAULT)
    assert claims_of(emu, token.token)["appid"] == FED_APP
    assert accepted(emu, token.token)
    grant = last_grant(emu)
    assert (grant["client_auth"], grant["credential"]) == ("private_key_jwt", "federated")


def test_azure_identity_client_assertion_of_another_subject_gets_700213(emu, trust):
    credential = azure_identity.ClientAssertionCredential(
        "emulator",
        FED_APP,
        lambda: issuer_token(emu, "repo:contoso/reports:pull_request"),
        authority=emu.host,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213") as caught:
        credential.get_token(PBI_DEFAULT)
    assert "repo:contoso/reports:pull_request" in str(caught.value)


def test_azure_identity_workload_identity_reads_the_token_file(emu, trust, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(issuer_token(emu))
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    credential = azure_identity.WorkloadIdentityCredential(
        tenant_id="emulator",
        client_id=FED_APP,
        authority=emu.host,
        disable_instance_discovery=True,
    )
    assert accepted(emu, credential.get_token(PBI_DEFAULT).token)


# -- managed identity ----------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [None, UAMI], ids=["system", "user-assigned"])
def test_azure_identity_managed_identity_through_imds(emu, trust, monkeypatch, client_id):
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.urls["imds_url"])
    credential = azure_identity.ManagedIdentityCredential(client_id=client_id)
    token = credential.get_token(PBI_DEFAULT)
    claims = claims_of(emu, token.token)
    expected = client_id or emu.control("GET", "managed-identities")["value"][0]["client_id"]
    assert claims["appid"] == expected
    assert accepted(emu, token.token)
    logged = [e for e in emu.requests() if "managed_identity" in e][-1]
    assert (logged["managed_identity"], logged["status"]) == ("imds", 200)


def test_azure_identity_managed_identity_on_app_service(emu, trust, monkeypatch):
    monkeypatch.delenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.urls["identity_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", emu.urls["identity_header"])
    credential = azure_identity.ManagedIdentityCredential(client_id=UAMI)
    token = credential.get_token(PBI_DEFAULT)
    assert claims_of(emu, token.token)["appid"] == UAMI
    assert accepted(emu, token.token)
    logged = [e for e in emu.requests() if "managed_identity" in e][-1]
    assert (logged["managed_identity"], logged["status"]) == ("app_service", 200)
