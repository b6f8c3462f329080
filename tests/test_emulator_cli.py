"""`python -m powerbi_emulator` (what `connectorkit emulator` runs), as a real process."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from powerbi_emulator import main

PBI_DEFAULT = "https://analysis.windows.net/powerbi/api/.default"


class Emulator:
    """The command in a subprocess: its JSON line parsed, stderr in a file."""

    def __init__(self, tmp_path, *args):
        self.stderr_path = tmp_path / "stderr.log"
        self._stderr = self.stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "powerbi_emulator", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        assert ready, "the emulator printed nothing within 30 s"
        self.line = self.process.stdout.readline()
        self.urls = json.loads(self.line)

    def stop(self, signum=signal.SIGTERM):
        self.process.send_signal(signum)
        code = self.process.wait(15)
        rest = self.process.stdout.read()
        self.process.stdout.close()
        self._stderr.close()
        return code, rest, self.stderr_path.read_text()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)
        if not self.process.stdout.closed:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def launch(tmp_path):
    started = []

    def start(*args):
        emulator = Emulator(tmp_path, *args)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.kill()


DEMO_SECRET = "demo-secret"


def client_credentials(urls, client_id="connectorkit-demo", secret=DEMO_SECRET):
    data = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": PBI_DEFAULT,
    }
    return httpx.post(urls["token_url"], data=data, timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_one_json_line_serves_and_exits_0_on_a_signal(launch, signum):
    emulator = launch("--port", "0")
    urls = emulator.urls
    assert emulator.line.endswith("\n")
    assert set(urls) == {
        "url", "base_url", "token_url", "authorize_url", "authority", "tenant",
        "cloud", "authority_host", "api_host", "resource",
        "imds_url", "identity_endpoint", "identity_header",
        "issuer", "oidc_request_url", "oidc_request_token",
    }  # fmt: skip
    assert urls["cloud"] == "public"
    assert urls["resource"] == "https://analysis.windows.net/powerbi/api"
    url = urls["url"]
    assert url.startswith("http://127.0.0.1:")
    assert int(url.rsplit(":", 1)[1]) > 0
    assert urls["base_url"] == f"{url}/v1.0/myorg"
    assert urls["token_url"] == f"{url}/emulator/oauth2/v2.0/token"
    assert urls["authorize_url"] == f"{url}/emulator/oauth2/v2.0/authorize"
    assert urls["tenant"] == "emulator"
    assert urls["imds_url"] == url  # where AZURE_POD_IDENTITY_AUTHORITY_HOST points
    assert urls["identity_endpoint"] == f"{url}/msi/token"
    assert urls["issuer"] == f"{url}/_emulator/issuer"
    assert urls["oidc_request_url"] == f"{url}/_emulator/issuer/token?api-version=2.0"
    assert len(urls["identity_header"]) >= 32
    assert len(urls["oidc_request_token"]) >= 32

    token = client_credentials(urls).json()["access_token"]
    groups = httpx.get(f"{urls['base_url']}/groups", headers={"Authorization": f"Bearer {token}"})
    assert groups.json()["value"][0]["name"] == "Sales Analytics"

    code, rest, stderr = emulator.stop(signum)
    assert code == 0
    assert rest == ""  # stdout carries the one JSON line and nothing else
    assert "POST /emulator/oauth2/v2.0/token -> 200" in stderr
    assert "GET /v1.0/myorg/groups -> 200" in stderr
    assert "demo-secret" not in stderr
    assert urls["identity_header"] not in stderr
    assert urls["oidc_request_token"] not in stderr
    assert token not in stderr


def test_flags_shape_the_service(launch):
    fault = json.dumps({"path": "/groups$", "status": 503, "count": 1})
    emulator = launch(
        "--client",
        "app-1:s3cret",
        "--time-scale",
        "60",
        "--token-lifetime",
        "120",
        "--latency",
        "100",
        "--fault",
        fault,
        "--tenant",
        "contoso",
        "--quiet",
    )
    urls = emulator.urls
    assert urls["tenant"] == "contoso"
    assert "/contoso/oauth2/v2.0/token" in urls["token_url"]
    refused = client_credentials(urls)
    assert refused.json()["error"] == "unauthorized_client"  # only the given client exists
    body = client_credentials(urls, "app-1", "s3cret").json()
    assert body["expires_in"] == 2  # 120 emulated seconds at 60x
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{urls['base_url']}/groups", headers=headers).status_code == 503
    started = time.monotonic()
    assert httpx.get(f"{urls['base_url']}/groups", headers=headers).status_code == 200
    assert time.monotonic() - started >= 0.1
    code, _, stderr = emulator.stop()
    assert code == 0
    assert "-> 200" not in stderr  # --quiet: warnings only


def test_clients_file(launch, tmp_path):
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "client_id": "from-file",
                        "client_secret": "f1le",
                        "redirect_uris": ["http://localhost/cb"],
                    },
                ]
            }
        )
    )
    emulator = launch("--clients-file", str(clients))
    assert client_credentials(emulator.urls, "from-file", "f1le").status_code == 200
    assert emulator.stop()[0] == 0


def test_a_port_in_use_is_reported(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "powerbi_emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-scale", "0"], "time_scale must be a positive"),
        (["--latency", "-5"], "latency_ms must be >= 0"),
        (["--host", "192.0.2.1"], "loopback addresses only"),
        (["--fault", "nope"], "--fault is not JSON"),
        (["--fault", '{"action": "melt"}'], "fault action must be one of"),
        (["--fault", '{"count": "3"}'], "must be an integer"),
        (["--clients-file", "/nonexistent/clients.json"], "cannot read clients file"),
        (["--client", ":x"], "client_id must be a non-empty word"),
        (["--port", "seven"], "invalid int value"),
    ],
)
def test_bad_options_exit_2_with_a_message_and_no_stdout(capsys, args, message):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "--time-scale" in capsys.readouterr().out
