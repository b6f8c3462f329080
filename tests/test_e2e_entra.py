"""Connections without a client secret, end to end: the real `connectorkit` command in a
subprocess against the emulator over real HTTP. A service principal with a certificate, with
a federated credential (a token in a file, in the file Kubernetes names, or asked from a CI's
OIDC endpoint), and a managed identity (IMDS, App Service); `connectorkit check` saying what to
change when Entra refuses. Every run's output is scanned for the key, the assertions and the
tokens."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from certificates import make_certificate
from powerbi_emulator import (
    DEFAULT_CLIENT,
    ClientApp,
    FederatedCredential,
    ManagedIdentity,
    running,
)
from test_e2e import Cli

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

CERT = make_certificate("reports-publisher")
OTHER = make_certificate("not-registered")
SUBJECT = "repo:contoso/reports:environment:production"
UAMI = "0f5c3d2e-0000-4000-8000-00000000c001"
# The environment a job might bring: none of it leaks in from the machine running the tests.
CLEAN = dict.fromkeys(
    (
        "AZURE_FEDERATED_TOKEN_FILE",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    )
)


@pytest.fixture(scope="module")
def emulator():
    clients = (
        DEFAULT_CLIENT,
        ClientApp("cert-app", None, name="Reports publisher", certificates=(CERT.cert_pem,)),
        ClientApp("fed-app", None, federated_credentials=(FederatedCredential(SUBJECT),)),
    )
    identities = (ManagedIdentity(UAMI, "publisher"),)
    # The test issuer's tokens are the production environment's job, as GitHub would issue.
    with running(clients=clients, managed_identities=identities, issuer_subject=SUBJECT) as emu:
        yield emu


@pytest.fixture
def cli(tmp_path: Path, emulator):
    runner = Cli(tmp_path)
    runner.attach(emulator)
    runner.secrets |= {CERT.key_pem, OTHER.key_pem}
    yield runner
    assert runner.leaks() == []


def certificate(emu, **values):
    return {
        "key": "service_principal_certificate",
        "values": {
            "tenant_id": emu.tenant,
            "client_id": "cert-app",
            "token_url": emu.token_url,
            "base_url": emu.base_url,
            **values,
        },
    }


def federated(emu, **values):
    return {
        "key": "service_principal_federated",
        "values": {
            "tenant_id": emu.tenant,
            "client_id": "fed-app",
            "token_url": emu.token_url,
            "base_url": emu.base_url,
            **values,
        },
    }


def managed(emu, **values):
    return {"key": "managed_identity", "values": {"base_url": emu.base_url, **values}}


def grants(run):
    """(client_auth, credential, status) of each token request the emulator saw."""
    return [
        (e.get("client_auth"), e.get("credential"), e["status"])
        for e in run.log
        if e.get("grant_type")
    ]


def listed(run):
    return [g["name"] for g in run.result["value"]]


# -- certificate ---------------------------------------------------------------------------------


def test_a_certificate_given_as_pem_text(cli):
    run = cli.invoke("list_groups", {}, certificate(cli.emu, certificate=CERT.pem), env=CLEAN)
    assert run.code == 0, run.stderr
    assert listed(run) == ["Sales Analytics", "Operations"]
    assert grants(run) == [("private_key_jwt", "certificate", 200)]


def test_a_certificate_from_a_file_and_the_token_kept_for_the_next_call(cli, tmp_path):
    pem = tmp_path / "publisher.pem"
    pem.write_text(CERT.pem)
    connection = certificate(cli.emu, certificate_path=str(pem))
    requests = [
        {"id": str(n), "action": "list_groups", "inputs": {}, "connection": connection}
        for n in range(3)
    ]
    run = cli.serve(requests)
    assert run.code == 0, run.stderr
    assert all(r["ok"] for r in run.responses), run.responses
    assert grants(run) == [("private_key_jwt", "certificate", 200)]  # one token for the worker


def test_a_key_alone_with_the_thumbprint_from_the_portal(cli):
    values = {"certificate": CERT.key_pem, "certificate_thumbprint": CERT.sha1_hex.upper()}
    run = cli.invoke("list_groups", {}, certificate(cli.emu, **values), env=CLEAN)
    assert run.code == 0, run.stderr


def test_a_pem_whose_key_is_not_the_certificates_is_refused_before_any_request(cli):
    mixed = OTHER.key_pem + CERT.cert_pem
    run = cli.invoke("list_groups", {}, certificate(cli.emu, certificate=mixed), env=CLEAN)
    assert run.code == 2
    assert run.error["type"] == "invalid_connection"
    assert "not the certificate's" in run.error["message"]
    assert run.log == []


def check(cli, tmp_path, connection, env=None):
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(connection))
    return cli.run(["check", "--connection", str(path)], "", {**CLEAN, **(env or {})}, plain=True)


def test_check_says_a_certificate_is_not_registered_and_shows_its_thumbprint(cli, tmp_path):
    run = check(cli, tmp_path, certificate(cli.emu, certificate=OTHER.pem))
    assert run.code == 1
    assert "AADSTS700027" in run.stdout
    assert OTHER.sha256_hex.upper() in run.stdout  # the thumbprint the assertion named
    assert "Certificate not registered" in run.stdout
    assert "Certificates & secrets" in run.stdout


def test_check_says_the_thumbprint_names_another_certificate(cli, tmp_path):
    # The thumbprint of the registered certificate, with another certificate's key.
    values = {"certificate": OTHER.key_pem, "certificate_thumbprint": CERT.sha1_hex}
    run = check(cli, tmp_path, certificate(cli.emu, **values))
    assert run.code == 1
    assert "failed signature validation" in run.stdout
    assert "Wrong thumbprint or key" in run.stdout


def test_check_shows_the_certificate_it_signs_with(cli, tmp_path):
    run = check(cli, tmp_path, certificate(cli.emu, certificate=CERT.pem))
    assert run.code == 0, run.stdout + run.stderr
    assert f"thumbprint {CERT.sha1_hex.upper()}" in run.stdout
    assert "CN=reports-publisher" in run.stdout
    assert "the connection works" in run.stdout


# -- federated -----------------------------------------------------------------------------------


def test_a_federated_token_from_a_file(cli, tmp_path):
    token = tmp_path / "token"
    token.write_text(cli.emu.issuer_token() + "\n")
    connection = federated(cli.emu, client_assertion_file=str(token))
    run = cli.invoke("list_groups", {}, connection, env=CLEAN)
    assert run.code == 0, run.stderr
    assert grants(run) == [("private_key_jwt", "federated", 200)]


def test_a_federated_token_from_the_file_kubernetes_names(cli, tmp_path):
    token = tmp_path / "azure-identity-token"
    token.write_text(cli.emu.issuer_token())
    env = {**CLEAN, "AZURE_FEDERATED_TOKEN_FILE": str(token)}
    run = cli.invoke("list_groups", {}, federated(cli.emu), env=env)
    assert run.code == 0, run.stderr


def test_a_federated_token_asked_from_the_ci_oidc_endpoint(cli):
    urls = cli.emu.urls
    cli.secrets.add(urls["oidc_request_token"])
    env = {
        **CLEAN,
        "ACTIONS_ID_TOKEN_REQUEST_URL": urls["oidc_request_url"],
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": urls["oidc_request_token"],
    }
    run = cli.invoke("list_groups", {}, federated(cli.emu), env=env)
    assert run.code == 0, run.stderr
    assert grants(run) == [("private_key_jwt", "federated", 200)]


def test_no_federated_token_anywhere_names_every_place_tried(cli):
    run = cli.invoke("list_groups", {}, federated(cli.emu), env=CLEAN)
    assert run.code == 2
    assert run.error["type"] == "invalid_connection"
    message = run.error["message"]
    for place in ("AZURE_FEDERATED_TOKEN_FILE", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        assert place in message
    assert run.log == []


def test_a_ci_endpoint_that_refuses_the_job(cli):
    env = {
        **CLEAN,
        "ACTIONS_ID_TOKEN_REQUEST_URL": cli.emu.urls["oidc_request_url"],
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-the-request-token",
    }
    run = cli.invoke("list_groups", {}, federated(cli.emu), env=env)
    assert run.code == 1
    assert run.error["type"] == "auth_error"
    assert "OIDC token endpoint" in run.error["message"]
    assert "id-token: write" in run.error["hint"]


def test_check_says_the_issuer_is_not_trusted(cli, tmp_path):
    with running() as elsewhere:
        foreign = elsewhere.issuer_token(subject=SUBJECT)
    run = check(cli, tmp_path, federated(cli.emu, client_assertion=foreign))
    cli.secrets.add(foreign)
    assert run.code == 1
    assert "AADSTS700211" in run.stdout
    assert "Untrusted issuer" in run.stdout


def test_check_says_the_subject_is_not_trusted(cli, tmp_path):
    other = cli.emu.issuer_token(subject="repo:contoso/reports:pull_request")
    cli.secrets.add(other)
    run = check(cli, tmp_path, federated(cli.emu, client_assertion=other))
    assert run.code == 1
    assert "AADSTS700213" in run.stdout
    assert "Unknown subject" in run.stdout


# -- managed identity ----------------------------------------------------------------------------


def test_managed_identity_through_the_instance_metadata_service(cli):
    env = {**CLEAN, "AZURE_POD_IDENTITY_AUTHORITY_HOST": cli.emu.urls["imds_url"]}
    run = cli.invoke("list_groups", {}, managed(cli.emu), env=env)
    assert run.code == 0, run.stderr
    asked = [e for e in run.log if e.get("managed_identity")]
    system = cli.emu.managed_identities()[0]["client_id"]
    assert [(e["managed_identity"], e["client_id"], e["status"]) for e in asked] == [
        ("imds", system, 200)
    ]


def test_a_user_assigned_identity_on_app_service(cli):
    urls = cli.emu.urls
    cli.secrets.add(urls["identity_header"])
    env = {
        **CLEAN,
        "IDENTITY_ENDPOINT": urls["identity_endpoint"],
        "IDENTITY_HEADER": urls["identity_header"],
    }
    connection = managed(cli.emu, managed_identity_client_id=UAMI)
    run = cli.invoke("list_groups", {}, connection, env=env)
    assert run.code == 0, run.stderr
    asked = [e for e in run.log if e.get("managed_identity")]
    assert [(e["managed_identity"], e["client_id"]) for e in asked] == [("app_service", UAMI)]


def test_an_identity_the_host_does_not_have(cli):
    env = {**CLEAN, "AZURE_POD_IDENTITY_AUTHORITY_HOST": cli.emu.urls["imds_url"]}
    connection = managed(cli.emu, managed_identity_client_id="not-assigned")
    run = cli.invoke("list_groups", {}, connection, env=env)
    assert run.code == 1
    assert run.error["type"] == "auth_error"
    assert "Identity not found" in run.error["message"]
