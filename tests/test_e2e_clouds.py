"""End to end: the ``cloud`` connection value sends every request to that cloud's real hosts.

The Power BI emulator runs in its own process posing as one cloud (``--cloud NAME``: it issues
tokens only for that cloud's resource). The command runs unchanged with ``HTTPS_PROXY`` and
``SSL_CERT_FILE`` pointing at a TLS-terminating proxy (tests/cloudpose.py) that answers for the
clouds' host names and forwards to the emulator, recording every request: so the test sees the
host each request was made to, and the token request's body.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from cloudpose import PosingProxy
from conftest import assert_envelope

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

COMMAND = Path(sys.executable).parent / "connectorkit"
SECRET = "demo-secret"
# (authority host, API host, resource) by cloud, as Microsoft documents them.
CLOUDS = {
    "public": (
        "login.microsoftonline.com",
        "api.powerbi.com",
        "https://analysis.windows.net/powerbi/api",
    ),
    "gcc": (
        "login.microsoftonline.com",
        "api.powerbigov.us",
        "https://analysis.usgovcloudapi.net/powerbi/api",
    ),
    "gcc_high": (
        "login.microsoftonline.us",
        "api.high.powerbigov.us",
        "https://high.analysis.usgovcloudapi.net/powerbi/api",
    ),
    "dod": (
        "login.microsoftonline.us",
        "api.mil.powerbigov.us",
        "https://mil.analysis.usgovcloudapi.net/powerbi/api",
    ),
    "china": (
        "login.chinacloudapi.cn",
        "api.powerbi.cn",
        "https://analysis.chinacloudapi.cn/powerbi/api",
    ),
}
HOSTS = sorted({host for login, api, _ in CLOUDS.values() for host in (login, api)})


class Posed:
    """An emulator posing as one cloud, behind a proxy posing as every cloud's hosts."""

    def __init__(self, cloud: str, folder: Path) -> None:
        self.cloud = cloud
        self.process = subprocess.Popen(
            [sys.executable, "-m", "powerbi_emulator", "--port", "0", "--quiet", "--cloud", cloud],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        assert line, self.process.stderr.read()
        self.urls = json.loads(line)
        self.proxy = PosingProxy(self.urls["url"], HOSTS, folder)
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"},
            **self.proxy.env(),
        }

    def invoke(self, request: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
        done = subprocess.run(
            [str(COMMAND), "invoke"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert SECRET not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        response = json.loads(done.stdout)
        assert_envelope(response)
        return response, done.returncode, done.stderr

    def close(self) -> None:
        self.proxy.close()
        self.process.terminate()
        self.process.communicate(timeout=10)


@pytest.fixture
def posed(tmp_path):
    started: list[Posed] = []

    def start(cloud: str) -> Posed:
        started.append(Posed(cloud, tmp_path))
        return started[-1]

    yield start
    for one in started:
        one.close()


def app(cloud: str | None, tenant: str = "emulator", **values: Any) -> dict[str, Any]:
    chosen = {} if cloud is None else {"cloud": cloud}
    return {
        "key": "client_credentials",
        "values": {
            **chosen,
            "tenant_id": tenant,
            "client_id": "connectorkit-demo",
            "client_secret": SECRET,
            **values,
        },
    }


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_each_cloud_signs_in_and_calls_its_own_hosts(posed, cloud):
    login, api, resource = CLOUDS[cloud]
    emulator = posed(cloud)
    response, code, stderr = emulator.invoke(
        {"action": "list_groups", "inputs": {"top": 1}, "connection": app(cloud)}
    )
    assert code == 0, (response, stderr)
    assert len(response["result"]["value"]) == 1
    seen = emulator.proxy.seen
    assert [(s.host, s.method, s.path.split("?")[0]) for s in seen] == [
        (login, "POST", "/emulator/oauth2/v2.0/token"),
        (api, "GET", "/v1.0/myorg/groups"),
    ]
    form = parse_qs(seen[0].body.decode())
    assert form["scope"] == [f"{resource}/.default"]
    assert response["token"]["scope"] == f"{resource}/.default"
    assert emulator.proxy.refused == []


def test_without_a_cloud_value_the_public_cloud_is_used(posed):
    emulator = posed("public")
    response, code, _ = emulator.invoke(
        {"action": "list_groups", "inputs": {}, "connection": app(None)}
    )
    assert code == 0, response
    assert [s.host for s in emulator.proxy.seen] == ["login.microsoftonline.com", "api.powerbi.com"]


def test_explicit_urls_and_scopes_still_win_over_the_cloud(posed):
    emulator = posed("gcc_high")
    connection = app("gcc_high", base_url=emulator.urls["base_url"])  # plain http, no proxy
    response, code, _ = emulator.invoke(
        {"action": "list_groups", "inputs": {}, "connection": connection}
    )
    assert code == 0, response
    assert [s.host for s in emulator.proxy.seen] == ["login.microsoftonline.us"]
    custom = app(
        "custom",
        token_url=emulator.urls["token_url"],
        base_url=emulator.urls["base_url"],
        scopes="https://high.analysis.usgovcloudapi.net/powerbi/api/.default",
    )
    response, code, _ = emulator.invoke(
        {"action": "list_groups", "inputs": {}, "connection": custom}
    )
    assert code == 0, response


def test_custom_without_urls_names_what_is_missing(posed):
    emulator = posed("public")
    response, code, _ = emulator.invoke(
        {"action": "list_groups", "inputs": {}, "connection": app("custom")}
    )
    assert code == 2
    assert response["error"]["type"] == "invalid_connection"
    fields = {d["field"] for d in response["error"]["details"]}
    assert "connection.values.token_url" in fields
    assert "authority" in response["error"]["message"]
    assert emulator.proxy.seen == []


@pytest.mark.parametrize(
    ("tenant_cloud", "chosen", "tenant", "code"),
    [
        ("gcc_high", "public", "emulator", "AADSTS500011"),
        ("public", "gcc_high", "contoso-gov", "AADSTS90002"),
    ],
)
def test_a_wrong_cloud_sign_in_error_names_the_setting(posed, tenant_cloud, chosen, tenant, code):
    emulator = posed(tenant_cloud)
    response, exit_code, _ = emulator.invoke(
        {"action": "list_groups", "inputs": {}, "connection": app(chosen, tenant=tenant)}
    )
    assert exit_code == 1
    error = response["error"]
    assert error["type"] == "auth_error"
    assert code in error["message"]
    assert "`cloud`" in error["hint"]
    assert "`cloud`" in error["message"]
