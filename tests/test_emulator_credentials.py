"""The emulator's app credentials as Entra checks them, over real HTTP: certificates
(`private_key_jwt`), federated credentials with the test issuer, and each AADSTS refusal."""

from __future__ import annotations

import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from certificates import JWT_BEARER, assertion, make_certificate
from powerbi_emulator import DEFAULT_CLIENT, ClientApp, FederatedCredential, running

PBI = "https://analysis.windows.net/powerbi/api"
APP_SCOPE = f"{PBI}/.default"
CERT = make_certificate("cert-app")
OTHER = make_certificate("not-registered")
EXPIRED = make_certificate("expired", days=-1)
SUBJECT = "repo:contoso/reports:ref:refs/heads/main"
CERT_APP = ClientApp("cert-app", None, name="Cert app", certificates=(CERT.cert_pem,))
EXPIRED_APP = ClientApp("expired-app", None, certificates=(EXPIRED.cert_pem,))
FED_APP = ClientApp("fed-app", None, federated_credentials=(FederatedCredential(SUBJECT),))
PUBLIC = ClientApp("public-app", None)


@pytest.fixture(scope="module")
def emu():
    with running(clients=(DEFAULT_CLIENT, CERT_APP, EXPIRED_APP, FED_APP, PUBLIC)) as handle:
        yield handle


@pytest.fixture
def http():
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def by_assertion(http, emu, client_id, client_assertion, **extra):
    data = {
        "grant_type": "client_credentials",
        "scope": APP_SCOPE,
        "client_id": client_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion,
        **extra,
    }
    return http.post(emu.token_url, data={k: v for k, v in data.items() if v is not None})


def refused(response, status, error, aadsts):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert body["error_codes"] == [aadsts], body
    assert body["error_description"].startswith(f"AADSTS{aadsts}: ")
    return body["error_description"]


def last_grant(emu):
    return [e for e in emu.requests(kind="identity") if "grant_type" in e][-1]


def groups(http, emu, access_token):
    return http.get(f"{emu.base_url}/groups", headers={"Authorization": f"Bearer {access_token}"})


def claims_of(http, emu, token):
    keys = KeySet.import_key_set(http.get(f"{emu.url}/{emu.tenant}/discovery/v2.0/keys").json())
    return jwt.decode(token, keys).claims


# -- certificates ------------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "thumbprint"), [("RS256", "x5t"), ("PS256", "x5t#S256")])
def test_a_certificate_assertion_gets_an_app_token_the_api_accepts(emu, http, alg, thumbprint):
    signed = assertion(CERT, "cert-app", emu.token_url, alg=alg, thumbprint=thumbprint)
    answer = by_assertion(http, emu, "cert-app", signed)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = claims_of(http, emu, token)
    assert (claims["appid"], claims["idtyp"], claims["aud"]) == ("cert-app", "app", PBI)
    assert claims["app_displayname"] == "Cert app"
    assert groups(http, emu, token).status_code == 200
    logged = last_grant(emu)
    assert logged["client_auth"] == "private_key_jwt"
    assert logged["credential"] == "certificate"
    assert signed not in str(emu.requests())


@pytest.mark.parametrize(
    "audience",
    [
        "{url}/{tenant}/oauth2/v2.0/token",
        "{url}/{tenant}/oauth2/token",
        "{url}/{tenant_id}/oauth2/v2.0/token",
        "{url}/{tenant}/v2.0",
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    ],
)
def test_the_audience_may_name_the_tenant_token_endpoint_or_issuer(emu, http, audience):
    tenant_id = claims_of(http, emu, emu.issue_token(principal="app")["access_token"])["tid"]
    aud = audience.format(url=emu.url, tenant=emu.tenant, tenant_id=tenant_id)
    answer = by_assertion(http, emu, "cert-app", assertion(CERT, "cert-app", aud))
    assert answer.status_code == 200, answer.text


def test_an_unregistered_certificate_is_700027_naming_its_thumbprint(emu, http):
    answer = by_assertion(http, emu, "cert-app", assertion(OTHER, "cert-app", emu.token_url))
    description = refused(answer, 401, "invalid_client", 700027)
    assert "is not registered on application" in description
    assert OTHER.sha1_hex.upper() in description
    assert CERT.sha1_hex.upper() in description  # the registered one, to compare


def test_a_registered_thumbprint_with_another_key_fails_signature_validation(emu, http):
    # The x5t names the registered certificate, but the signature is another key's.
    forged = assertion(CERT, "cert-app", emu.token_url, key=OTHER.key())
    description = refused(
        by_assertion(http, emu, "cert-app", forged), 401, "invalid_client", 700027
    )
    assert "failed signature validation" in description


def test_an_expired_certificate_is_refused(emu, http):
    answer = by_assertion(
        http, emu, "expired-app", assertion(EXPIRED, "expired-app", emu.token_url)
    )
    assert "is expired on application" in refused(answer, 401, "invalid_client", 700027)


