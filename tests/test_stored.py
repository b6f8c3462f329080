"""Requests naming a stored connection: resolution and its errors, in process."""

from __future__ import annotations

import json

import pytest

from conftest import BASE, TOKEN_URL, assert_envelope
from connectorkit.call._run import Runner
from connectorkit.protocol._protocol import respond
from connectorkit.state import StoredConnections, open_state


@pytest.fixture
def runner():
    active = Runner(state=open_state("memory://"))
    yield active
    active.close()


@pytest.fixture
def stored(runner):
    StoredConnections(runner.state).save(
        "sales",
        "oauth2",
        {
            "client_id": "app",
            "client_secret": "stored-secret-value",
            "base_url": BASE,
            "token_url": TOKEN_URL,
        },
        {"access_token": "stored-access-token-1", "expires_at": 4_000_000_000},
    )


def ask(pack, runner, connection):
    response, code = respond(
        pack, runner, json.dumps({"action": "list_groups", "connection": connection})
    )
    assert_envelope(response)
    return response, code


def test_a_named_connection_sends_its_stored_token(pack, runner, stored, httpx_mock):
    httpx_mock.add_response(url=f"{BASE}/groups", json={"value": []})
    response, code = ask(pack, runner, {"name": "sales"})
    assert (code, response["ok"]) == (0, True)
    sent = httpx_mock.get_request()
    assert sent.headers["Authorization"] == "Bearer stored-access-token-1"
    assert "token" not in response


def test_values_beside_the_name_override_the_stored_ones(pack, runner, stored, httpx_mock):
    other = "https://other.example.test/v1.0/myorg"
    httpx_mock.add_response(url=f"{other}/groups", json={"value": []})
    response, _ = ask(pack, runner, {"name": "sales", "values": {"base_url": other}})
    assert response["ok"] is True


@pytest.mark.parametrize(
    ("connection", "field", "message"),
    [
        ({"name": "nobody"}, "connection.name", "no such stored connection"),
        (
            {"name": "sales", "key": "client_credentials"},
            "connection.key",
            "the stored one is 'oauth2'",
        ),
        (
            {"name": "sales", "token": {"access_token": "x"}},
            "connection.token",
            "not allowed with name",
        ),
        ({"name": 3}, "connection.name", "must be a string"),
    ],
)
def test_a_bad_named_connection_is_refused_by_field(
    pack, runner, stored, connection, field, message
):
    response, code = ask(pack, runner, connection)
    assert code == 2
    assert {"field": field, "message": message} in response["error"]["details"]
    assert "stored-secret-value" not in json.dumps(response)
