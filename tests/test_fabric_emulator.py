"""The Fabric emulator over real HTTP: sign-in, the REST API's state, OneLake, Load Table, jobs.

The emulated clock is moved with the control API, so nothing here sleeps for a fixed time.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from fabric_emulator import SEED_IDS, running

WS = SEED_IDS["sales_workspace"]
LH = SEED_IDS["sales_lakehouse"]
NOTEBOOK = SEED_IDS["sales_notebook"]
FABRIC = "https://api.fabric.microsoft.com/.default"
STORAGE = "https://storage.azure.com/.default"
MISSING = "00000000-0000-4000-8000-0000000000ff"


@pytest.fixture(scope="module")
def emu():
    with running(page_size=2, requests_per_minute=None) as handle:
        yield handle


@pytest.fixture
def fresh(emu):
    emu.reset()
    return emu


def bearer(emu, scope: str) -> dict[str, str]:
    token = emu.issue_token(principal="app", scope=scope, lifetime=10**6)["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api(emu):
    with httpx.Client(base_url=emu.base_url, headers=bearer(emu, FABRIC), timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def lake(emu):
    with httpx.Client(base_url=emu.onelake_url, headers=bearer(emu, STORAGE), timeout=20) as client:
        yield client


def write_file(lake, path: str, data: bytes, *, chunk: int = 7) -> None:
    assert lake.put(path, params={"resource": "file"}).status_code == 201
    for start in range(0, len(data), chunk):
        appended = lake.patch(
            path,
            params={"action": "append", "position": start},
            content=data[start : start + chunk],
        )
        assert appended.status_code == 202
    assert lake.patch(path, params={"action": "flush", "position": len(data)}).status_code == 200


def wait_for(api, location: str) -> dict:
    """Poll an operation until it ends (its work runs in a worker thread)."""
    deadline = time.monotonic() + 20
    while True:
        state = api.get(location).json()
        if state["status"] in {"Succeeded", "Failed"} or time.monotonic() > deadline:
            return state
        time.sleep(0.01)


def load(emu, api, table: str, body: dict) -> dict:
    started = api.post(f"/workspaces/{WS}/lakehouses/{LH}/tables/{table}/load", json=body)
    assert started.status_code == 202, started.text
    emu.advance_clock(emu.fabric_config.operation_seconds)
    return wait_for(api, started.headers["location"])


CSV = {"format": "Csv", "header": True, "delimiter": ","}


# -- sign-in --


def test_the_shared_identity_platform_signs_in_for_the_fabric_scope(emu):
    answer = httpx.post(
        emu.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "scope": FABRIC,
        },
    )
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    listed = httpx.get(f"{emu.base_url}/workspaces", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert [w["displayName"] for w in listed.json()["value"]] == ["Sales"]


def test_the_rest_api_takes_a_power_bi_token_too(emu):
    headers = bearer(emu, "https://analysis.windows.net/powerbi/api/.default")
    assert httpx.get(f"{emu.base_url}/workspaces/{WS}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, "Unauthorized", "An Authorization: Bearer access token is required."),
        (
            {"Authorization": "Bearer nope"},
            "Unauthorized",
            "The access token is missing or invalid.",
        ),
    ],
)
def test_the_rest_api_refuses_a_missing_or_unknown_token(emu, headers, code, message):
    refused = httpx.get(f"{emu.base_url}/workspaces", headers=headers)
    assert refused.status_code == 401
    assert (refused.json()["errorCode"], refused.json()["message"]) == (code, message)
    assert refused.headers["x-ms-public-api-error-code"] == code
    assert refused.headers["www-authenticate"].startswith('Bearer authorization_uri="')


def test_each_service_takes_only_its_own_audience(emu):
    storage, fabric = bearer(emu, STORAGE), bearer(emu, FABRIC)
    rest = httpx.get(f"{emu.base_url}/workspaces", headers=storage)
    assert rest.status_code == 401
    assert "issued for https://storage.azure.com" in rest.json()["message"]
    files = httpx.get(f"{emu.onelake_url}/{WS}/{LH}/Files", headers=fabric)
    assert files.status_code == 401
    assert files.headers["x-ms-error-code"] == "InvalidAuthenticationInfo"
    assert "resource_id=https://storage.azure.com" in files.headers["www-authenticate"]
    anonymous = httpx.head(f"{emu.onelake_url}/{WS}/{LH}/Files")
    assert (anonymous.status_code, anonymous.content) == (401, b"")
    assert anonymous.headers["x-ms-error-code"] == "NoAuthenticationInformation"


def test_an_expired_token_is_401_token_expired(emu):
    headers = bearer(emu, FABRIC)
    emu.expire_tokens(headers["Authorization"].split()[1])
    expired = httpx.get(f"{emu.base_url}/workspaces", headers=headers)
    assert (expired.status_code, expired.json()["errorCode"]) == (401, "TokenExpired")


# -- workspaces, items, pages, checks --


def test_workspaces_and_items_are_kept(fresh, api):
    made = api.post("/workspaces", json={"displayName": "Finance", "description": "Money"})
    assert made.status_code == 201
    workspace = made.json()["id"]
    assert api.post("/workspaces", json={"displayName": "finance"}).json()["errorCode"] == (
        "WorkspaceNameAlreadyExists"
    )
    lakehouse = api.post(f"/workspaces/{workspace}/lakehouses", json={"displayName": "Ledger"})
    assert lakehouse.status_code == 201
    body = lakehouse.json()
    assert (body["type"], body["displayName"], body["workspaceId"]) == (
        "Lakehouse",
        "Ledger",
        workspace,
    )
    root = f"{fresh.onelake_url}/{workspace}/{body['id']}"
    assert body["properties"]["oneLakeFilesPath"] == f"{root}/Files"
    notebook = api.post(
        f"/workspaces/{workspace}/items", json={"displayName": "N", "type": "Notebook"}
    )
    assert notebook.status_code == 201
    typed = api.get(f"/workspaces/{workspace}/items", params={"type": "Notebook"}).json()["value"]
    assert [i["displayName"] for i in typed] == ["N"]
    renamed = api.patch(
        f"/workspaces/{workspace}/lakehouses/{body['id']}", json={"displayName": "Books"}
    )
    assert renamed.json()["displayName"] == "Books"
    assert api.get(f"/workspaces/{workspace}/items/{body['id']}").json()["displayName"] == "Books"
    # A lakehouse is not reached as a notebook.
    assert api.get(f"/workspaces/{workspace}/notebooks/{body['id']}").status_code == 404
    assert api.delete(f"/workspaces/{workspace}/items/{body['id']}").status_code == 200
    assert (
        api.get(f"/workspaces/{workspace}/lakehouses/{body['id']}").json()["errorCode"]
        == "ItemNotFound"
    )


def test_a_listing_comes_in_pages_with_continuation_tokens(fresh, api):
    first = api.get(f"/workspaces/{WS}/items").json()
    assert [i["displayName"] for i in first["value"]] == ["SalesLakehouse", "Daily refresh"]
    assert first["continuationUri"].startswith(f"{fresh.base_url}/workspaces/{WS}/items?")
    second = httpx.get(first["continuationUri"], headers=api.headers).json()
    assert [i["displayName"] for i in second["value"]] == ["Nightly load"]
    assert "continuationToken" not in second
    again = api.get(
        f"/workspaces/{WS}/items", params={"continuationToken": first["continuationToken"]}
    )
    assert again.json() == second
    one = api.get(f"/workspaces/{WS}/items", params={"maxResults": "1"}).json()
    assert len(one["value"]) == 1
    foreign = api.get("/workspaces", params={"continuationToken": first["continuationToken"]})
    assert (foreign.status_code, foreign.json()["errorCode"]) == (400, "InvalidContinuationToken")


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        (
            "POST",
            f"/workspaces/{WS}/lakehouses",
            {"displayName": 5},
            "'displayName' must be a string; got 5.",
        ),
        ("POST", f"/workspaces/{WS}/lakehouses", None, "The request body is required."),
        ("GET", "/workspaces/not-a-guid", None, "'workspaceId' must be a GUID; got 'not-a-guid'."),
        (
            "GET",
            f"/workspaces/{WS}/lakehouses/{LH}/tables?maxResults=101",
            None,
            "'maxResults' must be at most 100; got 101.",
        ),
        (
            "POST",
            f"/workspaces/{WS}/lakehouses/{LH}/tables/Bad-Name/load",
            {"relativePath": "Files/a.csv", "pathType": "File"},
            "'tableName' does not match ^(?=[0-9]*[a-zA-Z_])[a-zA-Z0-9_]{1,256}$; got 'Bad-Name'.",
        ),
    ],
    ids=["type", "no-body", "guid", "range", "pattern"],
)
def test_a_bad_request_is_400_naming_the_field(api, method, path, body, message):
    answer = api.request(method, path, json=body)
    assert answer.status_code == 400
    error = answer.json()
    assert (error["errorCode"], error["message"]) == ("InvalidInput", message)
    assert error["moreDetails"] == [{"errorCode": "InvalidParameter", "message": message}]


def test_unknown_ids_and_methods(api):
    assert api.get(f"/workspaces/{MISSING}/items").json()["errorCode"] == "WorkspaceNotFound"
    missing = api.get(f"/workspaces/{WS}/notebooks/{MISSING}/livySessions")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "ItemNotFound")
    assert api.get("/nothing/here").status_code == 404
    wrong = api.put("/workspaces")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")


# -- long-running operations, throttling, faults --


def test_a_long_running_operation_is_polled_to_its_result(fresh, api):
    started = api.post(f"/workspaces/{WS}/items/{NOTEBOOK}/getDefinition")
    assert started.status_code == 202
    operation = started.headers["x-ms-operation-id"]
    assert started.headers["location"] == f"{fresh.base_url}/operations/{operation}"
    assert started.headers["retry-after"] == "20"
    state = api.get(f"/operations/{operation}")
    assert state.json()["status"] == "NotStarted"
    assert api.get(f"/operations/{operation}/result").json()["errorCode"] == "OperationNotSucceeded"
    fresh.advance_clock(10)
    running_now = api.get(f"/operations/{operation}")
    assert (running_now.json()["status"], running_now.json()["percentComplete"]) == ("Running", 50)
    assert running_now.headers["retry-after"] == "10"
    fresh.advance_clock(10)
    done = api.get(f"/operations/{operation}")
    assert done.json()["status"] == "Succeeded"
    assert done.headers["location"] == f"{fresh.base_url}/operations/{operation}/result"
    result = api.get(f"/operations/{operation}/result")
    assert result.status_code == 200
    assert "definition" in result.json()
    assert api.get(f"/operations/{MISSING}").status_code == 404


def test_past_the_request_rate_a_caller_gets_429_with_retry_after():
    with running(requests_per_minute=2) as emu:
        headers = bearer(emu, FABRIC)
        answers = [httpx.get(f"{emu.base_url}/workspaces", headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].headers["retry-after"] == "60"
        assert answers[2].json()["errorCode"] == "RequestBlocked"
        user = emu.issue_token(scope="https://api.fabric.microsoft.com/Workspace.Read.All")
        other = {"Authorization": f"Bearer {user['access_token']}"}  # another caller
        assert httpx.get(f"{emu.base_url}/workspaces", headers=other).status_code == 200
        emu.advance_clock(60)
        assert httpx.get(f"{emu.base_url}/workspaces", headers=headers).status_code == 200


def test_an_injected_429_has_fabrics_error_body_and_retry_after(fresh, api):
    fresh.set_fault(path="/workspaces$", status=429, count=1)
    throttled = api.get("/workspaces")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert throttled.json()["errorCode"] == "TooManyRequests"
    assert api.get("/workspaces").status_code == 200


# -- OneLake --


def test_a_file_is_created_appended_flushed_read_and_listed(fresh, lake):
    path = f"/{WS}/{LH}/Files/in/day1.csv"
    assert lake.put(path, params={"resource": "file"}).status_code == 201
    assert (
        lake.patch(path, params={"action": "append", "position": 0}, content=b"a,b\n").status_code
        == 202
    )
    assert lake.get(path).content == b""  # staged data is invisible until flushed
    # An append sent again (its answer was lost) replaces the block it repeats.
    assert (
        lake.patch(path, params={"action": "append", "position": 0}, content=b"a,b\n").status_code
        == 202
    )
    lake.patch(path, params={"action": "append", "position": 4}, content=b"1,2\n")
    gap = lake.patch(path, params={"action": "flush", "position": 9})
    assert (gap.status_code, gap.headers["x-ms-error-code"]) == (400, "InvalidFlushPosition")
    assert lake.patch(path, params={"action": "flush", "position": 8}).status_code == 200
    assert lake.patch(path, params={"action": "flush", "position": 8}).status_code == 200  # again
    assert lake.get(path).content == b"a,b\n1,2\n"
    head = lake.head(path)
    assert (head.headers["content-length"], head.headers["x-ms-resource-type"]) == ("8", "file")
    ranged = lake.get(path, headers={"Range": "bytes=4-"})
    assert (ranged.status_code, ranged.content) == (206, b"1,2\n")
    by_name = lake.get("/Sales/SalesLakehouse.Lakehouse/Files/in/day1.csv")
    assert by_name.content == b"a,b\n1,2\n"
    listed = lake.get(
        f"/{WS}", params={"resource": "filesystem", "directory": f"{LH}/Files", "recursive": "true"}
    )
    names = [(p["name"], p.get("isDirectory"), p["contentLength"]) for p in listed.json()["paths"]]
    assert names == [(f"{LH}/Files/in", "true", "0"), (f"{LH}/Files/in/day1.csv", None, "8")]
    assert lake.delete(f"/{WS}/{LH}/Files/in").headers["x-ms-error-code"] == "DirectoryNotEmpty"
    assert lake.delete(f"/{WS}/{LH}/Files/in", params={"recursive": "true"}).status_code == 200
    gone = lake.get(path)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "PathNotFound")


def test_a_listing_of_many_paths_continues(fresh, lake):
    for name in "abc":
        assert (
            lake.put(f"/{WS}/{LH}/Files/{name}.txt", params={"resource": "file"}).status_code == 201
        )
    query = {"resource": "filesystem", "directory": f"{LH}/Files", "maxResults": "2"}
    first = lake.get(f"/{WS}", params=query)
    rest = lake.get(f"/{WS}", params={**query, "continuation": first.headers["x-ms-continuation"]})
    names = [p["name"] for p in first.json()["paths"] + rest.json()["paths"]]
    assert names == [f"{LH}/Files/{n}.txt" for n in "abc"]
    assert "x-ms-continuation" not in rest.headers


# -- Load Table --


def test_load_table_makes_a_table_of_a_csv_file_with_its_delta_log(fresh, api, lake):
    data = b"Product,Qty,Price,Sold,Paid\nA,3,1.5,2024-01-01T10:00:00Z,true\nB,5,2,2024-01-02,\n"
    write_file(lake, f"/{WS}/{LH}/Files/in/sales.csv", data)
    state = load(
        fresh,
        api,
        "sales",
        {
            "relativePath": "Files/in/sales.csv",
            "pathType": "File",
            "mode": "Overwrite",
            "formatOptions": CSV,
        },
    )
    assert state["status"] == "Succeeded"
    tables = api.get(f"/workspaces/{WS}/lakehouses/{LH}/tables").json()["data"]
    assert [(t["name"], t["type"], t["format"]) for t in tables] == [("sales", "Managed", "delta")]
    rows = fresh.table_rows(LH, "sales")
    assert rows["rows"] == 2
    assert rows["value"][1] == {
        "Product": "B",
        "Qty": "5",
        "Price": "2",
        "Sold": "2024-01-02",
        "Paid": None,
    }
    [lakehouse] = fresh.state()["lakehouses"]
    assert lakehouse["tables"] == [{
        "name": "sales",
        "rows": 2,
        "columns": [
            {"name": "Product", "type": "string"},
            {"name": "Qty", "type": "long"},
            {"name": "Price", "type": "double"},
            {"name": "Sold", "type": "timestamp"},
            {"name": "Paid", "type": "boolean"},
        ],
    }]  # fmt: skip
    log = lake.get(
        f"/{WS}/{LH}/Tables/sales/_delta_log/00000000000000000000.json"
    ).text.splitlines()
    actions = [json.loads(line) for line in log]
    schema = json.loads(next(a["metaData"]["schemaString"] for a in actions if "metaData" in a))
    assert [(f["name"], f["type"]) for f in schema["fields"]][:2] == [
        ("Product", "string"),
        ("Qty", "long"),
    ]
    assert [json.loads(a["add"]["stats"])["numRecords"] for a in actions if "add" in a] == [2]


def test_append_takes_fitting_rows_and_refuses_a_bad_value_leaving_the_table(fresh, api, lake):
    write_file(lake, f"/{WS}/{LH}/Files/a.csv", b"Product,Qty\nA,1\n")
    write_file(lake, f"/{WS}/{LH}/Files/b.csv", b"qty,product\n2,B\n3,C\n")
    write_file(lake, f"/{WS}/{LH}/Files/c.csv", b"Product,Qty\nD,4\nE,many\n")
    body = {"pathType": "File", "mode": "Append", "formatOptions": CSV}
    assert (
        load(fresh, api, "stock", {**body, "relativePath": "Files/a.csv"})["status"] == "Succeeded"
    )
    assert (
        load(fresh, api, "stock", {**body, "relativePath": "Files/b.csv"})["status"] == "Succeeded"
    )
    failed = load(fresh, api, "stock", {**body, "relativePath": "Files/c.csv"})
    assert failed["status"] == "Failed"
    assert failed["error"] == {
        "errorCode": "InvalidInput",
        "message": "Files/c.csv: row 3, column Qty: 'many' is not a long",
    }
    table = fresh.table_rows(LH, "stock")
    assert table["rows"] == 3
    assert [r["Product"] for r in table["value"]] == ["A", "B", "C"]
    log = lake.get(
        f"/{WS}", params={"resource": "filesystem", "directory": f"{LH}/Tables/stock/_delta_log"}
    )
    assert len(log.json()["paths"]) == 2  # one commit per load that succeeded


def test_a_folder_loads_its_files_and_problems_fail_the_operation(fresh, api, lake):
    write_file(lake, f"/{WS}/{LH}/Files/day/1.csv", b"n\n1\n")
    write_file(lake, f"/{WS}/{LH}/Files/day/2.csv", b"n\n2.5\n")
    write_file(lake, f"/{WS}/{LH}/Files/day/notes.txt", b"not data")
    folder = {
        "relativePath": "Files/day",
        "pathType": "Folder",
        "fileExtension": "csv",
        "formatOptions": CSV,
    }
    assert load(fresh, api, "days", folder)["status"] == "Succeeded"
    assert fresh.state()["lakehouses"][0]["tables"][0]["columns"] == [
        {"name": "n", "type": "double"}
    ]
    missing = load(fresh, api, "days", {"relativePath": "Files/none.csv", "pathType": "File"})
    assert missing["error"]["errorCode"] == "PathNotFound"
    parquet = load(fresh, api, "days", {**folder, "formatOptions": {"format": "Parquet"}})
    assert parquet["error"]["errorCode"] == "UnsupportedFileFormat"


# -- job instances --


def test_a_job_instance_runs_to_its_end(fresh, api):
    run = api.post(f"/workspaces/{WS}/items/{NOTEBOOK}/jobs/RunNotebook/instances")
    assert run.status_code == 202
    location = run.headers["location"]
    assert location.startswith(f"{fresh.base_url}/workspaces/{WS}/items/{NOTEBOOK}/jobs/instances/")
    assert run.headers["retry-after"] == "60"
    assert httpx.get(location, headers=api.headers).json()["status"] == "NotStarted"
    fresh.advance_clock(30)
    assert httpx.get(location, headers=api.headers).json()["status"] == "InProgress"
    fresh.advance_clock(30)
    done = httpx.get(location, headers=api.headers).json()
    assert (done["status"], done["jobType"], done["invokeType"]) == (
        "Completed",
        "RunNotebook",
        "Manual",
    )
    assert "endTimeUtc" in done
    typed = api.post(
        f"/workspaces/{WS}/dataPipelines/{SEED_IDS['sales_pipeline']}/jobs/execute/instances"
    )
    assert typed.status_code == 202
    listed = api.get(f"/workspaces/{WS}/items/{NOTEBOOK}/jobs/instances").json()["value"]
    assert [j["status"] for j in listed] == ["Completed"]


def test_a_cancelled_job_ends_cancelled(fresh, api):
    run = api.post(f"/workspaces/{WS}/items/{NOTEBOOK}/jobs/RunNotebook/instances")
    job_id = run.headers["location"].rsplit("/", 1)[1]
    cancel = api.post(f"/workspaces/{WS}/items/{NOTEBOOK}/jobs/instances/{job_id}/cancel")
    assert cancel.status_code == 202
    fresh.advance_clock(120)
    assert httpx.get(run.headers["location"], headers=api.headers).json()["status"] == "Cancelled"
