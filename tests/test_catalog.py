"""Catalog: `describe` gives a designer each input as JSON Schema; `docs` renders the reference."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest
from jsonschema import Draft202012Validator

from connectorkit.authoring._catalog import describe, docs_markdown
from connectorkit.pack._definitions import (
    ActionDef,
    ConnectionDef,
    Pack,
    RequestDef,
    ResultDef,
)
from connectorkit.types._input import InputDef

CALL_INPUTS = {
    "timeout",
    "max_retry_count",
    "retry_delay_ms",
    "use_exponential_backoff",
    "retry_on_all_errors",
    "debug_request",
    "max_retry_wait_ms",
    "max_response_bytes",
}


@pytest.fixture(scope="module")
def catalog(pack):
    return describe(pack)


def action_of(catalog, key):
    return next(a for a in catalog["actions"] if a["key"] == key)


def connection_of(catalog, key):
    return next(c for c in catalog["connections"] if c["key"] == key)


def test_catalog_is_json_and_names_the_pack(catalog, pack):
    assert json.loads(json.dumps(catalog)) == catalog
    assert (catalog["key"], catalog["label"], catalog["version"]) == (
        "powerbi",
        "Microsoft Power BI",
        "0.1.0",
    )
    assert catalog["default_connection"] == "oauth2"
    labels = [a["label"] for a in catalog["actions"]]
    assert labels == sorted(labels)
    assert sorted(a["key"] for a in catalog["actions"]) == sorted(pack.actions)
    # Every action is listed under exactly one group, the group its file declares.
    grouped = [key for group in catalog["groups"] for key in group["actions"]]
    assert sorted(grouped) == sorted(pack.actions)
    for group in catalog["groups"]:
        assert {action_of(catalog, k)["group"] for k in group["actions"]} == {group["label"]}
    assert [c["key"] for c in catalog["connections"]] == [
        "oauth2",
        "client_credentials",
        "managed_identity",
        "service_principal_certificate",
        "service_principal_federated",
    ]
    kinds = {c["key"]: c["authentication"] for c in catalog["connections"]}
    assert kinds["service_principal_certificate"] == (
        "OAuth 2.0 grant `client_credentials`, the client authenticated by `private_key_jwt` "
        "(a certificate)."
    )
    assert kinds["managed_identity"] == "the host's managed identity (app_service, imds)."
    assert [c["default"] for c in catalog["connections"]] == [True, False, False, False, False]


def test_top_and_page_offset_carry_their_range(catalog):
    inputs = action_of(catalog, "list_datasets")["inputs"]["properties"]
    top = inputs["top"]
    assert top["title"] == "Top"
    assert top["type"] == "integer"
    assert (top["minimum"], top["maximum"]) == (1, 1000)
    assert "default" not in top
    assert top["description"].startswith("The most entries to return")
    assert inputs["page_offset"]["minimum"] == 0
    assert "maximum" not in inputs["page_offset"]


def test_raw_request_defaults_and_choices(catalog):
    schema = action_of(catalog, "raw_request")["inputs"]
    props = schema["properties"]
    assert props["response_type"]["default"] == "json"
    assert props["response_type"]["enum"] == ["json", "text", "binary"]
    assert props["url"]["default"] == "/imports"
    assert props["method"]["default"] == "GET"
    assert props["method"]["enum"] == ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    assert props["debug_request"]["default"] is False
    assert props["max_retry_count"] | {"description": ""} == {
        "title": "Max Retry Count",
        "description": "",
        "type": "integer",
        "default": 0,
        "minimum": 0,
        "maximum": 10,
        "x-group": "advanced",
    }
    assert props["retry_delay_ms"]["default"] == 0
    assert schema["required"] == []


def test_key_value_and_json_inputs(catalog):
    props = action_of(catalog, "raw_request")["inputs"]["properties"]
    headers = props["headers"]
    assert headers["x-type"] == "key_value"
    assert "type" not in headers
    forms = headers["oneOf"]
    assert forms[0] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert forms[1]["type"] == "array"
    assert forms[1]["items"]["required"] == ["key", "value"]
    assert props["data"]["x-type"] == "json"
    assert "type" not in props["data"]


PAGING_INPUTS = {"max_items", "continuation", "stream"}


def test_call_inputs_are_grouped_as_advanced_everywhere(catalog):
    for action in catalog["actions"]:
        props = action["inputs"]["properties"]
        assert set(props) >= CALL_INPUTS, action["key"]
        advanced = {k for k, v in props.items() if v.get("x-group") == "advanced"}
        # A paged action also has its paging controls there.
        assert advanced - PAGING_INPUTS == CALL_INPUTS, action["key"]


def test_required_lists_and_array_items(catalog):
    create_rows = action_of(catalog, "create_rows")["inputs"]
    assert create_rows["required"] == ["dataset_id", "table_name", "rows"]
    assert create_rows["additionalProperties"] is False
    rows = create_rows["properties"]["rows"]
    assert (rows["type"], rows["minItems"], rows["items"]) == ("array", 1, {"type": "object"})
    columns = action_of(catalog, "create_dataset")["inputs"]["properties"]["columns"]
    assert columns["items"]["required"] == ["name", "dataType"]
    assert columns["items"]["properties"]["dataType"]["enum"] == [
        "Int64",
        "Double",
        "Boolean",
        "DateTime",
        "String",
        "Decimal",
    ]
    assert columns["examples"][0][0] == {"name": "Product", "dataType": "String"}
    create_dataset = action_of(catalog, "create_dataset")["inputs"]["properties"]
    assert create_dataset["default_retention_policy"]["enum"] == ["None", "basicFIFO"]


def test_connection_values_mark_secrets(catalog):
    values = connection_of(catalog, "oauth2")["values"]
    secret = values["properties"]["client_secret"]
    assert (secret["writeOnly"], secret["format"]) == (True, "password")
    assert "writeOnly" not in values["properties"]["client_id"]
    assert values["required"] == ["client_id", "client_secret"]
    assert values["properties"]["tenant_id"]["default"] == "common"
    assert values["properties"]["token_leeway"] | {"description": ""} == {
        "title": "Token Leeway",
        "description": "",
        "type": "integer",
        "default": 60,
        "minimum": 0,
    }
    sp = connection_of(catalog, "client_credentials")
    assert sp["grant"] == "client_credentials"
    # tenant_id only fills the default Token URL: required unless token_url is given.
    assert sp["values"]["required"] == ["client_id", "client_secret"]
    assert sp["values"]["allOf"] == [
        {"if": {"required": ["token_url"]}, "else": {"required": ["tenant_id"]}}
    ]


def test_every_inputs_schema_works_as_json_schema(catalog):
    for action in catalog["actions"]:
        Draft202012Validator.check_schema(action["inputs"])
    schema = Draft202012Validator(action_of(catalog, "list_tables")["inputs"])
    assert schema.is_valid({"dataset_id": "d", "top": 5})
    assert not schema.is_valid({"dataset_id": "d", "top": 0})
    assert not schema.is_valid({"top": 5})
    assert not schema.is_valid({"dataset_id": "d", "tpo": 5})
    raw = Draft202012Validator(action_of(catalog, "raw_request")["inputs"])
    assert raw.is_valid({"headers": [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]})
    assert raw.is_valid({"headers": {"A": "1"}, "data": [1, "x", None]})
    assert not raw.is_valid({"response_type": "xml"})


def test_docs_have_a_table_per_action_like_the_reference(pack):
    text = docs_markdown(pack)
    assert text.startswith("# Microsoft Power BI\n")
    before_triggers = text.split("\n## Triggers\n")[0]
    headings = [line[4:] for line in before_triggers.splitlines() if line.startswith("### ")]
    connections, groups = headings[:5], headings[5:]
    assert connections == [
        "OAuth 2.0 (signed-in user)",
        "Service principal (client credentials)",
        "Managed identity (code running in Azure)",
        "Service principal with a certificate",
        "Service principal with a federated credential",
    ]
    # Groups holding the everyday actions first (the catch-all last of them), Admin last.
    everyday = ["Datasets", "Groups", "Push Datasets", "Reports", "Other"]
    rest = sorted({a.group for a in pack.actions.values()} - {*everyday, "Admin"})
    assert groups == [*everyday, *rest, "Admin"]
    actions = [line[5:] for line in text.splitlines() if line.startswith("#### ")]
    assert sorted(actions) == sorted(a.label for a in pack.actions.values())
    assert "## Call inputs" in text
    lines = text.splitlines()

    def row(start, section="#### List Datasets"):
        after = lines[lines.index(section) :] if section else lines
        return next(line for line in after if line.startswith(start))

    assert "| Input | Comments | Default |" in lines
    assert row("| Top<br>`top` · integer |").endswith("From 1 to 1000. |  |")
    response_type = row("| Response Type<br>`response_type` · string |", "#### Raw Request")
    assert "One of `json`, `text`, `binary`." in response_type
    assert response_type.endswith("| `json` |")
    assert row("| Debug Request<br>", "## Call inputs").endswith("| `false` |")
    assert row("| Dataset ID<br>`dataset_id` · string · **required** |")
    assert row("| Columns<br>`columns` · array of objects · **required** |", "#### Create Dataset")
    assert "`{api_url}/v1.0/myorg`" in text
    assert row("| `public` |", None).startswith(
        "| `public` | `https://api.powerbi.com` | `https://login.microsoftonline.com` |"
    )
    assert row("| `custom` |", None) == "| `custom` | given | given | given |"


def small_pack(*inputs: InputDef) -> Pack:
    action = ActionDef(
        key="ping",
        label="Ping",
        description="Checks | the service.",
        inputs=inputs,
        request=RequestDef(method="GET", path="/ping"),
        result=ResultDef(),
        file=Path("actions/ping.yaml"),
    )
    connection = ConnectionDef(
        key="c",
        label="C",
        description="A connection.",
        grant="client_credentials",
        token_endpoint_auth_method="client_secret_post",
        values=(),
        file=Path("connections/c.yaml"),
    )
    return Pack(
        key="p",
        label="P",
        description="A pack.",
        version=None,
        root=Path(),
        default_connection="c",
        connections=MappingProxyType({"c": connection}),
        actions=MappingProxyType({"ping": action}),
    )


def test_pattern_is_anchored_and_numbers_stay_whole():
    code = InputDef(key="code", label="Code", type="string", comments="A code.", pattern="[A-Z]{3}")
    ratio = InputDef(
        key="ratio", label="Ratio", type="number", comments="A | ratio.", minimum=0.0, maximum=2.5
    )
    pack = small_pack(code, ratio)
    props = describe(pack)["actions"][0]["inputs"]["properties"]
    assert props["code"]["pattern"] == "^(?:[A-Z]{3})$"
    assert Draft202012Validator(props["code"]).is_valid("ABC")
    assert not Draft202012Validator(props["code"]).is_valid("xABCx")
    assert (props["ratio"]["minimum"], props["ratio"]["maximum"]) == (0, 2.5)
    docs = docs_markdown(pack)
    assert "| Ratio<br>`ratio` · number | A \\| ratio. From 0 to 2.5. |  |" in docs
    assert "Pack `p`. Default connection: C (`c`)." in docs


def test_an_action_without_inputs_says_so():
    docs = docs_markdown(small_pack())
    assert "No inputs of its own." in docs
    assert "## Call inputs" not in docs
