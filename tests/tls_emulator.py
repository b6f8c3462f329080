"""The emulator with `--tls` in a subprocess, for the tests that drive it with Microsoft's own
libraries (MSAL, azure-identity)."""

from __future__ import annotations

import json
import select
import ssl
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet


class Emulator:
    """The emulator's own command with `--tls` in a subprocess, its JSON line parsed.

    Not through `connectorkit emulator`, whose ready connections sign a user in at start: the
    tests count every grant the emulator saw.
    """

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "powerbi_emulator", "--port", "0", "--tls", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        if not ready:
            self.stop()
            pytest.fail("the emulator printed nothing within 60 s")
        self.urls = json.loads(self.process.stdout.readline())
        self.http = httpx.Client(verify=self.ssl_context(), timeout=10, trust_env=False)

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.urls["ca_file"])

    @property
    def authority(self) -> str:
        return self.urls["authority"]

    @property
    def host(self) -> str:
        return urlsplit(self.urls["url"]).netloc

    def requests(self, kind: str = "identity") -> list[dict]:
        response = self.http.get(f"{self.urls['url']}/_emulator/requests", params={"kind": kind})
        return response.json()["value"]

    def control(self, method: str, path: str, body: object = None):
        """A call to the emulator's control API under `/_emulator/`."""
        response = self.http.request(method, f"{self.urls['url']}/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        if self.process.stdout is not None:
            self.process.stdout.close()


def trust_emulator(monkeypatch, emu: Emulator) -> None:
    """Trust the emulator's CA the way a user would: the standard environment variables."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.urls["ca_file"])
    monkeypatch.setenv("SSL_CERT_FILE", emu.urls["ca_file"])
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def claims_of(emu, token):
    keys = KeySet.import_key_set(emu.http.get(jwks_uri(emu)).json())
    return jwt.decode(token, keys).claims


def jwks_uri(emu):
    config = emu.http.get(f"{emu.authority}/v2.0/.well-known/openid-configuration").json()
    return config["jwks_uri"]
