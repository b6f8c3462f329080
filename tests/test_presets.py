from __future__ import annotations

import pytest

from conftest import copy_pack
from connectorkit._bind import bind_connection
from connectorkit.core._errors import InvalidConnection
from connectorkit.pack._check import validate_pack
from connectorkit.pack._definitions import ErrorHint
from connectorkit.pack._value_sets import hint_for, preset_values

SETS = {
    "cloud": {
        "public": {
            "authority": "https://login.microsoftonline.com",
            "api_url": "https://api.powerbi.com",
        },
        "gcc_high": {
            "authority": "https://login.microsoftonline.us",
            "api_url": "https://api.high.powerbigov.us",
        },
        "custom": {},
    }
}


def test_the_chosen_set_fills_what_the_caller_did_not_give():
    values = {"cloud": "gcc_high", "api_url": "https://proxy.example"}
    assert preset_values(SETS, values, given={"cloud", "api_url"}) == {
        "authority": "https://login.microsoftonline.us"
    }


def test_an_empty_set_or_no_selector_fills_nothing():
    assert preset_values(SETS, {"cloud": "custom"}, given={"cloud"}) == {}
    assert preset_values(SETS, {"tenant_id": "x"}, given=set()) == {}


def test_hints_match_any_text_case_insensitively():
    hints = [ErrorHint("AADSTS500011", "set `cloud`"), ErrorHint("AADSTS90002", "tenant")]
    assert hint_for(hints, "refused: invalid_resource (aadsts500011: …)") == "set `cloud`"
    assert hint_for(hints, None, "AADSTS90002: Tenant 'x' not found") == "tenant"
    assert hint_for(hints, "invalid_client") is None


def test_the_cloud_value_sets_every_endpoint_of_both_connections(pack):
    values = {
        "cloud": "gcc_high",
        "tenant_id": "contoso.us",
        "client_id": "a",
        "client_secret": "s",
    }
    app = bind_connection(pack, {"key": "client_credentials", "values": values}).values
    assert app["token_url"] == "https://login.microsoftonline.us/contoso.us/oauth2/v2.0/token"
    assert app["scopes"] == "https://high.analysis.usgovcloudapi.net/powerbi/api/.default"
    assert app["base_url"] == "https://api.high.powerbigov.us/v1.0/myorg"
    user = bind_connection(pack, {"key": "oauth2", "values": {**values, "cloud": "china"}}).values
    assert (
        user["authorize_url"] == "https://login.chinacloudapi.cn/contoso.us/oauth2/v2.0/authorize"
    )
    assert user["scopes"] == (
        "https://analysis.chinacloudapi.cn/powerbi/api/Dataset.ReadWrite.All offline_access"
    )
    assert user["base_url"] == "https://api.powerbi.cn/v1.0/myorg"


def test_what_the_caller_gives_beats_the_cloud(pack):
    values = {
        "cloud": "dod",
        "tenant_id": "t",
        "client_id": "a",
        "client_secret": "s",
        "base_url": "http://127.0.0.1:9/v1.0/myorg",
        "scopes": "https://example.test/.default",
    }
    bound = bind_connection(pack, {"key": "client_credentials", "values": values}).values
    assert bound["base_url"] == "http://127.0.0.1:9/v1.0/myorg"
    assert bound["scopes"] == "https://example.test/.default"
    assert bound["token_url"] == "https://login.microsoftonline.us/t/oauth2/v2.0/token"


def test_custom_names_every_value_it_needs(pack):

    values = {"cloud": "custom", "tenant_id": "t", "client_id": "a", "client_secret": "s"}
    with pytest.raises(InvalidConnection) as caught:
        bind_connection(pack, {"key": "client_credentials", "values": values})
    fields = [d["field"] for d in caught.value.details]
    assert fields == [
        "connection.values.token_url",
        "connection.values.scopes",
        "connection.values.base_url",
    ]
    assert "'cloud' is 'custom'" in caught.value.message
    assert "authority" in caught.value.message


def test_the_checker_refuses_a_value_set_that_does_not_fit_the_connections(tmp_path):
    root = copy_pack(tmp_path / "pack")
    oauth2 = root / "connections" / "oauth2.yaml"
    oauth2.write_text(oauth2.read_text().replace("dod, china, custom]", "dod, china]"))
    connector = root / "connector.yaml"
    connector.write_text(
        connector.read_text().replace("      api_url: https://api.powerbi.cn", "      api_host: x")
    )
    problems = {(p.file, p.path, p.message.split(",")[0]) for p in validate_pack(root)}
    assert (
        "connections/oauth2.yaml",
        "values[8].enum",
        "'cloud' chooses from value_sets.cloud in connector.yaml",
    ) in problems
    assert (
        "connections/client_credentials.yaml",
        "values[7]",
        "value_sets.cloud.china sets 'api_host'",
    ) in problems
