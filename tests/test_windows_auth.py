"""The Windows (NTLM/Negotiate) auth flow against the Report Server emulator over real sockets.

NTLM signs a connection, not a request: these tests check that the flow keeps each handshake
on one connection, reuses signed-in connections, and never lends one account's connection to
another, also with many threads sharing one client.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest

from connectorkit.auth._windows import WindowsAuth, pool_for
from connectorkit.core._errors import AuthError, InvalidConnection
from connectorkit.http._client import new_client
from reportserver_helpers import reportserver

ALICE = {"username": "alice", "domain": "CONTOSO", "password": "Passw0rd!"}
BOB = {"username": "bob@contoso.com", "password": "hunter2"}


@pytest.fixture(scope="module")
def urls():
    users = ["--user", "CONTOSO\\alice:Passw0rd!", "--user", "bob@contoso.com:hunter2"]
    with reportserver(*users, "--latency", "20") as found:
        yield found


@pytest.fixture
def client():
    with new_client() as shared:
        yield shared


def auth(client, **values):
    connection = SimpleNamespace(values=values, secrets=frozenset({values.get("password", "")}))
    return WindowsAuth(connection, client)


_STATS = httpx.Client()  # one keep-alive connection for every look at the counters


@pytest.fixture(scope="module", autouse=True)
def _close_stats():
    yield
    _STATS.close()  # (left open, its socket is reported unclosed when the interpreter exits)


def stats(urls):
    return _STATS.get(urls["stats_url"]).json()


def who(client, urls, account) -> str:
    response = client.get(urls["base_url"] + "/Me", auth=auth(client, **account))
    assert response.status_code == 200, response.text
    return response.json()["Username"]


def test_one_handshake_then_the_signed_in_connection_is_reused(client, urls):
    before = stats(urls)
    for _ in range(5):
        assert who(client, urls, ALICE) == "CONTOSO\\alice"
    after = stats(urls)
    assert after["logons"] - before["logons"] == 1
    assert after["connections"] - before["connections"] in {1, 2}  # ours, maybe the stats one
    # probe (401 offers), negotiate (401 challenge), authenticate (200), then 4 plain requests
    assert after["requests"] - before["requests"] == 7
    assert pool_for(client).opened == 1


def test_twenty_threads_on_one_client_all_get_their_answer(client, urls):
    with ThreadPoolExecutor(20) as threads:
        names = list(threads.map(lambda _: who(client, urls, ALICE), range(20)))
    assert names == ["CONTOSO\\alice"] * 20
    # Each connection signs in once; a second round reuses them all.
    opened = pool_for(client).opened
    before = stats(urls)["logons"]
    with ThreadPoolExecutor(10) as threads:
        list(threads.map(lambda _: who(client, urls, ALICE), range(10)))
    assert stats(urls)["logons"] == before
    assert pool_for(client).opened == opened


def test_two_accounts_interleaved_never_share_a_connection(client, urls):
    accounts = [ALICE, BOB] * 15
    with ThreadPoolExecutor(12) as threads:
        names = list(threads.map(lambda a: who(client, urls, a), accounts))
    assert names == ["CONTOSO\\alice", "bob@contoso.com"] * 15


def test_a_wrong_password_is_an_auth_error_without_the_password(client, urls):
    with pytest.raises(AuthError) as caught:
        client.get(urls["base_url"] + "/Me", auth=auth(client, **{**ALICE, "password": "Nope!42"}))
    assert caught.value.status == 401
    assert "CONTOSO\\alice" in caught.value.message
    assert "Nope!42" not in json.dumps(caught.value.to_dict())
    # A connection already signed in with the right password is not lent to the wrong one.
    assert who(client, urls, ALICE) == "CONTOSO\\alice"
    with pytest.raises(AuthError):
        client.get(urls["base_url"] + "/Me", auth=auth(client, **{**ALICE, "password": "Nope!42"}))


@pytest.mark.parametrize("setting", ["auto", "ntlm", "negotiate"])
def test_each_scheme_setting_signs_in(client, urls, setting):
    assert who(client, urls, {**ALICE, "auth_scheme": setting}) == "CONTOSO\\alice"


def test_auto_follows_an_ntlm_only_server_and_negotiate_is_refused_there():
    with (
        reportserver("--scheme", "ntlm", "--user", "CONTOSO\\alice:Passw0rd!") as only,
        new_client() as shared,
    ):
        assert who(shared, only, ALICE) == "CONTOSO\\alice"
        with pytest.raises(AuthError):
            shared.get(
                only["base_url"] + "/Me", auth=auth(shared, **ALICE, auth_scheme="negotiate")
            )


def test_a_post_body_survives_the_handshake(client, urls):
    body = [{"GroupUserName": "CONTOSO\\carol", "DataModelRoles": []}]
    url = urls["base_url"] + "/PowerBIReports(path='/Finance/Budget 2026')/DataModelRoleAssignments"
    fresh = new_client()
    with fresh:
        assert fresh.put(url, json=body, auth=auth(fresh, **ALICE)).status_code == 200
        assert fresh.get(url, auth=auth(fresh, **ALICE)).json()["value"] == body


def test_an_incomplete_account_is_refused_before_sending(client):
    with pytest.raises(InvalidConnection) as caught:
        auth(client, username="alice")
    assert caught.value.details == [
        {"field": "connection.values.password", "message": "is missing"}
    ]
    with pytest.raises(InvalidConnection):
        auth(client, **ALICE, auth_scheme="kerberos")


def test_every_connection_kind_is_served_without_importing_its_module_first():
    """The kinds are one explicit table: a fresh process serves `windows` connections with no
    side-effect import, and NTLM's module loads only when such a connection is used."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    script = (
        "import sys\n"
        "from connectorkit.auth._kinds import KINDS, auth_flow_types, _factory\n"
        "assert auth_flow_types() == sorted(KINDS), auth_flow_types()\n"
        "kinds = {'oauth2', 'windows', 'api_key', 'basic', 'bearer', 'managed_identity'}\n"
        "assert kinds <= set(KINDS)\n"
        "for module in ('_windows', '_static', '_managed', '_assertion'):\n"
        "    assert 'connectorkit.auth.' + module not in sys.modules, module\n"
        "assert _factory('windows').__name__ == 'WindowsAuth'\n"
        "assert _factory('oauth2').__name__ == 'ConnectionAuth'\n"
        "assert _factory('api_key').__name__ == 'StaticAuth'\n"
        "assert _factory('managed_identity').__name__ == 'ManagedIdentityAuth'\n"
        "assert _factory('kerberos') is None\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_a_kind_cannot_be_registered_twice():
    from connectorkit.auth._kinds import register_auth_flow  # noqa: PLC0415

    with pytest.raises(ValueError, match="'windows' is already registered"):
        register_auth_flow("windows", WindowsAuth)
