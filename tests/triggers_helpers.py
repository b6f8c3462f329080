"""Polling triggers through the real command, against the emulator, in tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from conftest import assert_envelope
from powerbi_emulator import SEED_IDS

if TYPE_CHECKING:
    from powerbi_emulator import EmulatorHandle

COMMAND = Path(sys.executable).parent / "connectorkit"
ENV = {
    **{k: v for k, v in os.environ.items() if k not in {"CONNECTORKIT_PACK", "CONNECTORKIT_STATE"}},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
SALES = SEED_IDS["sales_analytics"]
OPERATIONS = SEED_IDS["operations"]
RUN_TIMEOUT_S = 90


def pbix() -> bytes:
    """A small .pbix (a zip, as the service checks)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("DataModel", b"model")
        archive.writestr("Report/Layout", b'{"sections": []}')
    return buffer.getvalue()


@dataclass
class Platform:
    """A platform polling triggers with ``connectorkit invoke`` (or ``serve``), one store."""

    emu: EmulatorHandle
    state: str
    outputs: list[str] = field(default_factory=list)

    @property
    def connection(self) -> dict[str, Any]:
        emu = self.emu
        return {
            "key": "client_credentials",
            "values": {
                "tenant_id": emu.tenant,
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "token_url": emu.token_url,
                "base_url": emu.base_url,
            },
        }

    def request(
        self, trigger: str, subscription: str, inputs: dict[str, Any] | None = None, **more: Any
    ) -> dict[str, Any]:
        return {
            "trigger": trigger,
            "subscription": subscription,
            "inputs": inputs or {},
            "connection": self.connection,
            **more,
        }

    def run(self, args: list[str], stdin: str, **popen: Any) -> subprocess.CompletedProcess[str]:
        process = subprocess.run(
            [str(COMMAND), *args, "--state", self.state],
            input=stdin,
            capture_output="stdout" not in popen,
            text=True,
            env=ENV,
            timeout=RUN_TIMEOUT_S,
            check=False,
            **popen,
        )
        self.outputs += [process.stdout or "", process.stderr or ""]
        assert "Traceback" not in (process.stdout or "") + (process.stderr or "")
        return process

    def invoke(self, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        process = self.run(["invoke"], json.dumps(request))
        lines = process.stdout.splitlines()
        assert len(lines) == 1, (process.stdout, process.stderr)
        response = json.loads(lines[0])
        assert_envelope(response)
        return response, process.returncode

    def poll(
        self, trigger: str, subscription: str, inputs: dict[str, Any] | None = None, **more: Any
    ) -> dict[str, Any]:
        """One poll in a process of its own; its result (it must succeed)."""
        response, code = self.invoke(self.request(trigger, subscription, inputs, **more))
        assert code == 0, response
        assert response["trigger"] == trigger
        result: dict[str, Any] = response["result"]
        assert result["subscription"] == subscription
        return result

    def serve(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        process = self.run(["serve"], "".join(json.dumps(r) + "\n" for r in requests))
        responses = [json.loads(line) for line in process.stdout.splitlines()]
        for response in responses:
            assert_envelope(response)
        return responses

    def secrets_kept(self) -> None:
        """The client secret and tokens never show outside a response's ``token``."""
        secret = str(self.emu.client_secret)
        for text in self.outputs:
            assert secret not in text


class Service:
    """What happens at the service, done the way a person or Power BI itself would."""

    def __init__(self, emu: EmulatorHandle) -> None:
        self.emu = emu
        token = emu.issue_token(principal="app", lifetime=10**7)["access_token"]
        self.http = httpx.Client(
            base_url=emu.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        )

    def close(self) -> None:
        self.http.close()

    def publish(self, name: str, group: str = SALES) -> str:
        """Start publishing a .pbix (its dataset and report appear when the import ends)."""
        response = self.http.post(
            f"/groups/{group}/imports",
            params={"datasetDisplayName": f"{name}.pbix"},
            files={"file": (f"{name}.pbix", pbix(), "application/octet-stream")},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def items(self, kind: str, group: str = SALES) -> dict[str, str]:
        """Name -> id of the workspace's reports or datasets."""
        response = self.http.get(f"/groups/{group}/{kind}")
        assert response.status_code == 200, response.text
        return {i["name"]: i["id"] for i in response.json()["value"]}

    def delete(self, kind: str, item_id: str, group: str = SALES) -> None:
        response = self.http.delete(f"/groups/{group}/{kind}/{item_id}")
        assert response.status_code == 200, response.text

    def push_dataset(self, name: str, group: str = SALES) -> str:
        body = {
            "name": name,
            "tables": [{"name": "T", "columns": [{"name": "A", "dataType": "String"}]}],
        }
        response = self.http.post(f"/groups/{group}/datasets", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def ids(result: dict[str, Any]) -> list[str]:
    return [event["id"] for event in result["events"]]


def data(result: dict[str, Any], key: str) -> list[Any]:
    return [event["data"].get(key) for event in result["events"]]
