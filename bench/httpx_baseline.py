"""The hand-written baseline: what a developer would write with httpx instead of connectorkit.

It reads the same contract request from stdin (so it pays for the same JSON parsing) and makes
the same HTTP calls the runtime makes, with none of its checks, retries or envelope:

- ``list_groups``: GET {base_url}/groups with the request's bearer token; without a token in
  the request, it first asks ``token_url`` for one (client credentials), like the runtime.
- ``create_rows``: POST {base_url}/groups/{group_id}/datasets/{id}/tables/{table}/rows, one
  request per 10,000 rows (Power BI's per-request maximum).

It prints one small JSON object to stdout. Used as a subprocess by cold_start.py and
bulk_rows.py; run it by hand as ``python bench/httpx_baseline.py list_groups < request.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import quote

import httpx

ROWS_PER_POST = 10_000
SCOPE = "https://analysis.windows.net/powerbi/api/.default"


def _bearer(client: httpx.Client, connection: dict[str, Any]) -> str:
    token = connection.get("token")
    if token:
        return str(token["access_token"])
    values = connection["values"]
    response = client.post(
        values["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": values["client_id"],
            "client_secret": values["client_secret"],
            "scope": SCOPE,
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def list_groups(client: httpx.Client, request: dict[str, Any]) -> dict[str, Any]:
    connection = request["connection"]
    headers = {"Authorization": f"Bearer {_bearer(client, connection)}"}
    response = client.get(f"{connection['values']['base_url']}/groups", headers=headers)
    response.raise_for_status()
    return {"ok": True, "result": response.json()}


def create_rows(client: httpx.Client, request: dict[str, Any]) -> dict[str, Any]:
    connection = request["connection"]
    inputs = request["inputs"]
    headers = {"Authorization": f"Bearer {_bearer(client, connection)}"}
    base = connection["values"]["base_url"]
    group = f"/groups/{inputs['group_id']}" if inputs.get("group_id") else ""
    table = quote(inputs["table_name"], safe="")
    url = f"{base}{group}/datasets/{inputs['dataset_id']}/tables/{table}/rows"
    rows = inputs["rows"]
    batches = 0
    for start in range(0, len(rows), ROWS_PER_POST):
        response = client.post(
            url, json={"rows": rows[start : start + ROWS_PER_POST]}, headers=headers
        )
        response.raise_for_status()
        batches += 1
    return {"ok": True, "result": {"rows": len(rows), "batches": batches}}


def main() -> int:
    actions = {"list_groups": list_groups, "create_rows": create_rows}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        print(f"usage: httpx_baseline.py {{{','.join(actions)}}} < request.json", file=sys.stderr)
        return 2
    request = json.load(sys.stdin)
    with httpx.Client(timeout=120.0) as client:
        out = actions[sys.argv[1]](client, request)
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
