"""End to end: the Report Server pack through the real command against its emulator.

The emulator runs in its own process and signs in connections with a real NTLM/Negotiate
handshake (pyspnego's acceptor); the command runs in a subprocess with ``--pack
packs/reportserver``. Every run is checked: one strict JSON document per request, an envelope
the contract describes, and the password nowhere in stdout or stderr.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, assert_envelope
from reportserver_emulator import SEED
from reportserver_helpers import reportserver

PACK = ROOT / "packs" / "reportserver"
COMMAND = Path(sys.executable).parent / "connectorkit"
PASSWORD = "Pa55:w0rd!rs-e2e"
WRONG = "not-the-password-7f3a"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


@pytest.fixture(scope="module")
def server():
    users = ["--user", f"CONTOSO\\alice:{PASSWORD}", "--user", "CONTOSO\\bob:bobs-password"]
    with reportserver(*users) as urls:
        yield urls


def connection(server, **values: Any) -> dict[str, Any]:
    return {
        "key": "windows",
        "values": {
            "base_url": server["base_url"],
            "username": "alice",
            "domain": "CONTOSO",
            "password": PASSWORD,
            **values,
        },
    }


def run(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(COMMAND), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    for secret in (PASSWORD, WRONG, "bobs-password"):
        assert secret not in done.stdout, done.stdout
        assert secret not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def invoke(server, action: str, inputs: dict[str, Any], **values: Any):
    request = {"action": action, "inputs": inputs, "connection": connection(server, **values)}
    done = run(["invoke", "--pack", str(PACK)], json.dumps(request))
    lines = done.stdout.splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)
    response = json.loads(lines[0])
    assert_envelope(response)
    return response, done.returncode, done.stderr


def ok(server, action: str, inputs: dict[str, Any] | None = None, **values: Any) -> Any:
    response, code, stderr = invoke(server, action, inputs or {}, **values)
    assert code == 0, (response, stderr)
    assert response["ok"] is True
    return response["result"]


def test_list_power_bi_reports_filters_orders_and_pages_on_the_server(server):
    result = ok(
        server,
        "list_power_bi_reports",
        {
            "filter": "startswith(Path, '/Sales/')",
            "order_by": "Name desc",
            "skip": 1,
            "top": 2,
            "include_count": True,
        },
    )
    assert result["@odata.count"] == 3
    assert [r["Path"] for r in result["value"]] == ["/Sales/Revenue", "/Sales/Pipeline"]
    everything = ok(server, "list_power_bi_reports")
    assert len(everything["value"]) >= 4
    assert {r["Type"] for r in everything["value"]} == {"PowerBIReport"}


def test_list_folders_and_catalog_items(server):
    folders = ok(server, "list_folders", {"filter": "Path ne '/'", "order_by": "Path"})
    assert [f["Path"] for f in folders["value"]][:2] == ["/Finance", "/Sales"]
    paginated = ok(server, "list_catalog_items", {"filter": "Type eq 'Report'"})
    assert [i["Id"] for i in paginated["value"]] == [SEED["invoice"]]


def test_get_power_bi_report_and_a_missing_one(server):
    report = ok(server, "get_power_bi_report", {"report_id": SEED["budget"]})
    assert report["Name"] == "Budget 2026"
    assert report["ParentFolderId"] == SEED["finance"]
    response, code, _ = invoke(
        server, "get_power_bi_report", {"report_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert code == 1
    assert response["error"]["type"] == "http_error"
    assert response["error"]["status"] == 404
    assert response["error"]["code"] == "rsItemNotFound"


def test_refresh_plans_of_one_report_of_all_reports_and_executing_one(server):
    plans = ok(server, "list_cache_refresh_plans", {"report_id": SEED["revenue"]})
    assert {p["Id"] for p in plans["value"]} == {SEED["plan_daily"], SEED["plan_hourly"]}
    every = ok(server, "list_all_cache_refresh_plans")
    assert {p["Id"] for p in every["value"]} == {
        SEED["plan_daily"],
        SEED["plan_hourly"],
        SEED["plan_budget"],
    }
    finance = ok(
        server, "list_all_cache_refresh_plans", {"filter": "startswith(Path, '/Finance/')"}
    )
    assert [p["CatalogItemPath"] for p in finance["value"]] == ["/Finance/Budget 2026"]
    started = ok(server, "execute_cache_refresh_plan", {"plan_id": SEED["plan_budget"]})
    assert started == {"plan_id": SEED["plan_budget"], "started": True}
    after = ok(server, "list_cache_refresh_plans", {"report_id": SEED["budget"]})
    assert after["value"][0]["LastStatus"] == "Completed Data Refresh"
    assert after["value"][0]["LastRunTime"] is not None


def test_item_policies_and_row_level_security(server):
    policies = ok(server, "list_item_policies", {"item_id": SEED["sales"]})
    assert policies["InheritParentPolicy"] is False
    users = {p["GroupUserName"]: [r["Name"] for r in p["Roles"]] for p in policies["Policies"]}
    assert users["CONTOSO\\alice"] == ["Browser", "Publisher"]
    roles = ok(server, "list_data_model_roles", {"report_id": SEED["revenue"]})
    assert [r["ModelRoleName"] for r in roles["value"]] == ["Region West", "Region East"]
    members = ok(server, "list_data_model_role_assignments", {"report_id": SEED["revenue"]})
    assert members["value"][0] == {
        "GroupUserName": "CONTOSO\\alice",
        "DataModelRoles": [SEED["role_west"]],
    }


def test_upload_power_bi_report_then_the_same_path_again(server):
    content = base64.b64encode(b"PK\x03\x04 a pbix from the e2e test").decode()
    inputs = {
        "name": "Quarterly",
        "folder": "/Finance/",
        "file_content": content,
        "description": "Uploaded by the e2e test",
    }
    created = ok(server, "upload_power_bi_report", inputs)
    assert created["Path"] == "/Finance/Quarterly"
    assert created["CreatedBy"] == "CONTOSO\\alice"
    assert created["Description"] == "Uploaded by the e2e test"
    found = ok(server, "get_power_bi_report", {"report_id": created["Id"]})
    assert found["Size"] == len(b"PK\x03\x04 a pbix from the e2e test")
    response, code, _ = invoke(server, "upload_power_bi_report", inputs)
    assert (code, response["error"]["status"]) == (1, 409)
    assert response["error"]["code"] == "rsItemAlreadyExists"
    bad, code, _ = invoke(server, "upload_power_bi_report", {**inputs, "folder": "/Finance"})
    assert code == 2
    assert bad["error"]["details"][0]["field"] == "folder"


def test_raw_request_reaches_any_endpoint_as_the_signed_in_account(server):
    me = ok(server, "raw_request", {"url": "/Me"})
    assert me["status"] == 200
    assert me["data"]["Username"] == "CONTOSO\\alice"
    plan = ok(server, "raw_request", {"url": f"/CacheRefreshPlans({SEED['plan_daily']})/History"})
    assert plan["data"]["value"] == []


def test_a_wrong_password_is_an_auth_error_with_nothing_secret(server):
    response, code, stderr = invoke(server, "list_folders", {"debug_request": True}, password=WRONG)
    assert code == 1
    assert response["error"]["type"] == "auth_error"
    assert "CONTOSO\\alice" in response["error"]["message"]
    # The debug log shows the exchange, with the handshake's Authorization headers masked.
    assert "Authorization: ***" in stderr or "authorization: ***" in stderr


def test_an_unknown_account_and_a_missing_password(server):
    response, code, _ = invoke(server, "list_folders", {}, username="mallory")
    assert (code, response["error"]["type"]) == (1, "auth_error")
    request = {
        "action": "list_folders",
        "inputs": {},
        "connection": {
            "key": "windows",
            "values": {"base_url": server["base_url"], "username": "x"},
        },
    }
    done = run(["invoke", "--pack", str(PACK)], json.dumps(request))
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "invalid_connection"
    assert error["details"][0]["field"] == "connection.values.password"


def test_twenty_concurrent_requests_through_serve_all_succeed(server):
    stats = httpx.get(server["stats_url"]).json()
    requests = []
    for number in range(20):
        action, inputs = [
            ("list_power_bi_reports", {"top": 1}),
            ("get_power_bi_report", {"report_id": SEED["revenue"]}),
            ("list_item_policies", {"item_id": SEED["finance"]}),
            ("raw_request", {"url": "/Me"}),
        ][number % 4]
        values = (
            {}
            if number % 5
            else {"username": "CONTOSO\\bob", "domain": None, "password": "bobs-password"}
        )
        requests.append(
            {
                "id": f"r{number}",
                "action": action,
                "inputs": inputs,
                "connection": connection(server, **values),
            }
        )
    done = run(
        ["serve", "--pack", str(PACK), "--concurrency", "20"],
        "\n".join(json.dumps(r) for r in requests) + "\n",
    )
    assert done.returncode == 0, done.stderr
    responses = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in responses] == [f"r{n}" for n in range(20)]
    for response in responses:
        assert_envelope(response)
        assert response["ok"] is True, response
    # Each request ran as its own account, even with both accounts in flight at once.
    for number in range(3, 20, 4):
        expected = "CONTOSO\\bob" if number % 5 == 0 else "CONTOSO\\alice"
        assert responses[number]["result"]["data"]["Username"] == expected
    after = httpx.get(server["stats_url"]).json()
    # At most one sign-in per connection, and no refused handshake.
    assert after["refused"] == stats["refused"]
    assert 2 <= after["logons"] - stats["logons"] <= 20


def test_describe_validate_and_docs_of_the_pack():
    done = run(["describe", "--pack", str(PACK)])
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)
    assert {a["key"] for a in catalog["actions"]} == {
        "list_power_bi_reports",
        "list_folders",
        "list_catalog_items",
        "get_power_bi_report",
        "list_cache_refresh_plans",
        "list_all_cache_refresh_plans",
        "execute_cache_refresh_plan",
        "list_item_policies",
        "list_data_model_roles",
        "list_data_model_role_assignments",
        "upload_power_bi_report",
        "raw_request",
    }
    windows, basic = catalog["connections"]
    assert (windows["key"], basic["key"]) == ("windows", "basic")
    assert basic["values"]["required"] == ["username", "password"]
    password = windows["values"]["properties"]["password"]
    assert password["writeOnly"] is True
    assert password["format"] == "password"
    assert windows["values"]["required"] == ["username", "password"]
    assert run(["validate", str(PACK)]).returncode == 0
    docs = run(["docs", "--pack", str(PACK)])
    assert "List Data Model Role Assignments" in docs.stdout


def test_basic_against_a_server_configured_for_it():
    # RSWindowsBasic: the account's name and password with every request, no handshake.
    users = ["--user", f"CONTOSO\\alice:{PASSWORD}"]
    with reportserver("--scheme", "basic", *users) as urls:
        before = httpx.get(urls["stats_url"]).json()
        values = {"base_url": urls["base_url"], "username": "CONTOSO\\alice", "password": PASSWORD}
        request = {
            "action": "raw_request",
            "inputs": {"url": "/Me", "debug_request": True},
            "connection": {"key": "basic", "values": values},
        }
        done = run(["invoke", "--pack", str(PACK)], json.dumps(request))
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["result"]["data"]["Username"] == "CONTOSO\\alice"
        credential = base64.b64encode(f"CONTOSO\\alice:{PASSWORD}".encode()).decode()
        assert credential not in done.stderr  # the debug log shows the header masked
        after = httpx.get(urls["stats_url"]).json()
        assert after["challenges"] == before["challenges"]  # no NTLM handshake
        assert after["logons"] == before["logons"] + 1
        wrong = {"key": "basic", "values": {**values, "password": WRONG}}
        done = run(["invoke", "--pack", str(PACK)], json.dumps({**request, "connection": wrong}))
        assert done.returncode == 1
        error = json.loads(done.stdout)["error"]
        assert error["type"] == "auth_error"
        assert error["status"] == 401
