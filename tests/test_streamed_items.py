"""A paged list streamed through ``invoke`` and ``serve``: one line per item, then the response.

The real command runs in-process against a mocked service; what is checked is what a platform
reads on stdout: every item once and in order as ``{"id", "item"}`` lines before the response,
whose result holds the count; a secret echoed in an item is masked as it would be in a result.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from connectorkit.cli import main
from connectorkit.core import _redact

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "packs" / "powerbi"
EVENTS = "https://api.powerbi.com/v1.0/myorg/admin/activityevents"
TOKEN = "eyJ-stream-token-0001"
SECRET = "cs~stream-secret-0002"
# A signed-in user's connection with a token still good for an hour.
CONNECTION = {
    "key": "oauth2",
    "values": {"client_id": "app-1", "client_secret": SECRET, "tenant_id": "contoso"},
    "token": {"access_token": TOKEN, "token_type": "Bearer", "expires_at": 4102444800},
}
WINDOW = {"start_date_time": "'2026-12-01T00:00:00Z'", "end_date_time": "'2026-12-01T23:59:59Z'"}


@pytest.fixture(autouse=True)
def _fresh_process():
    _redact.forget_all()
    yield
    _redact.forget_all()


def request(rid, **inputs):
    return {
        "id": rid,
        "action": "list_activity_events",
        "inputs": {**WINDOW, **inputs},
        "connection": CONNECTION,
    }


def pages(httpx_mock, *items_per_page):
    """The activity log's pages: each links to the next; the last says lastResultSet."""
    for number, items in enumerate(items_per_page):
        last = number == len(items_per_page) - 1
        httpx_mock.add_response(
            url=f"{EVENTS}?startDateTime=%272026-12-01T00%3A00%3A00Z%27"
            f"&endDateTime=%272026-12-01T23%3A59%3A59Z%27"
            if number == 0
            else f"{EVENTS}?continuationToken=page{number}",
            json={
                "activityEventEntities": [{"Id": i, "Activity": "ViewReport"} for i in items],
                "continuationUri": None if last else f"{EVENTS}?continuationToken=page{number + 1}",
                "lastResultSet": last,
            },
        )


def lines_of(command, monkeypatch, capsys, *requests):
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([command, "--pack", str(PACK)])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


def test_invoke_writes_each_item_then_the_response_with_the_count(httpx_mock, monkeypatch, capsys):
    pages(httpx_mock, [1, 2], [3], [4, 5])
    code, lines = lines_of("invoke", monkeypatch, capsys, request("r1", stream=True))
    assert code == 0
    *items, response = lines
    assert items == [
        {"id": "r1", "item": {"Id": i, "Activity": "ViewReport"}} for i in (1, 2, 3, 4, 5)
    ]
    assert response["ok"] is True
    assert response["id"] == "r1"
    assert response["result"]["items"] == 5
    assert "activityEventEntities" not in response["result"]


def test_without_stream_the_items_are_in_the_result(httpx_mock, monkeypatch, capsys):
    pages(httpx_mock, [1, 2], [3])
    code, [response] = lines_of("invoke", monkeypatch, capsys, request("r1"))
    assert code == 0
    assert [e["Id"] for e in response["result"]["activityEventEntities"]] == [1, 2, 3]


def test_serve_streams_one_call_and_answers_the_next_in_order(httpx_mock, monkeypatch, capsys):
    pages(httpx_mock, [1], [2])
    httpx_mock.add_response(
        url="https://api.powerbi.com/v1.0/myorg/groups", json={"value": [{"id": "g1"}]}
    )
    listing = {
        "id": "r2",
        "action": "list_groups",
        "connection": CONNECTION,
    }
    code, lines = lines_of("serve", monkeypatch, capsys, request("r1", stream=True), listing)
    assert code == 0
    assert [line.get("item", {}).get("Id") for line in lines[:2]] == [1, 2]
    assert [(line["id"], line["ok"]) for line in lines[2:]] == [("r1", True), ("r2", True)]
    assert lines[2]["result"]["items"] == 2


def test_a_token_the_service_echoes_in_an_item_is_masked(httpx_mock, monkeypatch, capsys):
    httpx_mock.add_response(
        json={
            "activityEventEntities": [{"Id": 1, "Header": f"Bearer {TOKEN}"}],
            "continuationUri": None,
            "lastResultSet": True,
        },
    )
    code, [item, response] = lines_of("invoke", monkeypatch, capsys, request("r1", stream=True))
    assert code == 0
    assert item == {"id": "r1", "item": {"Id": 1, "Header": "Bearer ***"}}
    assert response["ok"] is True


def test_a_token_the_service_echoes_in_a_result_is_masked(httpx_mock, monkeypatch, capsys):
    httpx_mock.add_response(
        url="https://api.powerbi.com/v1.0/myorg/groups",
        json={"value": [{"id": "g1", "name": f"seen: Bearer {TOKEN}", TOKEN: "as a key"}]},
    )
    listing = {
        "action": "list_groups",
        "connection": CONNECTION,
    }
    code, [response] = lines_of("invoke", monkeypatch, capsys, listing)
    assert code == 0
    assert TOKEN not in json.dumps(response)
    assert response["result"]["value"] == [
        {"id": "g1", "name": "seen: Bearer ***", "***": "as a key"}
    ]
