"""OAuth interoperability: values that only build defaults, and the scope of a refresh."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import httpx
import pytest

from conftest import assert_envelope, copy_pack
from connectorkit.authoring._catalog import describe
from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

API = "https://api.example.test/v1.0/myorg"
TOKEN_URL = "https://idp.example.test/oauth2/token"


class Service:
    """A token endpoint and an API that answer everything, recording what they get."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/token"):
            return httpx.Response(
                200, json={"access_token": "new-access-1", "expires_in": 3600, "scope": "granted"}
            )
        return httpx.Response(200, json={"value": []})

    def token_forms(self) -> list[dict[str, list[str]]]:
        return [
            parse_qs(r.content.decode()) for r in self.requests if r.url.path.endswith("/token")
        ]


def call(pack, request: dict) -> tuple[dict, Service]:
    service = Service()
    runner = Runner(http=httpx.Client(transport=httpx.MockTransport(service)), sleep=lambda _: None)
    try:
        response, _ = respond(pack, runner, json.dumps(request))
    finally:
        runner.close()
    assert_envelope(response)
    return response, service


def test_a_service_principal_with_a_token_url_needs_no_tenant_id(pack):
    request = {
        "action": "list_groups",
        "connection": {
            "key": "client_credentials",
            "values": {
                "client_id": "sp-id",
                "client_secret": "sp-secret-value",
                "token_url": TOKEN_URL,
                "base_url": API,
            },
        },
    }
    response, service = call(pack, request)
    assert response["ok"] is True, response
    assert str(service.requests[0].url) == TOKEN_URL


def test_without_tenant_id_nor_token_url_the_tenant_id_is_named(pack):
    request = {
        "action": "list_groups",
        "connection": {
            "key": "client_credentials",
            "values": {"client_id": "sp-id", "client_secret": "sp-secret-value"},
        },
    }
    response, service = call(pack, request)
    assert response["error"]["type"] == "invalid_connection"
    [detail] = response["error"]["details"]
    assert detail["field"] == "connection.values.tenant_id"
    assert "token_url" in detail["message"]
    assert service.requests == []


def test_a_missing_tenant_id_is_named_with_the_other_missing_values(pack):
    request = {"action": "list_groups", "connection": {"key": "client_credentials"}}
    response, _ = call(pack, request)
    fields = {d["field"] for d in response["error"]["details"]}
    assert fields == {
        "connection.values.tenant_id",
        "connection.values.client_id",
        "connection.values.client_secret",
    }


def test_every_value_that_only_fills_defaults_is_waived_once_they_are_given(tmp_path):
    # A pack whose connection builds two URLs from two required values.
    root = copy_pack(tmp_path / "pack")
    path = root / "connections" / "client_credentials.yaml"
    text = path.read_text().replace(
        'default: "{resource}/.default"',
        'default: "https://{resource_host}/.default"',
    )
    text = text.replace(
        "  - key: token_url",
        "  - key: resource_host\n    label: Resource host\n    type: string\n"
        "    required: true\n    comments: Fills the default scope.\n  - key: token_url",
    )
    path.write_text(text)
    pack = load_pack(root)
    values = {"client_id": "sp", "client_secret": "sp-secret-value", "base_url": API}
    connection = {"key": "client_credentials", "values": values}
    response, _ = call(pack, {"action": "list_groups", "connection": connection})
    assert {d["field"] for d in response["error"]["details"]} == {
        "connection.values.tenant_id",
        "connection.values.resource_host",
    }
    values |= {"token_url": TOKEN_URL, "scopes": "api://x/.default"}
    response, service = call(pack, {"action": "list_groups", "connection": connection})
    assert response["ok"] is True, response
    assert service.token_forms()[0]["scope"] == ["api://x/.default"]
    schema = next(c for c in describe(pack)["connections"] if c["key"] == "client_credentials")
    assert schema["values"]["allOf"] == [
        {"if": {"required": ["token_url"]}, "else": {"required": ["tenant_id"]}},
        {"if": {"required": ["scopes"]}, "else": {"required": ["resource_host"]}},
    ]


# -- the scope of a refresh ----------------------------------------------------------------------


def user_request(token_scope: str | None = "Dataset.Read.All") -> dict:  # noqa: S107 - a scope
    token = {
        "access_token": "old-access-1",
        "refresh_token": "old-refresh-1",
        "expires_at": int(time.time()) - 10,
    }
    if token_scope:
        token["scope"] = token_scope
    return {
        "action": "list_groups",
        "connection": {
            "key": "oauth2",
            "values": {
                "client_id": "app",
                "client_secret": "app-secret-value",
                "token_url": TOKEN_URL,
                "base_url": API,
                "scopes": "Dataset.ReadWrite.All offline_access",
            },
            "token": token,
        },
    }


def pack_with_refresh_scope(tmp_path, policy: str | None, *, load: bool = True):
    root = copy_pack(tmp_path / "pack")
    path = root / "connections" / "oauth2.yaml"
    lines = [
        line for line in path.read_text().splitlines() if not line.startswith("refresh_scope:")
    ]
    if policy is not None:
        lines.insert(lines.index("grant: authorization_code") + 1, f"refresh_scope: {policy}")
    path.write_text("\n".join(lines) + "\n")
    return load_pack(root) if load else None


def test_the_power_bi_connection_sends_its_configured_scopes_on_a_refresh(pack):
    assert pack.connections["oauth2"].refresh_scope == "configured"
    response, service = call(pack, user_request())
    assert response["ok"] is True, response
    assert service.token_forms()[0]["scope"] == ["Dataset.ReadWrite.All offline_access"]


def test_by_default_a_refresh_asks_for_no_scope_as_rfc_6749_section_6_says(tmp_path):
    pack = pack_with_refresh_scope(tmp_path, None)
    assert pack.connections["oauth2"].refresh_scope == "omit"
    response, service = call(pack, user_request())
    assert response["ok"] is True, response
    form = service.token_forms()[0]
    assert form["grant_type"] == ["refresh_token"]
    assert "scope" not in form


@pytest.mark.parametrize(
    ("granted", "sent"), [("Dataset.Read.All", ["Dataset.Read.All"]), (None, None)]
)
def test_granted_sends_the_scope_the_token_was_granted(tmp_path, granted, sent):
    pack = pack_with_refresh_scope(tmp_path, "granted")
    response, service = call(pack, user_request(token_scope=granted))
    assert response["ok"] is True, response
    assert service.token_forms()[0].get("scope") == sent


def test_an_unknown_refresh_scope_policy_is_a_pack_problem(tmp_path):
    from connectorkit.pack._check import validate_pack  # noqa: PLC0415

    pack_with_refresh_scope(tmp_path, "always", load=False)
    problems = validate_pack(tmp_path / "pack")
    assert any("refresh_scope" in str(p) for p in problems), problems
