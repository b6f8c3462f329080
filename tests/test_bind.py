"""Bind: inputs validated against the action's definition, every bad field named."""

from __future__ import annotations

import pytest

from connectorkit._bind import bind_action, bind_connection
from connectorkit.core._errors import InvalidConnection, InvalidInput, UnknownAction


def fields(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {d["field"]: d["message"] for d in exc.value.details or []}


def test_defaults_applied_and_absent_inputs_left_out(pack):
    bound = bind_action(pack, "raw_request", {})
    assert bound.inputs["url"] == "/imports"
    assert bound.inputs["response_type"] == "json"
    assert bound.inputs["max_retry_count"] == 0
    assert "timeout" not in bound.inputs
    assert bound.options.max_retry_count == 0
    assert bound.options.timeout_ms is None


def test_every_bad_field_is_named(pack):
    with pytest.raises(InvalidInput) as exc:
        bind_action(
            pack,
            "create_dataset",
            {
                "table_name": 5,
                "columns": [{"name": "A", "dataType": "Float"}, {"dataType": "Int64"}],
                "topp": 3,
            },
        )
    got = fields(exc)
    assert got["dataset_name"] == "is required"
    assert got["table_name"] == "input should be a valid string"
    assert "columns[0].dataType" in got
    assert "Int64" in got["columns[0].dataType"]
    assert got["columns[1].name"] == "is required"
    assert got["topp"].startswith("is not an input of action 'create_dataset'")


def test_range_and_enum(pack):
    with pytest.raises(InvalidInput) as exc:
        bind_action(pack, "list_datasets", {"top": 1001, "page_offset": -1})
    assert fields(exc) == {
        "top": "input should be less than or equal to 1000",
        "page_offset": "input should be greater than or equal to 0",
    }
    with pytest.raises(InvalidInput) as exc:
        bind_action(pack, "raw_request", {"response_type": "xml"})
    assert fields(exc) == {"response_type": "must be one of 'json', 'text', 'binary'"}


def test_typo_gets_a_suggestion(pack):
    with pytest.raises(InvalidInput) as exc:
        bind_action(pack, "list_datasets", {"page_ofset": 3})
    assert "did you mean 'page_offset'?" in fields(exc)["page_ofset"]


def test_no_string_to_int_coercion(pack):
    with pytest.raises(InvalidInput) as exc:
        bind_action(pack, "list_groups", {"top": "5"})
    assert list(fields(exc)) == ["top"]


def test_null_means_not_given(pack):
    bound = bind_action(pack, "list_groups", {"top": None, "page_offset": None})
    assert "top" not in bound.inputs


def test_key_value_accepts_object_or_pairs(pack):
    assert bind_action(pack, "raw_request", {"headers": {"A": "1"}}).inputs["headers"] == {"A": "1"}
    pairs = [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]
    assert bind_action(pack, "raw_request", {"headers": pairs}).inputs["headers"] == pairs
    with pytest.raises(InvalidInput) as exc:
        bind_action(pack, "raw_request", {"headers": "A: 1"})
    assert list(fields(exc)) == ["headers"]


def test_unknown_action_suggests(pack):
    with pytest.raises(UnknownAction, match="did you mean 'list_groups'"):
        bind_action(pack, "list_group", {})


def test_connection_defaults_are_tenant_specific(pack):
    bound = bind_connection(
        pack,
        {
            "key": "client_credentials",
            "values": {"tenant_id": "contoso", "client_id": "a", "client_secret": "b"},
        },
    )
    assert (
        bound.values["token_url"] == "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
    )
    assert bound.values["scopes"] == "https://analysis.windows.net/powerbi/api/.default"
    assert bound.base_url == "https://api.powerbi.com/v1.0/myorg"
    assert bound.secrets == frozenset({"b"})


def test_oauth2_defaults_use_common(pack):
    bound = bind_connection(pack, {"values": {"client_id": "a", "client_secret": "b"}})
    assert bound.definition.key == "oauth2"
    assert bound.values["authorize_url"] == (
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    )
    assert "offline_access" in bound.values["scopes"].split()


def test_caller_values_are_taken_literally(pack):
    bound = bind_connection(
        pack,
        {"values": {"client_id": "a", "client_secret": "b", "token_url": "http://127.0.0.1:9/{x}"}},
    )
    assert bound.values["token_url"] == "http://127.0.0.1:9/{x}"


def test_missing_connection_values_are_named(pack):
    with pytest.raises(InvalidConnection) as exc:
        bind_connection(pack, {"key": "client_credentials", "values": {"client_id": "a"}})
    assert {d["field"] for d in exc.value.details or []} == {
        "connection.values.tenant_id",
        "connection.values.client_secret",
    }


def test_a_connection_bound_again_follows_its_content(pack):
    # serve binds the same connection call after call (the binding is reused); any change of
    # content, down to the JSON type of a value, is bound anew.
    values = {"tenant_id": "contoso", "client_id": "a", "client_secret": "b", "token_leeway": 1}
    raw = {"key": "client_credentials", "values": values}
    first = bind_connection(pack, raw)
    assert bind_connection(pack, {**raw, "values": dict(values)}) == first
    assert bind_connection(pack, raw).values["token_leeway"] == 1

    with pytest.raises(InvalidConnection) as exc:  # true is no number of seconds, unlike 1
        bind_connection(pack, {**raw, "values": {**values, "token_leeway": True}})
    assert [d["field"] for d in exc.value.details or []] == ["connection.values.token_leeway"]

    other = bind_connection(pack, {**raw, "values": {**values, "tenant_id": "fabrikam"}})
    assert "/fabrikam/" in other.values["token_url"]
    token = {"access_token": "at-1", "expires_at": 1}
    assert bind_connection(pack, {**raw, "token": token}).secrets == frozenset({"b", "at-1"})
    assert bind_connection(pack, raw).secrets == frozenset({"b"})
