"""OAuth 2.0 client authentication against a real authorization server from the npm registry
(oidc-provider, installed into tests/oidc by scripts/test): `private_key_jwt` with a key the
server knows from the client's JWKS, and `client_secret_basic` / `client_secret_post`, each
through the real `connectorkit` command; the server's own API takes the tokens."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from certificates import make_certificate
from connectorkit.core._redact import encodings_of

HERE = Path(__file__).parent
SERVER = HERE / "oidc" / "server.mjs"
PACK = HERE / "data" / "oidc_pack"
COMMAND = str(Path(sys.executable).parent / "connectorkit")
KEY = make_certificate("pkjwt-client")
STRANGER = make_certificate("stranger")
SECRET = "oidc-SECRET-client-0001"


def public_jwk(cert) -> dict:
    return {**RSAKey.import_key(cert.key_pem).as_dict(private=False), "alg": "RS256", "use": "sig"}


@pytest.fixture(scope="module")
def server():
    if not (HERE / "oidc" / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            "oidc-provider is not installed: scripts/test installs it (npm ci in tests/oidc)"
        )
    clients = [
        {
            "client_id": "pkjwt-app",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public_jwk(KEY)]},
        },
        {
            "client_id": "basic-app",
            "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": SECRET,
        },
        {
            "client_id": "post-app",
            "token_endpoint_auth_method": "client_secret_post",
            "client_secret": SECRET,
        },
    ]
    process = subprocess.Popen(
        [shutil.which("node") or "node", str(SERVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=SERVER.parent,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps({"clients": clients}) + "\n")
    process.stdin.flush()
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready:
        process.kill()
        pytest.fail("the OIDC server printed nothing within 30 s")
    urls = json.loads(process.stdout.readline())
    yield urls
    process.stdin.close()  # the server stops when its stdin closes
    process.wait(15)
    process.stdout.close()
    assert process.stderr is not None
    process.stderr.close()


def invoke(server, key: str, values: dict) -> tuple[int, dict, str]:
    request = {
        "action": "me",
        "inputs": {},
        "connection": {
            "key": key,
            "values": {"token_url": server["token_endpoint"], "base_url": server["api"], **values},
        },
    }
    env = {k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"}
    done = subprocess.run(
        [COMMAND, "invoke", "-v", "--pack", str(PACK)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**env, "NO_PROXY": "127.0.0.1"},
        timeout=60,
        check=False,
    )
    shown = done.stdout + done.stderr
    assert "Traceback" not in shown
    for secret in (SECRET, KEY.key_pem, STRANGER.key_pem):
        for form in encodings_of(secret):
            assert form not in shown, f"a secret shows as {form!r}"
    return done.returncode, json.loads(done.stdout), done.stderr


def test_private_key_jwt_with_the_key_the_server_knows(server):
    code, response, _ = invoke(
        server, "private_key_jwt", {"client_id": "pkjwt-app", "certificate": KEY.pem}
    )
    assert (code, response["ok"]) == (0, True), response
    assert response["result"] == {"client_id": "pkjwt-app", "scope": "api"}


def test_private_key_jwt_from_a_pem_file(server, tmp_path):
    pem = tmp_path / "client.pem"
    pem.write_text(KEY.key_pem)  # a key alone: a server that knows the key needs no certificate
    values = {"client_id": "pkjwt-app", "certificate_path": str(pem)}
    code, response, _ = invoke(server, "private_key_jwt", values)
    assert (code, response["ok"]) == (0, True), response


def test_private_key_jwt_signed_with_another_key_is_refused(server):
    values = {"client_id": "pkjwt-app", "certificate": STRANGER.pem}
    code, response, _ = invoke(server, "private_key_jwt", values)
    assert code == 1
    error = response["error"]
    assert error["type"] == "auth_error"
    assert error["oauth_error"] == "invalid_client"
    assert "the client assertion" in error["message"]  # what to check, not the client secret


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_secret_methods(server, method):
    client_id = "basic-app" if method == "client_secret_basic" else "post-app"
    code, response, _ = invoke(server, method, {"client_id": client_id, "client_secret": SECRET})
    assert (code, response["ok"]) == (0, True), response
    assert response["result"]["client_id"] == client_id
    wrong = {"client_id": client_id, "client_secret": "not-the-SECRET-0002"}
    code, response, _ = invoke(server, method, wrong)
    assert code == 1
    assert response["error"]["oauth_error"] == "invalid_client"
