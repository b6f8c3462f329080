"""invoke and serve stream a paged call's items as lines before its response, in order."""

from __future__ import annotations

import io
import json

from connectorkit.protocol._protocol import invoke, serve
from jobs_helpers import BASE, connection

EVENTS = f"{BASE}/events?start=s"


def pages(httpx_mock, count=3, size=2):
    for n in range(count):
        url = EVENTS if n == 0 else f"{BASE}/events?c={n}"
        following = f"{BASE}/events?c={n + 1}" if n + 1 < count else None
        body = {
            "events": [{"n": n * size + i} for i in range(size)],
            "continuationUri": following,
            "lastResultSet": following is None,
        }
        httpx_mock.add_response(url=url, json=body)


def request(**inputs):
    return {
        "id": "r1",
        "action": "list_events",
        "inputs": {"start": "s", **inputs},
        "connection": connection(),
    }


def test_invoke_writes_each_item_then_the_response(jobs, httpx_mock):
    pages(httpx_mock)
    stdout = io.StringIO()
    code = invoke(
        lambda: (jobs.pack, jobs.runner), io.StringIO(json.dumps(request(stream=True))), stdout
    )
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert code == 0
    assert lines[:6] == [{"id": "r1", "item": {"n": n}} for n in range(6)]
    assert lines[6]["ok"] is True
    assert lines[6]["result"] == {"items": 6}
    assert len(lines) == 7


def test_without_stream_the_items_are_in_the_result(jobs, httpx_mock):
    pages(httpx_mock)
    stdout = io.StringIO()
    invoke(lambda: (jobs.pack, jobs.runner), io.StringIO(json.dumps(request())), stdout)
    (line,) = stdout.getvalue().splitlines()
    assert json.loads(line)["result"] == {"events": [{"n": n} for n in range(6)]}


def test_serve_keeps_each_requests_items_before_its_response_in_order(jobs, httpx_mock):
    pages(httpx_mock)
    httpx_mock.add_response(url=f"{BASE}/things", json={"value": [1]})
    lines_in = [
        json.dumps(request(stream=True)),
        json.dumps({"id": "r2", "action": "list_things", "connection": connection()}),
    ]
    stdout = io.StringIO()
    code = serve(
        lambda: (jobs.pack, jobs.runner),
        io.StringIO("\n".join(lines_in) + "\n"),
        stdout,
        concurrency=4,
    )
    assert code == 0
    out = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [o.get("item", {}).get("n") for o in out[:6]] == list(range(6))
    assert (out[6]["id"], out[6]["result"]) == ("r1", {"items": 6})
    assert (out[7]["id"], out[7]["result"]) == ("r2", {"value": [1]})


def test_serve_streams_inline_at_concurrency_one(jobs, httpx_mock):
    pages(httpx_mock, count=2)
    stdout = io.StringIO()
    serve(
        lambda: (jobs.pack, jobs.runner),
        io.StringIO(json.dumps(request(stream=True)) + "\n"),
        stdout,
        concurrency=1,
    )
    out = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [o["item"]["n"] for o in out[:4]] == [0, 1, 2, 3]
    assert out[4]["result"] == {"items": 4}
