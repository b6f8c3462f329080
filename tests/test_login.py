"""``connectorkit auth login``: the test plays the browser against the loopback receiver."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import pytest

from connectorkit.auth._login import run_login

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "packs" / "powerbi"
AUTHORIZE_URL = "https://login.example.test/contoso/oauth2/v2.0/authorize"
TOKEN_URL = "https://login.example.test/contoso/oauth2/v2.0/token"
DEFAULT_SCOPES = "https://analysis.windows.net/powerbi/api/Dataset.ReadWrite.All offline_access"
CLIENT_SECRET = "cs-SECRET-login-0001"
CODE = "code-SECRET-login-0002"
ACCESS = "at-SECRET-login-0003"
REFRESH = "rt-SECRET-login-0004"
FIXED = (CLIENT_SECRET, CODE, ACCESS, REFRESH)
ARGS = [
    "--pack",
    str(PACK),
    "--no-browser",
    "--set",
    "client_id=app-id-1",
    "--set",
    f"client_secret={CLIENT_SECRET}",
    "--set",
    f"authorize_url={AUTHORIZE_URL}",
    "--set",
    f"token_url={TOKEN_URL}",
]


class Login:
    """``run_login`` on a thread, with the streams it writes to."""

    def __init__(self, argv):
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)
        self.thread.start()

    def _run(self, argv):
        self.code = run_login(argv, stdout=self.stdout, stderr=self.stderr)

    def url(self) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.stderr.getvalue().splitlines():
                if line.startswith("https://"):
                    return line
            assert self.thread.is_alive(), self.stderr.getvalue()
            time.sleep(0.01)
        raise AssertionError("no sign-in URL on stderr")

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url()).query).items()}

    def wait(self) -> tuple[int, dict]:
        self.thread.join(15)
        assert not self.thread.is_alive()
        return self.code, json.loads(self.stdout.getvalue())


def browse(url: str) -> tuple[int, str]:
    """GET ``url`` on the loopback receiver (plain http.client: no proxy, no mock)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def redirect(login: Login, **params) -> tuple[int, str]:
    return browse(f"{login.query()['redirect_uri']}?{urlencode(params)}")


def token_body(**extra):
    return {
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": "Dataset.ReadWrite.All",
        **extra,
    }


@pytest.fixture(autouse=True)
def _no_secret_in_output(caplog, capsys, request):
    caplog.set_level(logging.DEBUG)
    request.node.secrets = list(FIXED)
    yield
    out, err = capsys.readouterr()
    for secret in request.node.secrets:
        assert secret not in caplog.text + out + err


def assert_clean(login: Login, *secrets: str, token_out: bool = False):
    stdout = login.stdout.getvalue()
    for secret in (*FIXED, *secrets):
        assert secret not in login.stderr.getvalue()
        if not token_out or secret in {CLIENT_SECRET, CODE, *secrets}:
            assert secret not in stdout


def test_login_prints_the_token_after_a_pkce_code_exchange(httpx_mock, request):
    httpx_mock.add_response(url=TOKEN_URL, method="POST", json=token_body())
    login = Login(ARGS)
    query = login.query()
    redirect_uri = query["redirect_uri"]
    port = urlsplit(redirect_uri).port
    assert redirect_uri == f"http://127.0.0.1:{port}/callback"
    assert urlsplit(login.url())._replace(query="").geturl() == AUTHORIZE_URL
    assert query["response_type"] == "code"
    assert query["client_id"] == "app-id-1"
    assert query["scope"] == DEFAULT_SCOPES
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32

    status, page = redirect(login, code=CODE, state=query["state"])
    code, token = login.wait()

    assert (status, code) == (200, 0)
    assert "Signed in" in page
    sent = dict(parse_qsl(httpx_mock.get_request().content.decode()))
    verifier = sent.pop("code_verifier")
    request.node.secrets.append(verifier)
    assert sent == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": redirect_uri,
        "scope": DEFAULT_SCOPES,
        "client_id": "app-id-1",
        "client_secret": CLIENT_SECRET,
    }
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == challenge.decode()
    assert token["access_token"] == ACCESS
    assert token["refresh_token"] == REFRESH
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "Dataset.ReadWrite.All"
    assert abs(token["expires_at"] - (time.time() + 3600)) < 30
    assert "signed in" in login.stderr.getvalue()
    assert_clean(login, verifier, token_out=True)


def test_a_redirect_with_a_wrong_state_is_refused_and_the_login_goes_on(httpx_mock):
    httpx_mock.add_response(url=TOKEN_URL, json=token_body())
    login = Login(ARGS)
    state = login.query()["state"]

    status, page = redirect(login, code="forged-code", state="not-" + state)
    assert status == 400
    assert "does not belong" in page
    assert "state does not match" in login.stderr.getvalue()
    status, _ = redirect(login, code=CODE)  # no state at all
    assert status == 400

    assert redirect(login, code=CODE, state=state)[0] == 200
    code, token = login.wait()
    assert code == 0
    assert token["access_token"] == ACCESS
    assert dict(parse_qsl(httpx_mock.get_request().content.decode()))["code"] == CODE


