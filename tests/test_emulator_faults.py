"""Faults injected through the emulator's control API, seen by a real httpx client."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from powerbi_emulator import FaultSpec, running

ROWS = r"/tables/T/rows$"


@pytest.fixture(scope="module")
def emu():
    with running() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh(emu):
    emu.reset()


@pytest.fixture
def api(emu):
    token = emu.issue_token()["access_token"]
    with httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def dataset(api):
    body = {"name": "F", "tables": [{"name": "T", "columns": [{"name": "n", "dataType": "Int64"}]}]}
    return api.post("/datasets", json=body).json()["id"]


def post_rows(api, dataset_id, n, **kwargs):
    return api.post(f"/datasets/{dataset_id}/tables/T/rows", json={"rows": [{"n": n}]}, **kwargs)


def stored(emu, dataset_id):
    return [row["n"] for row in emu.rows(dataset_id, "T")]


def test_status_fault_fires_count_times_and_commits_nothing(emu, api, dataset):
    fault = emu.set_fault(
        path=ROWS, method="POST", action="status", status=503, retry_after=2, count=2
    )
    assert [f["id"] for f in emu.faults()] == [fault["id"]]
    assert fault["remaining"] == 2
    for n in (1, 2):
        response = post_rows(api, dataset, n)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["code"] == "ServiceUnavailable"
    assert post_rows(api, dataset, 3).status_code == 200
    assert stored(emu, dataset) == [3]
    [listed] = emu.faults()
    assert (listed["fired"], listed["remaining"]) == (2, 0)
    statuses = [(e["status"], e.get("fault", {}).get("action")) for e in emu.requests(kind="api")]
    assert statuses[-3:] == [(503, "status"), (503, "status"), (200, None)]


def test_faults_match_method_and_path(emu, api, dataset):
    emu.set_fault(path=ROWS, method="DELETE", status=500, code="Boom", message="kaboom")
    assert post_rows(api, dataset, 1).status_code == 200
    assert api.get("/datasets").status_code == 200
    deleted = api.delete(f"/datasets/{dataset}/tables/T/rows")
    assert deleted.status_code == 500
    assert deleted.json() == {"error": {"code": "Boom", "message": "kaboom"}}
    assert stored(emu, dataset) == [1]


def test_429_fault_looks_like_throttling(emu, api, dataset):
    emu.set_fault(path=ROWS, status=429, retry_after=7, count=1)
    response = post_rows(api, dataset, 1)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "TooManyRequests"


def test_rate_with_a_seed_is_reproducible(emu, api, dataset):
    def run():
        emu.clear_faults()
        emu.set_fault(path=r"/groups$", rate=0.5, seed=7)
        return [api.get("/groups").status_code for _ in range(24)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(503) < 24
    emu.clear_faults()
    emu.set_fault(path=r"/groups$", rate=0.5, seed=8)
    assert [api.get("/groups").status_code for _ in range(24)] != first


def test_drop_before_closes_the_connection_without_committing(emu, api, dataset):
    emu.set_fault(path=ROWS, action="drop_before", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        post_rows(api, dataset, 1)
    assert stored(emu, dataset) == []
    entry = emu.requests(kind="api")[-1]
    assert entry["status"] is None
    assert entry["fault"]["action"] == "drop_before"
    assert post_rows(api, dataset, 2).status_code == 200  # the client reconnects


def test_drop_after_commits_then_truncates_the_response(emu, api, dataset):
    emu.set_fault(path=ROWS, action="drop_after", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        post_rows(api, dataset, 1)
    assert stored(emu, dataset) == [1]  # a blind retry would store it twice
    entry = emu.requests(kind="api")[-1]
    assert (entry["status"], entry["fault"]["action"]) == (200, "drop_after")


def test_drop_after_truncates_a_json_body_too(emu, api):
    emu.set_fault(path=r"/groups$", action="drop_after", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/groups")
    assert api.get("/groups").status_code == 200


def test_stall_delays_then_answers(emu, api, dataset):
    emu.set_fault(path=ROWS, action="stall", stall_ms=300, count=1)
    started = time.monotonic()
    assert post_rows(api, dataset, 1).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert stored(emu, dataset) == [1]


def test_stall_makes_a_client_time_out(emu, api, dataset):
    emu.set_fault(path=ROWS, action="stall", stall_ms=1500, count=1)
    with pytest.raises(httpx.ReadTimeout):
        post_rows(api, dataset, 1, timeout=0.3)


def test_faults_reach_the_token_endpoint(emu):
    emu.set_fault(path=r"/oauth2/v2\.0/token$", status=500, count=1)
    data = {
        "grant_type": "client_credentials",
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "scope": "https://analysis.windows.net/powerbi/api/.default",
    }
    assert httpx.post(emu.token_url, data=data).status_code == 500
    assert httpx.post(emu.token_url, data=data).status_code == 200


def test_control_api_manages_faults(emu):
    first = emu.set_fault(FaultSpec(path="/a"))
    second = emu.set_fault({"path": "/b", "action": "stall"})
    assert [f["id"] for f in emu.faults()] == [first["id"], second["id"]]
    emu.remove_fault(first["id"])
    assert [f["id"] for f in emu.faults()] == [second["id"]]
    emu.clear_faults()
    assert emu.faults() == []
    assert emu.state()["faults"] == []


@pytest.mark.parametrize(
    "spec",
    [
        {"action": "explode"},
        {"path": "("},
        {"rate": 2},
        {"count": 0},
        {"status": 200},
        {"colour": "red"},
        {"status": "503"},
    ],
)
def test_control_api_rejects_bad_fault_specs(emu, spec):
    response = httpx.post(f"{emu.url}/_emulator/faults", json=spec)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid fault")


def test_control_api_unknown_routes(emu):
    assert httpx.delete(f"{emu.url}/_emulator/faults/f999").status_code == 404
    assert httpx.get(f"{emu.url}/_emulator/nothing").status_code == 404
    assert httpx.post(f"{emu.url}/_emulator/clock", json={"advance": -1}).status_code == 400


def test_faults_configured_at_start_are_active():
    spec = FaultSpec(path=r"/groups$", status=502, count=1)
    with running(faults=(spec,)) as emu:
        token = emu.issue_token(principal="app")["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{emu.base_url}/groups", headers=headers).status_code == 502
        assert httpx.get(f"{emu.base_url}/groups", headers=headers).status_code == 200


def test_stopping_the_emulator_does_not_wait_for_a_stalled_request():
    outcome = {}
    with running() as emu:
        emu.set_fault(path=r"/groups$", action="stall", stall_ms=60_000)
        token = emu.issue_token(principal="app")["access_token"]

        def call():
            try:
                headers = {"Authorization": f"Bearer {token}"}
                outcome["status"] = httpx.get(f"{emu.base_url}/groups", headers=headers).status_code
            except httpx.HTTPError as exc:
                outcome["error"] = type(exc).__name__

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 30  # wait until the request is being stalled (a busy box)
        while emu.faults()[0]["fired"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    caller.join(5)
    assert outcome == {"error": "RemoteProtocolError"}


@pytest.mark.parametrize("status", [429, 503])
def test_injected_faults_carry_a_request_id_and_every_429_a_retry_after(emu, api, status):
    emu.set_fault(path=r"/groups$", status=status, count=1)
    response = api.get("/groups")
    assert response.status_code == status
    assert response.headers["requestid"]
    if status == 429:
        assert int(response.headers["retry-after"]) >= 1
    else:
        assert "retry-after" not in response.headers


def test_a_request_over_16_mb_is_413_with_a_request_id(api, dataset):
    rows = [{"n": 1}] * 2_500_000  # eight bytes a row: 20 MB of JSON
    response = api.post(f"/datasets/{dataset}/tables/T/rows", json={"rows": rows})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "RequestEntityTooLarge"
    assert response.headers["requestid"]