@pytest.mark.parametrize(
    ("change", "status", "error", "aadsts"),
    [
        ({"thumbprint": None}, 401, "invalid_client", 700027),
        ({"alg": "HS256"}, 401, "invalid_client", 700027),
        ({"claims": {"iss": "someone-else", "sub": "someone-else"}}, 401, "invalid_client", 700021),
        ({"claims": {"aud": "https://example.com/token"}}, 401, "invalid_client", 700023),
        ({"claims": {"exp": int(time.time()) - 3600}}, 401, "invalid_client", 700024),
        ({"claims": {"nbf": int(time.time()) + 3600}}, 401, "invalid_client", 700024),
    ],
    ids=["no-thumbprint", "hs256", "other-app", "audience", "expired", "not-yet-valid"],
)
def test_assertion_refusals_carry_entra_codes(emu, http, change, status, error, aadsts):
    options = dict(change)
    if options.get("alg") == "HS256":
        signed = _hs256(CERT)
    else:
        signed = assertion(CERT, "cert-app", emu.token_url, **options)
    refused(by_assertion(http, emu, "cert-app", signed), status, error, aadsts)


def _hs256(cert):
    from joserfc.jwk import OctKey  # noqa: PLC0415

    now = int(time.time())
    claims = {"iss": "cert-app", "sub": "cert-app", "aud": "x", "exp": now + 600}
    return jwt.encode({"alg": "HS256", "x5t": cert.x5t}, claims, OctKey.generate_key(256))


@pytest.mark.parametrize(
    ("form", "status", "error", "aadsts"),
    [
        ({"client_assertion": "not-a-jwt"}, 400, "invalid_request", 50027),
        ({"client_assertion_type": None}, 400, "invalid_request", 900144),
        ({"client_assertion_type": "jwt"}, 400, "invalid_request", 90014),
        ({"client_secret": "demo-secret"}, 400, "invalid_request", 90014),
        ({"client_id": "public-app"}, 401, "invalid_client", 700025),
        ({"client_id": "nobody"}, 400, "unauthorized_client", 700016),
    ],
    ids=["malformed", "no-type", "bad-type", "with-secret", "public-client", "unknown-app"],
)
def test_malformed_assertion_requests(emu, http, form, status, error, aadsts):
    signed = assertion(CERT, "cert-app", emu.token_url)
    fields = {"client_id": "cert-app", "client_assertion": signed} | form
    client_id = fields.pop("client_id")
    answer = by_assertion(http, emu, client_id, fields.pop("client_assertion"), **fields)
    refused(answer, status, error, aadsts)


def test_an_app_with_only_a_certificate_takes_no_secret(emu, http):
    data = {"grant_type": "client_credentials", "scope": APP_SCOPE, "client_id": "cert-app"}
    refused(http.post(emu.token_url, data=data), 401, "invalid_client", 7000218)
    wrong = http.post(emu.token_url, data={**data, "client_secret": "guess"})
    refused(wrong, 401, "invalid_client", 7000215)


def test_certificates_are_registered_and_removed_through_the_control_api(emu, http):
    fresh = make_certificate("added-later")
    signed = assertion(fresh, "cert-app", emu.token_url, thumbprint="x5t#S256")
    refused(by_assertion(http, emu, "cert-app", signed), 401, "invalid_client", 700027)
    added = emu.add_certificate("cert-app", fresh.cert_pem)
    assert added["thumbprint"] == fresh.sha1_hex.upper()
    assert added["x5t#S256"] == fresh.x5t_s256
    assert by_assertion(http, emu, "cert-app", signed).status_code == 200
    listed = {a["client_id"]: a for a in emu.apps()}["cert-app"]
    assert {c["thumbprint"] for c in listed["certificates"]} == {
        CERT.sha1_hex.upper(),
        fresh.sha1_hex.upper(),
    }
    assert listed["public_client"] is False
    assert listed["has_secret"] is False
    removed = http.delete(f"{emu.url}/_emulator/apps/cert-app/certificates/{added['thumbprint']}")
    assert removed.status_code == 204
    refused(by_assertion(http, emu, "cert-app", signed), 401, "invalid_client", 700027)
    bad = http.post(f"{emu.url}/_emulator/apps/cert-app/certificates", json={"certificate": "nope"})
    assert bad.status_code == 400
    assert "not a PEM X.509 certificate" in bad.json()["error"]["message"]


def test_a_certificate_authenticates_the_code_redemption_of_a_confidential_app(emu, http):
    redirect = "http://localhost:8765/callback"
    answer = http.get(
        emu.authorize_url,
        params={
            "client_id": "cert-app",
            "response_type": "code",
            "redirect_uri": redirect,
            "scope": f"{PBI}/Dataset.Read.All offline_access",
        },
    )
    code = httpx.URL(answer.headers["location"]).params["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": "cert-app",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion(CERT, "cert-app", emu.token_url),
    }
    redeemed = http.post(emu.token_url, data=data)
    assert redeemed.status_code == 200, redeemed.text
    assert "refresh_token" in redeemed.json()


