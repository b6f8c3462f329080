"""Property: whatever JSON a caller sends, the answer is one contract envelope, never a defect."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_envelope, sp_connection, user_connection
from connectorkit._protocol import respond
from connectorkit._run import Runner

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
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


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_inputs_give_an_envelope_and_never_an_internal_error(pack, fuzz_runner, data):
    action = data.draw(st.sampled_from(sorted(pack.actions)), label="action")
    inputs = data.draw(_field_values(pack) | st.dictionaries(st.text(max_size=8), JSON, max_size=3))
    connection = data.draw(st.sampled_from([user_connection(), sp_connection()]))
    request = {"id": 1, "action": action, "inputs": inputs, "connection": connection}
    response, code = respond(pack, fuzz_runner, json.dumps(request))
    assert_envelope(response)
    assert code in {0, 1, 2}, response
    assert response.get("error", {}).get("type") != "internal_error", response


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=JSON)
def test_any_json_document_gives_an_envelope(pack, fuzz_runner, request):
    response, code = respond(pack, fuzz_runner, json.dumps(request))
    assert_envelope(response)
    assert code in {0, 1, 2}, response