def test_only_the_callback_path_is_served():
    login = Login([*ARGS, "--timeout", "5"])
    origin = urlsplit(login.query()["redirect_uri"])
    assert browse(f"http://127.0.0.1:{origin.port}/favicon.ico")[0] == 404
    redirect(login, error="access_denied", state=login.query()["state"])
    login.wait()


def test_a_denied_consent_is_an_auth_error():
    login = Login(ARGS)
    status, page = redirect(
        login,
        error="access_denied",
        error_description="The user declined.",
        state=login.query()["state"],
    )
    code, response = login.wait()
    assert (status, code) == (400, 1)
    assert "access_denied" in page
    assert response["ok"] is False
    assert response["error"]["type"] == "auth_error"
    assert response["error"]["oauth_error"] == "access_denied"
    assert response["error"]["oauth_error_description"] == "The user declined."
    assert "connectorkit: the sign-in was refused: access_denied" in login.stderr.getvalue()


def test_a_refused_code_exchange_is_an_auth_error_without_secrets(httpx_mock):
    httpx_mock.add_response(
        url=TOKEN_URL,
        status_code=400,
        json={"error": "invalid_grant", "error_description": f"AADSTS70000: bad code {CODE}"},
    )
    login = Login(ARGS)
    status, page = redirect(login, code=CODE, state=login.query()["state"])
    code, response = login.wait()
    assert (status, code) == (400, 1)
    assert "Sign-in failed" in page
    assert response["error"]["oauth_error"] == "invalid_grant"
    assert response["error"]["oauth_error_description"] == "AADSTS70000: bad code ***"
    assert CODE not in page
    assert_clean(login)


def test_no_sign_in_within_the_timeout_is_a_timeout():
    login = Login([*ARGS, "--timeout", "0.2"])
    code, response = login.wait()
    assert code == 1
    assert response["error"]["type"] == "timeout"


def test_the_browser_is_opened_unless_told_not_to(httpx_mock, monkeypatch):
    httpx_mock.add_response(url=TOKEN_URL, json=token_body())
    opened = []

    def fake_browser(url):
        opened.append(url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        target = f"{query['redirect_uri']}?{urlencode({'code': CODE, 'state': query['state']})}"
        threading.Thread(target=browse, args=(target,), daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", fake_browser)
    login = Login([a for a in ARGS if a != "--no-browser"])
    code, token = login.wait()
    assert code == 0
    assert token["access_token"] == ACCESS
    assert len(opened) == 1


def test_a_fixed_port_is_used(httpx_mock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    login = Login([*ARGS, "--port", str(port)])
    assert login.query()["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
    redirect(login, error="access_denied", state=login.query()["state"])
    assert login.wait()[0] == 1


def test_values_come_from_a_json_file_and_set_wins(tmp_path, httpx_mock):
    values = tmp_path / "values.json"
    values.write_text(
        json.dumps(
            {
                "client_id": "from-file",
                "client_secret": CLIENT_SECRET,
                "tenant_id": "contoso",
                "scopes": "openid offline_access",
            }
        )
    )
    login = Login(
        [
            "--pack",
            str(PACK),
            "--no-browser",
            "--values",
            str(values),
            "--set",
            "client_id=from-set",
            "--set",
            "token_leeway=30",
        ]
    )
    query = login.query()
    assert query["client_id"] == "from-set"
    assert query["scope"] == "openid offline_access"
    # tenant_id fills the default endpoints
    assert login.url().startswith(
        "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize?"
    )
    redirect(login, error="access_denied", state=query["state"])
    login.wait()


def test_values_can_come_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"client_id": "from-stdin"})))
    stdout, stderr = io.StringIO(), io.StringIO()
    # client_secret missing: binding names it before any server starts
    code = run_login(
        ["--pack", str(PACK), "--values", "-", "--no-browser"], stdout=stdout, stderr=stderr
    )
    response = json.loads(stdout.getvalue())
    assert code == 2
    assert response["error"]["type"] == "invalid_connection"
    assert "client_secret" in json.dumps(response["error"]["details"])


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["--bogus"], "invalid_request"),
        (["--port", "70000"], "invalid_request"),
        (["--set", "novalue"], "invalid_request"),
        (["--values", "/nonexistent/values.json"], "invalid_request"),
        (["--connection", "client_credentials"], "invalid_connection"),
        (["--connection", "nope"], "invalid_connection"),
        (
            ["--set", "client_id=a", "--set", "client_secret=b", "--set", "token_url=x"],
            "invalid_connection",
        ),
    ],
)
def test_usage_errors_are_json_with_exit_code_2(argv, kind):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_login(["--pack", str(PACK), *argv], stdout=stdout, stderr=stderr)
    assert code == 2
    assert json.loads(stdout.getvalue())["error"]["type"] == kind
    assert stderr.getvalue().startswith("connectorkit: ")
    assert stderr.getvalue().count("\n") == 1


