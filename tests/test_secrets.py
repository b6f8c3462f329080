"""No secret in stdout (outside ``token``), stderr or the log, debug mode included.

Each scenario runs the real command in-process (``invoke -v`` / ``serve -v``, the actions with
``debug_request: true``) against mocked Power BI and Entra endpoints, and scans everything it
wrote for every secret the call knew or obtained.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from certificates import make_certificate
from connectorkit.cli import main
from connectorkit.core import _redact

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "packs" / "powerbi"
API = "https://api.powerbi.com/v1.0/myorg"
USER_TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
SP_TOKEN_URL = "https://login.microsoftonline.com/tenant-sp/oauth2/v2.0/token"
CLIENT_SECRET = "cs~SECRET~client~0001"
OLD_ACCESS = "eyJ-SECRET-old-access-0002"
OLD_REFRESH = "0.A-SECRET-old-refresh-0003"
NEW_ACCESS = "eyJ-SECRET-new-access-0004"
NEW_REFRESH = "0.A-SECRET-new-refresh-0005"
SP_ACCESS = "eyJ-SECRET-sp-access-0006"
CERT = make_certificate("secret-scan")
FEDERATED = "eyJ-SECRET-federated-token-0007.payload.signature"
IDENTITY_HEADER = "ih-SECRET-identity-header-0008"
SECRETS = (
    CLIENT_SECRET, OLD_ACCESS, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH, SP_ACCESS,
    CERT.key_pem, FEDERATED, IDENTITY_HEADER,
)  # fmt: skip


def user(expires_in=3600):
    return {
        "key": "oauth2",
        "values": {"client_id": "app-id-1", "client_secret": CLIENT_SECRET, "tenant_id": "contoso"},
        "token": {
            "access_token": OLD_ACCESS,
            "refresh_token": OLD_REFRESH,
            "expires_at": int(time.time()) + expires_in,
            "token_type": "Bearer",
        },
    }


def service_principal():
    return {
        "key": "client_credentials",
        "values": {"tenant_id": "tenant-sp", "client_id": "sp-id", "client_secret": CLIENT_SECRET},
    }


def request(action="list_datasets", connection=None, **inputs):
    return {
        "id": "r1",
        "action": action,
        "inputs": {"debug_request": True, **inputs},
        "connection": connection or user(),
    }


def refreshed():
    return {
        "access_token": NEW_ACCESS,
        "refresh_token": NEW_REFRESH,
        "expires_in": 3600,
        "token_type": "Bearer",
    }


@pytest.fixture(autouse=True)
def _fresh_process():
    # The command configures the "connectorkit" logger for the process; undo it for other tests.
    logger = logging.getLogger("connectorkit")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    # Each scenario starts as a new process would: no secret remembered from an earlier one.
    _redact.forget_all()
    yield
    _redact.forget_all()
    logger.handlers[:], logger.propagate, logger.level = saved


@pytest.fixture
def run(monkeypatch, capsys, caplog):
    """Run the command with ``lines`` on stdin; return (exit code, responses, stderr + log)."""
    caplog.set_level(logging.DEBUG)

    def go(*lines, command="invoke"):
        stdin = "".join(json.dumps(line) + "\n" for line in lines)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main([command, "-v", "--pack", str(PACK)])
        out, err = capsys.readouterr()
        responses = [json.loads(line) for line in out.splitlines()]
        shown = [json.dumps({k: v for k, v in r.items() if k != "token"}) for r in responses]
        everything = "\n".join([*shown, err, caplog.text])
        go.shown = everything  # type: ignore[attr-defined]  # for secrets known only afterwards
        hidden(everything, SECRETS)
        assert "→ " in err  # the debug output was on
        return code, responses, err

    return go


def hidden(text, secrets):
    """No secret in ``text``, in any representation (as is, percent/form-encoded, JSON-escaped,
    base64; a PEM also line by line)."""
    for secret in secrets:
        for form in _redact.encodings_of(secret):
            assert form not in text, f"a secret leaked: …{secret[-4:]} as {form!r}"


def sent_assertion(httpx_mock, url):
    """The client assertion the command signed and sent (known only once it has run)."""
    body = httpx_mock.get_requests(url=url)[0].content.decode()
    return parse_qs(body)["client_assertion"][0]


def certificate_principal():
    return {
        "key": "service_principal_certificate",
        "values": {"tenant_id": "tenant-sp", "client_id": "sp-id", "certificate": CERT.pem},
    }


def federated_principal():
    return {
        "key": "service_principal_federated",
        "values": {"tenant_id": "tenant-sp", "client_id": "sp-id", "client_assertion": FEDERATED},
    }


def test_success(run, httpx_mock):
    httpx_mock.add_response(url=f"{API}/datasets", json={"value": [{"id": "d1"}]})
    code, [response], err = run(request())
    assert (code, response["ok"]) == (0, True)
    assert "token" not in response
    assert "Authorization: ***" in err or "authorization: ***" in err


def test_proactive_refresh_returns_the_new_token_only_in_its_field(run, httpx_mock):
    httpx_mock.add_response(url=USER_TOKEN_URL, json=refreshed())
    httpx_mock.add_response(url=f"{API}/datasets", json={"value": []})
    code, [response], _ = run(request(connection=user(expires_in=10)))
    assert code == 0
    assert response["token"]["access_token"] == NEW_ACCESS
    assert response["token"]["refresh_token"] == NEW_REFRESH


def test_refresh_after_a_401(run, httpx_mock):
    httpx_mock.add_response(url=f"{API}/datasets", status_code=401)
    httpx_mock.add_response(url=USER_TOKEN_URL, json=refreshed())
    httpx_mock.add_response(url=f"{API}/datasets", json={"value": []})
    code, [response], _ = run(request())
    assert code == 0
    assert response["token"]["access_token"] == NEW_ACCESS


def test_a_refused_refresh(run, httpx_mock):
    httpx_mock.add_response(
        url=USER_TOKEN_URL,
        status_code=400,
        json={
            "error": "invalid_grant",
            "error_description": f"AADSTS70008: the refresh token {OLD_REFRESH} has expired",
        },
    )
    code, [response], _ = run(request(connection=user(expires_in=-5)))
    assert code == 1
    assert response["error"]["type"] == "auth_error"
    assert response["error"]["oauth_error"] == "invalid_grant"
    assert "token" not in response


def test_a_token_endpoint_that_cannot_be_reached(run, httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError(f"refused {CLIENT_SECRET}"), url=USER_TOKEN_URL)
    code, [response], _ = run(request(connection=user(expires_in=-5)))
    assert code == 1
    assert response["error"]["type"] == "network_error"


def test_an_http_error_whose_body_echoes_the_token(run, httpx_mock):
    httpx_mock.add_response(
        url=f"{API}/datasets",
        status_code=400,
        json={"error": {"code": "BadRequest", "message": f"bad header Bearer {OLD_ACCESS}"}},
    )
    code, [response], _ = run(request())
    assert code == 1
    assert response["error"]["type"] == "http_error"
    assert response["error"]["message"] == "bad header Bearer ***"


def test_a_raw_request_in_debug_mode(run, httpx_mock):
    httpx_mock.add_response(url=f"{API}/imports?x=1", method="POST", json={"id": "i1"})
    code, [response], err = run(
        request(
            "raw_request",
            url="/imports",
            method="POST",
            data={"a": 1},
            query_params={"x": "1"},
            headers={"X-Trace": "t1"},
        )
    )
    assert code == 0
    assert response["result"]["data"] == {"id": "i1"}
    assert "/imports" in err
    assert "x-trace: t1" in err


def test_a_raw_request_with_a_refresh_on_the_way(run, httpx_mock):
    httpx_mock.add_response(url=USER_TOKEN_URL, json=refreshed())
    httpx_mock.add_response(url=f"{API}/imports", json={"value": []})
    code, [response], _ = run(request("raw_request", connection=user(expires_in=0)))
    assert code == 0
    assert response["token"]["refresh_token"] == NEW_REFRESH


def test_a_service_principal(run, httpx_mock):
    httpx_mock.add_response(
        url=SP_TOKEN_URL,
        json={"access_token": SP_ACCESS, "expires_in": 3599, "token_type": "Bearer"},
    )
    group = "c0ffee00-5a1e-4a1a-8a1b-000000000001"
    httpx_mock.add_response(url=f"{API}/groups/{group}/datasets", json={"value": []})
    code, [response], _ = run(request(connection=service_principal(), group_id=group))
    assert code == 0
    assert response["token"]["access_token"] == SP_ACCESS


def test_serve_refreshes_a_shared_expired_token_once(run, httpx_mock):
    def slow_token_endpoint(_request):
        time.sleep(0.2)
        return httpx.Response(200, json=refreshed())

    httpx_mock.add_callback(slow_token_endpoint, url=USER_TOKEN_URL)
    httpx_mock.add_response(url=f"{API}/datasets", json={"value": []}, is_reusable=True)
    lines = [request(connection=user(expires_in=0)) for _ in range(4)]
    code, responses, _ = run(*lines, command="serve")
    assert code == 0
    assert [r["ok"] for r in responses] == [True] * 4
    assert {r["token"]["refresh_token"] for r in responses} == {NEW_REFRESH}
    assert len(httpx_mock.get_requests(url=USER_TOKEN_URL)) == 1


GROUP = "c0ffee00-5a1e-4a1a-8a1b-000000000001"


def test_a_certificate_service_principal_shows_neither_key_nor_assertion(run, httpx_mock):
    httpx_mock.add_response(
        url=SP_TOKEN_URL,
        json={"access_token": SP_ACCESS, "expires_in": 3599, "token_type": "Bearer"},
    )
    httpx_mock.add_response(url=f"{API}/groups/{GROUP}/datasets", json={"value": []})
    code, [response], _ = run(request(connection=certificate_principal(), group_id=GROUP))
    assert (code, response["ok"]) == (0, True)
    assertion = sent_assertion(httpx_mock, SP_TOKEN_URL)
    assert assertion.count(".") == 2
    hidden(run.shown, [assertion])


def test_a_token_endpoint_echoing_the_assertion(run, httpx_mock):
    def echo(request):
        assertion = parse_qs(request.content.decode())["client_assertion"][0]
        return httpx.Response(
            401,
            json={
                "error": "invalid_client",
                "error_description": f"AADSTS700027: bad assertion {assertion} {CERT.key_pem}",
            },
        )

    httpx_mock.add_callback(echo, url=SP_TOKEN_URL)
    code, [response], _ = run(request(connection=certificate_principal(), group_id=GROUP))
    assert code == 1
    assert response["error"]["oauth_error"] == "invalid_client"
    assert "bad assertion ***" in response["error"]["oauth_error_description"]
    hidden(run.shown, [sent_assertion(httpx_mock, SP_TOKEN_URL)])


def test_a_federated_token_echoed_back(run, httpx_mock):
    httpx_mock.add_response(
        url=SP_TOKEN_URL,
        status_code=400,
        json={"error": "invalid_request", "error_description": f"AADSTS700213: {FEDERATED}"},
    )
    code, [response], _ = run(request(connection=federated_principal(), group_id=GROUP))
    assert code == 1
    assert response["error"]["oauth_error_description"] == "AADSTS700213: ***"


def test_a_managed_identity_endpoint_echoing_its_secret(run, httpx_mock, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    httpx_mock.add_response(
        url=httpx.URL(
            "http://127.0.0.1:9/msi/token",
            params={
                "api-version": "2019-08-01",
                "resource": "https://analysis.windows.net/powerbi/api",
            },
        ),
        status_code=400,
        json={"statusCode": 400, "message": f"bad header {IDENTITY_HEADER}"},
    )
    connection = {"key": "managed_identity", "values": {}}
    code, [response], _ = run(request(connection=connection, group_id=GROUP))
    assert code == 1
    assert response["error"]["message"].endswith("bad header ***")


class EchoService(BaseHTTPRequestHandler):
    """A token endpoint, and a service that echoes the request's Authorization header."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.startswith("/token"):
            body = {"access_token": SP_ACCESS, "expires_in": 3600, "token_type": "Bearer"}
        else:
            body = {"echo": self.headers.get("Authorization")}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST  # noqa: N815 - the name http.server calls


