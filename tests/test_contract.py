"""One request contract: the typed structures decode and check, the published schema is theirs.

The schema in ``schemas/request.schema.json`` is generated from the structures, the decoder
accepts exactly what the schema accepts, and a refused request names every bad field whether it
came as text or as a Python mapping.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SCHEMAS, envelope_validator
from connectorkit.call._entry import call
from connectorkit.core._contract import request_schema
from connectorkit.protocol._protocol import respond, take_request

REGENERATE = (
    'python -c "import json; from connectorkit.core._contract import request_schema; '
    "open('runtime/connectorkit/schemas/request.schema.json', 'w').write("
    "json.dumps(request_schema(), indent=2, ensure_ascii=False) + '\\n')\""
)


def test_the_published_request_schema_is_generated_from_the_contract():
    published = json.loads((SCHEMAS / "request.schema.json").read_text(encoding="utf-8"))
    assert published == request_schema(), f"regenerate it: {REGENERATE}"


def test_a_stored_connection_name_is_in_the_schema_and_accepted():
    request = {"action": "list_groups", "connection": {"name": "sales"}}
    assert envelope_validator("request.schema.json").is_valid(request)
    taken = take_request(json.dumps(request))
    assert taken.error is None
    assert taken.request is not None
    assert taken.request.connection is not None
    assert taken.request.connection.name == "sales"


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
TOKENS = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.one_of(st.text(max_size=3), JSON),
        "expires_at": st.one_of(
            st.integers(), st.floats(allow_nan=False, allow_infinity=False), JSON
        ),
        "token_type": st.one_of(st.just("Bearer"), JSON),
        "extra": JSON,
    },
)
CONNECTIONS = st.fixed_dictionaries(
    {},
    optional={
        "key": st.one_of(st.just("oauth2"), JSON),
        "values": st.one_of(st.dictionaries(st.text(max_size=4), JSON, max_size=3), JSON),
        "token": st.one_of(TOKENS, JSON),
        "name": st.one_of(st.just("sales"), JSON),
        "nme": JSON,
    },
)
REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "action": st.one_of(st.sampled_from(["list_groups", ""]), JSON),
        "inputs": st.one_of(st.dictionaries(st.text(max_size=4), JSON, max_size=3), JSON),
        "connection": st.one_of(CONNECTIONS, JSON),
        "resume": st.one_of(st.just("op_1"), JSON),
        "cancel": st.one_of(st.just("op_2"), JSON),
        "choices": st.one_of(
            st.fixed_dictionaries(
                {"action": st.one_of(st.just("list_tables"), JSON)},
                optional={
                    "input": st.one_of(st.just("table_name"), JSON),
                    "inputs": st.one_of(st.dictionaries(st.text(max_size=4), JSON), JSON),
                    "search": st.one_of(st.text(max_size=3), JSON),
                    "colour": JSON,
                },
            ),
            JSON,
        ),
        "input": JSON,
    },
)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(REQUESTS)
def test_the_decoder_accepts_exactly_what_the_schema_accepts(request: dict[str, Any]) -> None:
    valid = envelope_validator("request.schema.json").is_valid(request)
    taken = take_request(json.dumps(request))
    assert (taken.error is None) == valid, (request, taken.error)


@settings(max_examples=300, deadline=None)
@given(REQUESTS)
def test_a_mapping_is_refused_as_its_text_is(request: dict[str, Any]) -> None:
    taken = take_request(json.dumps(request))
    if taken.error is None:
        return
    from_text = getattr(taken.error, "to_dict", dict)()
    from_mapping = call(request, None, None)["error"]  # type: ignore[arg-type]  # refused first
    assert from_mapping == from_text


def test_every_bad_field_is_named_in_the_contracts_order(pack, runner):
    text = json.dumps(
        {
            "extra": 1,
            "id": {"no": "objects"},
            "action": "",
            "inputs": [],
            "connection": {"nme": "x", "key": 5, "token": {"expires_at": "soon", "scope": 1}},
        }
    )
    response, code = respond(pack, runner, text)
    assert code == 2
    assert "id" not in response
    assert response["error"]["type"] == "invalid_request"
    assert response["error"]["details"] == [
        {
            "field": "extra",
            "message": "is not a request field (id, action, inputs, connection, resume, cancel, "
            "choices, trigger, subscription, cursor)",
        },
        {"field": "id", "message": "must be a string or a finite number"},
        {"field": "action", "message": "must be the name of an action"},
        {"field": "inputs", "message": "must be an object, not an array"},
        {
            "field": "connection.nme",
            "message": "is not a connection field (key, values, token, name)",
        },
        {"field": "connection.key", "message": "must be a string"},
        {"field": "connection.token.expires_at", "message": "must be seconds since the epoch"},
        {"field": "connection.token.scope", "message": "must be a string"},
    ]
    assert response["error"]["message"] == (
        "the request has the wrong shape: extra, id, action, inputs, connection.nme, "
        "connection.key, connection.token.expires_at, connection.token.scope"
    )


def test_an_operation_handle_stands_for_the_action(pack, runner):
    response, code = respond(pack, runner, json.dumps({"resume": "op_1", "cancel": "op_2"}))
    assert code == 2
    assert response["error"]["details"] == [
        {"field": "cancel", "message": "give either resume or cancel"}
    ]
    response, _ = respond(pack, runner, json.dumps({"resume": ""}))
    assert response["error"]["details"] == [
        {"field": "resume", "message": "must be an operation handle (op_…)"}
    ]
    response, _ = respond(pack, runner, json.dumps({"inputs": {}}))
    assert response["error"]["details"] == [
        {"field": "action", "message": "must be the name of an action"}
    ]
