"""Requests naming a stored connection: resolution and its errors, in process."""

from __future__ import annotations

import json
from contextlib import contextmanager

import httpx
import pytest

from conftest import BASE, TOKEN_URL, assert_envelope
from connectorkit.call._run import Runner
from connectorkit.protocol._protocol import respond
from connectorkit.state import StoredConnections, connection_lineage, open_state
from connectorkit.state._tokens import StoreTokens


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


def save_with_token(state, token):
    values = {"client_id": "app", "client_secret": "stored-secret-value", "token_url": TOKEN_URL}
    StoredConnections(state).save("sales", "oauth2", {**values, "base_url": BASE}, token)


def renewed(access, refresh, expires_at=4_000_000_000):
    return {"access_token": access, "refresh_token": refresh, "expires_at": expires_at}


def test_a_refused_stored_token_another_process_renewed_meanwhile_is_replaced_without_renewing(
    pack, runner, httpx_mock
):
    # The call sends the token it read; meanwhile another process renewed it (and stored the
    # new one). When the service refuses the old one, the call retries with the stored new
    # one: no token request, whose refresh token that process has already spent.
    save_with_token(runner.state, renewed("stored-access-A", "stored-refresh-A"))
    sent = []

    def groups(request):
        sent.append(request.headers["Authorization"])
        if len(sent) == 1:
            runner.tokens.put(connection_lineage("sales"), renewed("access-B", "refresh-B"))
            return httpx.Response(401)
        return httpx.Response(200, json={"value": []})

    httpx_mock.add_callback(groups, url=f"{BASE}/groups", is_reusable=True)
    response, code = ask(pack, runner, {"name": "sales"})
    assert (code, response["ok"]) == (0, True), response
    assert sent == ["Bearer stored-access-A", "Bearer access-B"]
    assert httpx_mock.get_requests(url=TOKEN_URL) == []
    assert "token" not in response


class RenewedWhileWaiting(StoreTokens):
    """Tokens in which another worker files its renewal while this call waits for the lease."""

    theirs: dict | None = None

    @contextmanager
    def lease(self, key, *, wait):
        with super().lease(key, wait=wait) as held:
            if self.theirs is not None:
                self.put(key, self.theirs)
                self.theirs = None
            yield held


def test_an_expired_stored_token_another_worker_renewed_while_this_call_waited_is_used(
    pack, httpx_mock
):
    state = open_state("memory://")
    tokens = RenewedWhileWaiting(state)
    runner = Runner(state=state, tokens=tokens)
    save_with_token(state, renewed("stored-access-A", "stored-refresh-A", expires_at=1))
    tokens.theirs = renewed("access-B", "refresh-B")
    httpx_mock.add_response(url=f"{BASE}/groups", json={"value": []})
    try:
        response, code = ask(pack, runner, {"name": "sales"})
    finally:
        runner.close()
    assert (code, response["ok"]) == (0, True), response
    assert httpx_mock.get_request(url=f"{BASE}/groups").headers["Authorization"] == (
        "Bearer access-B"
    )
    assert httpx_mock.get_requests(url=TOKEN_URL) == []