@pytest.mark.e2e
def test_a_token_another_process_renewed_is_masked_when_the_service_echoes_it(tmp_path):
    # Two `invoke -v` processes share a state store: the first fetches the service principal's
    # token, the second takes it from the store. A service that echoes the bearer token in its
    # body must find it masked in the second's debug output too, not only in the first's.
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoService)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    request = {
        "action": "raw_request",
        "inputs": {"url": "/echo", "method": "GET", "debug_request": True},
        "connection": {
            "key": "client_credentials",
            "values": {"tenant_id": "t", "client_id": "app", "client_secret": CLIENT_SECRET,
                       "token_url": f"{base}/token", "base_url": base},
        },
    }  # fmt: skip
    env = {
        "PATH": str(Path(sys.executable).parent),
        "CONNECTORKIT_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}",
        "NO_PROXY": "127.0.0.1",
        # The runtime the tests import, should it not be the installed one (a scratch copy).
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    command = [sys.executable, "-m", "connectorkit", "invoke", "-v", "--pack", str(PACK)]
    try:
        runs = [
            subprocess.run(
                command,
                input=json.dumps(request),
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
            )
            for _ in range(2)
        ]
    finally:
        server.shutdown()
        server.server_close()
    first, second = runs
    assert json.loads(first.stdout)["token"]["access_token"] == SP_ACCESS  # fetched
    assert "token" not in json.loads(second.stdout)  # taken from the store: nothing renewed
    assert '{"echo": "Bearer ***"}' in second.stderr  # the echoed body, as logged
    for done in runs:
        assert SP_ACCESS not in done.stderr
        assert CLIENT_SECRET not in done.stderr + done.stdout


def test_what_is_secret_is_what_the_connection_definition_says(tmp_path):
    """Secret-ness comes from the pack's connection definition alone: a value it marks secret
    is masked whatever its name, and one it does not mark is shown, in the studio's recipes,
    in `connections show` and in `describe`."""
    from conftest import copy_pack  # noqa: PLC0415
    from connectorkit.authoring._catalog import describe  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415
    from connectorkit.studio._app import StudioApp  # noqa: PLC0415
    from connectorkit.studio._runs import RunBook  # noqa: PLC0415
    from connectorkit.studio._watch import PackView  # noqa: PLC0415

    root = copy_pack(tmp_path / "pack")
    definition = root / "connections" / "client_credentials.yaml"
    text = definition.read_text(encoding="utf-8")
    text = text.replace("    secret: true\n    format: password\n", "")
    text = text.replace(
        "  - key: client_id\n    label: Client ID\n",
        "  - key: client_id\n    label: Client ID\n    secret: true\n",
    )
    definition.write_text(text, encoding="utf-8")
    pack = load_pack(root)
    assert pack.secret_keys("client_credentials") == {"client_id"}
    assert pack.secret_keys("no-such-connection") is None  # then nothing is shown in clear
    schema = next(c for c in describe(pack)["connections"] if c["key"] == "client_credentials")
    assert schema["values"]["properties"]["client_id"]["writeOnly"] is True
    assert "writeOnly" not in schema["values"]["properties"]["client_secret"]

    runner = Runner()
    try:
        app = StudioApp(PackView(root), RunBook(runner), [])
        values = {
            "tenant_id": "contoso",
            "client_id": "app-id-visible-nowhere",
            "client_secret": "not-marked-secret",
            "token_url": "http://127.0.0.1:9/token",  # nothing answers: the run ends at once
            "base_url": "http://127.0.0.1:9/v1.0/myorg",
        }
        run = app.start(
            {
                "action": "list_groups",
                "inputs": {},
                "connection": {"key": "client_credentials", "values": values},
            }
        )
        shown = json.loads(run.make_recipes()["connection"])["values"]
        assert shown["client_id"] == _redact.MASK
        assert shown["client_secret"] == "not-marked-secret"
        assert "app-id-visible-nowhere" not in run.make_recipes()["invoke"]
        # The run goes on in its thread: over before the next test, whose requests it would join.
        assert run.done.wait(60)
    finally:
        runner.close()
