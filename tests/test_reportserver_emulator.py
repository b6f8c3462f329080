"""The Report Server emulator on its own: a real process, real sockets, a real NTLM handshake.

The client side here is pyspnego driven by hand over a one-connection httpx client, so these
tests check the server without the runtime's auth flow.
"""

from __future__ import annotations

import base64

import httpx
import pytest
import spnego

from reportserver_emulator import SEED
from reportserver_helpers import reportserver

ALICE = ("CONTOSO\\alice", "Passw0rd!")
BOB = ("bob", "hunter2:with:colons")


@pytest.fixture(scope="module")
def urls():
    with reportserver("--user", f"{ALICE[0]}:{ALICE[1]}", "--user", f"{BOB[0]}:{BOB[1]}") as found:
        yield found


def one_connection() -> httpx.Client:
    return httpx.Client(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


def sign_in(client: httpx.Client, url: str, user: str, password: str, scheme: str = "NTLM"):
    """Run the handshake on ``client``'s single connection; return the final response."""
    context = spnego.client(user, password, hostname="127.0.0.1", protocol=scheme.lower())
    first = client.get(url, headers={"Authorization": f"{scheme} {_b64(context.step())}"})
    assert first.status_code == 401
    challenge = base64.b64decode(first.headers["www-authenticate"].split(" ", 1)[1])
    answer = context.step(challenge)
    return client.get(url, headers={"Authorization": f"{scheme} {_b64(answer)}"})


def _b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode()


def stats(urls) -> dict[str, int]:
    return httpx.get(urls["stats_url"]).json()


def test_an_anonymous_request_is_offered_negotiate_and_ntlm(urls):
    response = httpx.get(urls["base_url"] + "/PowerBIReports")
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == ["Negotiate", "NTLM"]


@pytest.mark.parametrize("scheme", ["NTLM", "Negotiate"])
def test_a_handshake_signs_in_the_connection_and_only_that_connection(urls, scheme):
    me = urls["base_url"] + "/Me"
    with one_connection() as client:
        response = sign_in(client, me, *ALICE, scheme=scheme)
        assert response.status_code == 200
        assert response.json()["Username"] == "CONTOSO\\alice"
        # The same connection stays signed in without any header...
        again = client.get(urls["base_url"] + "/Folders")
        assert again.status_code == 200
    # ...and a new connection is anonymous again.
    with one_connection() as other:
        assert other.get(me).status_code == 401


def test_a_user_without_domain_and_a_password_with_colons_sign_in(urls):
    with one_connection() as client:
        response = sign_in(client, urls["base_url"] + "/Me", *BOB)
    assert response.status_code == 200
    assert response.json()["Username"] == "bob"


@pytest.mark.parametrize(
    ("user", "password"), [(ALICE[0], "wrong"), ("CONTOSO\\mallory", "x"), ("alice", ALICE[1])]
)
def test_wrong_credentials_get_a_fresh_401(urls, user, password):
    refused = stats(urls)["refused"]
    with one_connection() as client:
        response = sign_in(client, urls["base_url"] + "/Me", user, password)
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == ["Negotiate", "NTLM"]
        # Nothing was signed in: the next request on the connection is refused too.
        assert client.get(urls["base_url"] + "/Me").status_code == 401
    assert stats(urls)["refused"] == refused + 1


def test_an_answer_on_another_connection_than_the_challenge_is_refused(urls):
    """What a shared connection pool does under concurrency, and why it fails."""
    me = urls["base_url"] + "/Me"
    context = spnego.client(*ALICE, hostname="127.0.0.1", protocol="ntlm")
    with one_connection() as first, one_connection() as second:
        challenged = first.get(me, headers={"Authorization": f"NTLM {_b64(context.step())}"})
        challenge = base64.b64decode(challenged.headers["www-authenticate"].split(" ", 1)[1])
        answer = context.step(challenge)
        response = second.get(me, headers={"Authorization": f"NTLM {_b64(answer)}"})
    assert response.status_code == 401


def test_an_ntlm_only_server_offers_only_ntlm():
    with reportserver("--scheme", "ntlm") as only:
        response = httpx.get(only["base_url"] + "/Me")
        assert response.headers.get_list("www-authenticate") == ["NTLM"]
        with one_connection() as client:
            context = spnego.client(*ALICE, hostname="127.0.0.1", protocol="negotiate")
            header = f"Negotiate {_b64(context.step())}"
            assert (
                client.get(only["base_url"] + "/Me", headers={"Authorization": header}).status_code
                == 401
            )
            assert sign_in(client, only["base_url"] + "/Me", *ALICE).status_code == 200


@pytest.fixture
def alice(urls):
    with one_connection() as client:
        assert sign_in(client, urls["base_url"] + "/Me", *ALICE).status_code == 200
        yield client


def test_lists_apply_odata_query_options(urls, alice):
    base = urls["base_url"]
    everything = alice.get(base + "/PowerBIReports").json()
    assert everything["@odata.context"] == f"{base}/$metadata#PowerBIReports"
    assert [r["Path"] for r in everything["value"]] == [
        "/Finance/Budget 2026",
        "/Sales/Archive/Revenue 2024",
        "/Sales/Pipeline",
        "/Sales/Revenue",
    ]
    page = alice.get(
        base + "/PowerBIReports",
        params={
            "$filter": "startswith(Path, '/Sales/') and Hidden eq false",
            "$orderby": "Name desc",
            "$skip": "1",
            "$top": "1",
            "$count": "true",
            "$select": "Name,Path",
        },
    ).json()
    assert page["@odata.count"] == 3
    assert page["value"] == [{"Id": SEED["revenue"], "Name": "Revenue", "Path": "/Sales/Revenue"}]
    folders = alice.get(base + "/Folders", params={"$filter": "Name eq 'Sales'"}).json()
    assert [f["Id"] for f in folders["value"]] == [SEED["sales"]]
    types = {i["Type"] for i in alice.get(base + "/CatalogItems").json()["value"]}
    assert types == {"Folder", "PowerBIReport", "Report"}


def test_a_filter_the_server_cannot_read_is_a_400_with_its_error_body(urls, alice):
    response = alice.get(urls["base_url"] + "/PowerBIReports", params={"$filter": "Nope eq 1"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rsInvalidParameter"
    assert "Nope" in response.json()["error"]["message"]


def test_items_by_guid_or_path_and_a_missing_one(urls, alice):
    base = urls["base_url"]
    by_id = alice.get(f"{base}/PowerBIReports({SEED['revenue']})").json()
    by_path = alice.get(f"{base}/PowerBIReports(path='/Sales/Revenue')").json()
    assert by_id["Path"] == by_path["Path"] == "/Sales/Revenue"
    assert by_id["ParentFolderId"] == SEED["sales"]
    missing = alice.get(f"{base}/PowerBIReports(00000000-0000-0000-0000-000000000000)")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "rsItemNotFound"


def test_policies_are_inherited_from_the_folder(urls, alice):
    base = urls["base_url"]
    revenue = alice.get(f"{base}/CatalogItems({SEED['revenue']})/Policies").json()
    sales = alice.get(f"{base}/CatalogItems({SEED['sales']})/Policies").json()
    assert revenue["InheritParentPolicy"] is True
    assert revenue["Policies"] == sales["Policies"]
    assert sales["InheritParentPolicy"] is False
    assert {p["GroupUserName"] for p in sales["Policies"]} >= {"CONTOSO\\alice"}


def test_refresh_plans_run_and_leave_history(urls, alice):
    base = urls["base_url"]
    plans = alice.get(f"{base}/PowerBIReports({SEED['revenue']})/CacheRefreshPlans").json()
    assert {p["Id"] for p in plans["value"]} == {SEED["plan_daily"], SEED["plan_hourly"]}
    before = alice.get(f"{base}/CacheRefreshPlans({SEED['plan_hourly']})").json()
    assert before["LastRunTime"] is None
    run = alice.post(f"{base}/CacheRefreshPlans({SEED['plan_hourly']})/Model.Execute")
    assert run.status_code == 204
    after = alice.get(f"{base}/CacheRefreshPlans({SEED['plan_hourly']})").json()
    assert after["LastRunTime"] is not None
    assert after["LastStatus"] == "Completed Data Refresh"
    history = alice.get(f"{base}/CacheRefreshPlans({SEED['plan_hourly']})/History").json()
    assert history["value"][-1]["Message"] == "Refresh started by CONTOSO\\alice"


def test_role_assignments_are_replaced_only_with_known_roles(urls, alice):
    url = f"{urls['base_url']}/PowerBIReports({SEED['budget']})/DataModelRoleAssignments"
    wanted = [{"GroupUserName": "CONTOSO\\bob", "DataModelRoles": [SEED["role_finance"]]}]
    assert alice.put(url, json=wanted).status_code == 200
    assert alice.get(url).json()["value"] == wanted
    bad = [{"GroupUserName": "CONTOSO\\bob", "DataModelRoles": [SEED["role_west"]]}]
    assert alice.put(url, json=bad).status_code == 400


def test_an_upload_creates_a_report_once(urls, alice):
    base = urls["base_url"]
    body = {
        "@odata.type": "#Model.PowerBIReport",
        "Name": "Forecast",
        "Path": "/Finance/Forecast",
        "Content": base64.b64encode(b"PK\x03\x04forecast").decode(),
        "ContentType": "",
    }
    created = alice.post(f"{base}/PowerBIReports", json=body)
    assert created.status_code == 201
    assert created.json()["Size"] == 12
    assert created.json()["CreatedBy"] == "CONTOSO\\alice"
    assert alice.post(f"{base}/PowerBIReports", json=body).status_code == 409
    listed = alice.get(f"{base}/PowerBIReports", params={"$filter": "Name eq 'Forecast'"})
    assert [r["Id"] for r in listed.json()["value"]] == [created.json()["Id"]]
    nowhere = alice.post(f"{base}/PowerBIReports", json={**body, "Path": "/Nope/Forecast"})
    assert nowhere.status_code == 404