def test_help_goes_to_stdout():
    stdout = io.StringIO()
    assert run_login(["--help"], stdout=stdout, stderr=io.StringIO()) == 0
    assert "--no-browser" in stdout.getvalue()


def test_a_broken_pack_is_an_internal_error(tmp_path):
    stdout = io.StringIO()
    code = run_login(["--pack", str(tmp_path)], stdout=stdout, stderr=io.StringIO())
    assert code == 3
    assert json.loads(stdout.getvalue())["error"]["type"] == "internal_error"


def _command(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "runtime"), "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.Popen(
        [sys.executable, "-m", "connectorkit", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _invoke(connection, timeout=60):
    request = {"action": "list_datasets", "inputs": {}, "connection": connection}
    with _command("invoke", "--pack", str(PACK)) as process:
        out, err = process.communicate(json.dumps(request), timeout=timeout)
    return process.returncode, json.loads(out), err


@pytest.mark.e2e
def test_end_to_end_login_then_invoke_with_refresh_against_the_emulator():
    pytest.importorskip("uvicorn")
    from powerbi_emulator import running  # noqa: PLC0415 - an optional extra

    with running(single_use_refresh_tokens=True) as emulator:  # spent means refused
        values = {
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "authorize_url": emulator.authorize_url,
            "token_url": emulator.token_url,
            "base_url": emulator.base_url,
        }
        with _command(
            "auth", "login", "--pack", str(PACK), "--no-browser", "--values", "-"
        ) as login:
            login.stdin.write(json.dumps(values))
            login.stdin.close()
            url = ""
            while not url.startswith("http://"):  # the sign-in URL is the line without a prefix
                url = login.stderr.readline().strip()
                assert url or login.poll() is None
            # The browser: the emulator approves at once and redirects to the loopback receiver.
            with httpx.Client(trust_env=False) as browser:
                location = browser.get(url).headers["location"]
            assert browse(location)[0] == 200
            token = json.loads(login.stdout.read())
            rest = login.stderr.read()
        assert login.returncode == 0
        assert {"access_token", "refresh_token", "expires_at", "token_type"} <= set(token)
        code = parse_qs(urlsplit(location).query)["code"][0]
        for secret in (emulator.client_secret, code, token["access_token"], token["refresh_token"]):
            assert secret not in rest
            assert secret not in url

        code, response, _ = _invoke({"key": "oauth2", "values": values, "token": token})
        assert (code, response["ok"]) == (0, True)
        assert "token" not in response

        emulator.expire_tokens()  # the service now refuses the access token: one refresh, one retry
        code, response, err = _invoke({"key": "oauth2", "values": values, "token": token})
        assert (code, response["ok"]) == (0, True), err
        renewed = response["token"]
        assert renewed["access_token"] != token["access_token"]
        assert renewed["refresh_token"] != token["refresh_token"]  # the emulator rotates

        # The spent refresh token no longer works: the platform must keep the renewed token.
        stale = {**token, "expires_at": 0}
        code, response, _ = _invoke({"key": "oauth2", "values": values, "token": stale})
        assert code == 1
        assert response["error"]["oauth_error"] == "invalid_grant"
        code, response, _ = _invoke({"key": "oauth2", "values": values, "token": renewed})
        assert code == 0


def test_save_keeps_the_connection_in_the_state_store_sealed(httpx_mock, tmp_path, monkeypatch):
    from connectorkit.state import KEY_ENV, StoredConnections, open_state  # noqa: PLC0415

    monkeypatch.delenv(KEY_ENV, raising=False)
    httpx_mock.add_response(url=TOKEN_URL, method="POST", json=token_body())
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    login = Login([*ARGS, "--save", "sales", "--state", state])
    redirect(login, code=CODE, state=login.query()["state"])
    code, printed = login.wait()
    assert code == 0
    assert printed["ok"] is True
    assert printed["saved"] == "sales"
    assert printed["key"] == "oauth2"
    assert printed["has_refresh_token"] is True
    assert ACCESS not in login.stdout.getvalue()  # the token stays in the store
    stored = StoredConnections(open_state(state)).load("sales")
    assert stored.values["client_secret"] == CLIENT_SECRET
    assert stored.token["access_token"] == ACCESS
    assert stored.token["refresh_token"] == REFRESH
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith(".key"))
    assert CLIENT_SECRET.encode() not in on_disk
    assert ACCESS.encode() not in on_disk


def test_save_refuses_a_bad_name_before_the_sign_in():
    stdout = io.StringIO()
    code = run_login([*ARGS, "--save", "../x"], stdout=stdout, stderr=io.StringIO())
    assert code == 2
    error = json.loads(stdout.getvalue())["error"]
    assert error["type"] == "invalid_request"
    assert "connection name" in error["message"]
