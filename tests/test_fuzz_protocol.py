"""Property: whatever JSON a caller sends, the answer is one contract envelope, never a defect.

Deterministic in CI (``derandomize``: the same examples every run, no example database); the
inputs that once broke the protocol are pinned as explicit examples. The long randomized run
is ``bench/fuzz_protocol.py``.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_envelope, sp_connection, user_connection
from connectorkit.call._run import Runner
from connectorkit.protocol._protocol import dump_response, respond

# Text may hold lone surrogates (category Cs): json.dumps escapes them as \udXXX, as a caller
# whose string type allows them would.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def _service(request: httpx.Request) -> httpx.Response:
    """A stand-in Power BI that accepts everything (tokens included)."""
    if request.url.path.endswith("/token"):
        return httpx.Response(200, json={"access_token": "fuzz-token", "expires_in": 3600})
    return httpx.Response(200, json={"value": [{"id": "1"}, {"id": "2"}]})


@pytest.fixture(scope="module")
def fuzz_runner():
    runner = Runner(
        http=httpx.Client(transport=httpx.MockTransport(_service)), sleep=lambda _s: None
    )
    yield runner
    runner.close()


def _field_values(pack):
    keys = sorted({i.key for a in pack.actions.values() for i in a.inputs})
    return st.dictionaries(st.sampled_from(keys), JSON, max_size=6)


def assert_strict(response) -> None:
    """The line serve or invoke writes for ``response`` is strict JSON and encodes as UTF-8."""

    def refuse(name):
        raise AssertionError(f"{name} in output")

    line = dump_response(response)
    line.encode("utf-8")
    json.loads(line, parse_constant=refuse)


CI = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@CI
@given(data=st.data())
def test_any_inputs_give_an_envelope_and_never_an_internal_error(pack, fuzz_runner, data):
    action = data.draw(st.sampled_from(sorted(pack.actions)), label="action")
    inputs = data.draw(_field_values(pack) | st.dictionaries(st.text(max_size=8), JSON, max_size=3))
    connection = data.draw(st.sampled_from([user_connection(), sp_connection()]))
    request = {"id": 1, "action": action, "inputs": inputs, "connection": connection}
    response, code = respond(pack, fuzz_runner, json.dumps(request))
    assert_envelope(response)
    assert_strict(response)
    assert code in {0, 1, 2}, response
    assert response.get("error", {}).get("type") != "internal_error", response


# Requests that once gave a traceback, a non-JSON stdout or an internal_error.
PINNED = [
    '{"id":"\\ud800","action":"x"}',
    '{"id":1e400,"action":"x"}',
    '{"id":[1],"action":"list_groups"}',
    '{"id":"a","action":5}',
    '{"action":"raw_request","inputs":{"data":{"a":"\\udc00"}}}',
    '{"action":"raw_request","inputs":{"query_params":{"q":"\\ud800"}}}',
    '{"action":"raw_request","inputs":{"form_data":{"f":"\\udfff"}}}',
    '{"action":"raw_request","inputs":{"data":[1e400]}}',
    '{"action":"raw_request","inputs":{"headers":{"X":"a\\r\\nb"}}}',
    '{"action":"raw_request","inputs":{"headers":{"X\\u00e9":"v"}}}',
    '{"action":"raw_request","inputs":{"url":"/a\\u0000b"}}',
    '{"action":"list_groups","inputs":{"\\udc80":1}}',
    '{"action":"list_groups","connection":{"values":{"client_id":"\\ud800"}}}',
]


@CI
@given(request=JSON)
def test_any_json_document_gives_an_envelope(pack, fuzz_runner, request):
    response, code = respond(pack, fuzz_runner, json.dumps(request))
    assert_envelope(response)
    assert_strict(response)
    assert code in {0, 1, 2}, response


@pytest.mark.parametrize("text", PINNED)
@pytest.mark.parametrize("connection", ["user", "service principal"])
def test_inputs_that_once_broke_the_protocol(pack, fuzz_runner, text, connection):
    if '"connection"' not in text:  # spliced in as text: 1e400 must stay 1e400
        chosen = user_connection() if connection == "user" else sp_connection()
        text = f'{text[:-1]},"connection":{json.dumps(chosen)}}}'
    response, code = respond(pack, fuzz_runner, text)
    assert_envelope(response)
    assert_strict(response)
    assert code == 2, response
    assert response["error"]["type"] != "internal_error"