# -- federated credentials ---------------------------------------------------------------------


def test_a_federated_token_of_the_test_issuer_gets_an_app_token(emu, http):
    issued = emu.issuer_token()
    claims = jwt.decode(
        issued, KeySet.import_key_set(http.get(f"{emu.urls['issuer']}/keys").json())
    )
    assert claims.claims["iss"] == emu.urls["issuer"]
    assert claims.claims["sub"] == SUBJECT
    assert claims.claims["aud"] == "api://AzureADTokenExchange"
    answer = by_assertion(http, emu, "fed-app", issued)
    assert answer.status_code == 200, answer.text
    assert groups(http, emu, answer.json()["access_token"]).status_code == 200
    logged = last_grant(emu)
    assert (logged["client_auth"], logged["credential"]) == ("private_key_jwt", "federated")


def test_the_issuer_publishes_its_discovery_document(emu, http):
    config = http.get(f"{emu.urls['issuer']}/.well-known/openid-configuration").json()
    assert config["issuer"] == emu.urls["issuer"]
    assert config["jwks_uri"] == f"{emu.urls['issuer']}/keys"


@pytest.mark.parametrize(
    ("token", "aadsts", "words"),
    [
        ({"subject": "repo:contoso/reports:pull_request"}, 700213, "subject"),
        ({"audience": "api://SomethingElse"}, 700212, "audience"),
        ({"expires_in": -3600}, 700024, "valid time range"),
    ],
    ids=["subject", "audience", "expired"],
)
def test_federated_refusals_carry_entra_codes(emu, http, token, aadsts, words):
    answer = by_assertion(http, emu, "fed-app", emu.issuer_token(**token))
    assert words in refused(answer, 400, "invalid_request", aadsts)


def test_an_untrusted_issuer_is_700211(emu, http):
    with running() as other:  # another emulator: its issuer is not the one the app trusts
        issued = other.issuer_token()
    description = refused(
        by_assertion(http, emu, "fed-app", issued), 400, "invalid_request", 700211
    )
    assert f"'{other.urls['issuer']}'" in description


def test_an_external_issuer_is_trusted_through_its_published_keys(emu, http):
    with running() as other:
        emu.add_federated_credential(
            "fed-app", "system:serviceaccount:reports:publisher", issuer=other.urls["issuer"]
        )
        issued = other.issuer_token(subject="system:serviceaccount:reports:publisher")
        answer = by_assertion(http, emu, "fed-app", issued)
        assert answer.status_code == 200, answer.text
        # A token claiming that issuer but signed by a key it does not publish is refused.
        forged = assertion(
            OTHER,
            "x",
            "api://AzureADTokenExchange",
            claims={"iss": other.urls["issuer"], "sub": "system:serviceaccount:reports:publisher"},
            header={"kid": "not-the-issuer-key"},
        )
        refused(by_assertion(http, emu, "fed-app", forged), 400, "invalid_request", 5000811)


def test_an_entra_token_cannot_be_a_federated_credential(emu, http):
    access = emu.issue_token(principal="app")["access_token"]
    refused(by_assertion(http, emu, "fed-app", access), 400, "invalid_request", 700222)


def test_federated_credentials_through_the_control_api(emu, http):
    subject = "repo:contoso/reports:environment:production"
    issued = emu.issuer_token(subject=subject)
    refused(by_assertion(http, emu, "cert-app", issued), 400, "invalid_request", 700211)
    added = emu.add_federated_credential("cert-app", subject, name="production")
    assert added == {
        "name": "production",
        "issuer": None,
        "subject": subject,
        "audiences": ["api://AzureADTokenExchange"],
    }
    assert by_assertion(http, emu, "cert-app", issued).status_code == 200
    gone = http.delete(f"{emu.url}/_emulator/apps/cert-app/federated-credentials/production")
    assert gone.status_code == 204
    refused(by_assertion(http, emu, "cert-app", issued), 400, "invalid_request", 700211)
    missing = http.post(f"{emu.url}/_emulator/apps/cert-app/federated-credentials", json={})
    assert missing.status_code == 400
    assert http.get(f"{emu.url}/_emulator/apps/nobody").status_code == 404


def test_the_ci_token_endpoint_answers_as_github_actions_does(emu, http):
    url = emu.urls["oidc_request_url"] + "&audience=api://AzureADTokenExchange"
    bearer = {"Authorization": f"bearer {emu.urls['oidc_request_token']}"}
    answer = http.get(url, headers=bearer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["count"] == 1
    assert by_assertion(http, emu, "fed-app", answer.json()["value"]).status_code == 200
    assert http.get(url).status_code == 401
    assert http.get(url, headers={"Authorization": "bearer wrong"}).status_code == 401
