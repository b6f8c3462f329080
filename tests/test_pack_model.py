"""The pack documents' pydantic model and the JSON Schemas published from it.

``schemas/{input,connector,action,connection,trigger}.schema.json`` are generated from
``connectorkit.authoring.model``; these tests fail when a published file is not what the model
generates, and check that the model and the published schema take and refuse the same documents.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from referencing import Registry, Resource

from conftest import ROOT, SCHEMAS
from connectorkit.authoring._scaffold import new_action, new_pack
from connectorkit.authoring.model._action import Action
from connectorkit.authoring.model._connection import Connection
from connectorkit.authoring.model._connector import Connector
from connectorkit.authoring.model._publish import published_schemas, schema_text
from connectorkit.authoring.model._trigger import Trigger
from connectorkit.authoring.openapi._import import import_openapi
from connectorkit.authoring.openapi._security import Scheme, connection_data

REGENERATE = "python -m connectorkit.authoring.model"
DOCUMENTS = ("connector", "action", "connection", "trigger")


def test_every_pack_document_schema_is_generated():
    assert sorted(published_schemas()) == [
        "action.schema.json",
        "connection.schema.json",
        "connector.schema.json",
        "input.schema.json",
        "trigger.schema.json",
    ]


@pytest.mark.parametrize("name", sorted(published_schemas()))
def test_the_published_schema_is_generated_from_the_model(name):
    published = (SCHEMAS / name).read_text(encoding="utf-8")
    generated = published_schemas()[name]
    assert json.loads(published) == generated, f"regenerate it: {REGENERATE}"
    assert published == schema_text(generated), f"regenerate it: {REGENERATE}"


def published_validator(kind: str) -> Draft202012Validator:
    """The published schema of a document, with the files it refers to."""
    registry: Registry = Registry()
    for name in ("input", *DOCUMENTS):
        contents = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
        registry = registry.with_resource(f"{name}.schema.json", Resource.from_contents(contents))
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=registry)


def connection_validator() -> Draft202012Validator:
    return published_validator("connection")


VALUES = [{"key": "base_url", "label": "URL", "type": "string", "comments": "The service."}]
BASE = {"key": "service", "label": "Service", "description": "Signs in.", "values": VALUES}


@pytest.mark.parametrize(
    "document",
    [
        {**BASE, "type": "none"},
        {**BASE, "type": "oauth2", "grant": "client_credentials"},
        {**BASE, "type": "api_key", "api_key": {"name": "X-API-Key", "in": "query"}},
        {**BASE, "type": "bearer", "headers": {"X-Org": "{org_id}"}},
        {
            **BASE,
            "grant": "client_credentials",
            "token_endpoint_auth_method": "private_key_jwt",
            "client_assertion": {"thumbprint": "x5t", "federated": [{"env": "TOKEN"}]},
        },
        {
            **BASE,
            "type": "managed_identity",
            "managed_identity": {"endpoints": [{"protocol": "imds", "url": "http://169.254"}]},
        },
    ],
)
def test_a_valid_connection_is_taken_by_the_model_and_the_schema(document):
    assert list(connection_validator().iter_errors(document)) == []
    assert Connection.model_validate(document).key == "service"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**BASE, "type": "none", "colour": "red"}, "colour"),
        ({**BASE, "type": "none", "refresh_scope": "always"}, "refresh_scope"),
        ({**BASE, "type": "api_key", "api_key": {"in": "header"}}, "name"),
        ({**BASE, "type": "bearer", "headers": {"X-Org": 3}}, "X-Org"),
        ({**BASE, "grant": None}, "grant"),
        (
            {**BASE, "grant": "client_credentials", "client_assertion": {"lifetime": 5}},
            "lifetime",
        ),
    ],
)
def test_a_wrong_connection_is_refused_by_both_naming_the_field(document, field):
    assert list(connection_validator().iter_errors(document)) != []
    with pytest.raises(ValidationError) as raised:
        Connection.model_validate(document)
    assert field in str(raised.value)


def test_the_model_does_not_load_on_the_invoke_path():
    # Importing the entry point of a call must not bring pydantic in.
    code = "import sys, connectorkit.call._entry; print('pydantic' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "False"


def scaffolded_connection(tmp_path) -> dict:
    new_pack(tmp_path / "pack", key="demo")
    text = (tmp_path / "pack" / "connections" / "client_credentials.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    "scheme",
    [
        Scheme("key", "api_key", location="query", parameter="api_key"),
        Scheme("login", "basic"),
        Scheme("token", "bearer"),
        Scheme("oauth", "oauth2", grant="client_credentials", token_url="https://t.example"),
        Scheme("user", "oauth2", authorize_url="https://a.example", token_url="https://t.example"),
    ],
)
def test_an_imported_connection_is_valid_for_the_model_and_the_schema(scheme):
    document = connection_data(scheme, "https://api.example.com")
    assert list(connection_validator().iter_errors(document)) == []
    assert Connection.model_validate(document).type == scheme.kind


def test_a_scaffolded_connection_is_valid_for_the_model_and_the_schema(tmp_path):
    document = scaffolded_connection(tmp_path)
    assert list(connection_validator().iter_errors(document)) == []
    assert Connection.model_validate(document).grant == "client_credentials"


TRIGGERS = sorted((ROOT / "packs").glob("*/triggers/*.yaml"))


@pytest.mark.parametrize(
    "path", TRIGGERS, ids=lambda path: path.parent.parent.name + "/" + path.stem
)
def test_a_trigger_of_a_pack_is_taken_by_the_model(path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert Trigger.model_validate(document).key == path.stem


def test_a_trigger_with_an_unknown_key_in_its_window_is_refused_naming_it():
    document = {
        "key": "refreshed",
        "label": "When refreshed",
        "description": "A refresh ended.",
        "list": {"action": "list_refreshes"},
        "window": {"span_s": 60, "spans": 2},
    }
    with pytest.raises(ValidationError) as raised:
        Trigger.model_validate(document)
    assert "window.spans" in str(raised.value)


MODELS = {"connector": Connector, "action": Action, "connection": Connection, "trigger": Trigger}
PACK_DOCUMENTS = [
    *(("connector", path) for path in sorted((ROOT / "packs").glob("*/connector.yaml"))),
    *(
        (kind, path)
        for kind in ("action", "connection", "trigger")
        for path in sorted((ROOT / "packs").glob(f"*/{kind}s/*.yaml"))
    ),
]


@pytest.mark.parametrize(
    ("kind", "path"),
    PACK_DOCUMENTS,
    ids=lambda value: (
        value if isinstance(value, str) else value.relative_to(ROOT / "packs").as_posix()
    ),
)
def test_a_pack_document_is_taken_by_the_model_and_the_schema(kind, path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(published_validator(kind).iter_errors(document)) == []
    MODELS[kind].model_validate(document)


def test_every_kind_of_pack_document_is_checked():
    assert {kind for kind, _ in PACK_DOCUMENTS} == set(DOCUMENTS)


ACTION = {
    "key": "list_items",
    "label": "List items",
    "description": "Lists the items.",
    "inputs": [
        {"use": "top", "required": True},
        {"key": "folder", "label": "Folder", "type": "string", "comments": "Where."},
    ],
    "request": {"method": "GET", "path": "/items"},
}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**ACTION, "colour": "red"}, "colour"),
        ({**ACTION, "request": {"method": "GET"}}, "path"),
        ({**ACTION, "inputs": [{"use": "top", "key": "top"}]}, "key"),
        (
            {**ACTION, "inputs": [{"key": "Top", "label": "T", "type": "string", "comments": "c"}]},
            "key",
        ),
        (
            {**ACTION, "inputs": [{"key": "top", "label": "T", "type": "text", "comments": "c"}]},
            "type",
        ),
        (
            {
                **ACTION,
                "pages": {
                    "items": "value",
                    "next_url": "next",
                    "offset": {"query": "s", "size": 5},
                },
            },
            "next_url",
        ),
        (
            {
                **ACTION,
                "long_running": {
                    "poll": {"action": "get_op", "method": "GET"},
                    "status": {"at": "s", "succeeded": ["ok"]},
                },
            },
            "method",
        ),
        ({**ACTION, "returns": {"type": "object", "min_length": 1}}, "min_length"),
    ],
)
def test_a_wrong_action_is_refused_by_both_naming_the_field(document, field):
    assert list(published_validator("action").iter_errors(document)) != []
    with pytest.raises(ValidationError) as raised:
        Action.model_validate(document)
    assert field in str(raised.value)


def test_an_action_is_taken_by_the_model_and_the_schema():
    assert list(published_validator("action").iter_errors(ACTION)) == []
    assert Action.model_validate(ACTION).request.path == "/items"


def test_a_connector_with_a_call_input_of_two_entries_is_refused_by_both():
    shared = {"label": "Top", "type": "integer", "comments": "How many."}
    document = {
        "key": "demo",
        "label": "Demo",
        "description": "A demo.",
        "default_connection": "oauth2",
        "call_inputs": [{"top": shared, "skip": shared}],
    }
    assert list(published_validator("connector").iter_errors(document)) != []
    with pytest.raises(ValidationError) as raised:
        Connector.model_validate(document)
    assert "call_inputs" in str(raised.value)
    document["call_inputs"] = [{"top": shared}]
    assert list(published_validator("connector").iter_errors(document)) == []
    assert Connector.model_validate(document).call_inputs is not None


def assert_taken(kind: str, path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(published_validator(kind).iter_errors(document)) == [], path.name
    MODELS[kind].model_validate(document)


def test_a_scaffolded_pack_is_taken_by_the_model_and_the_schema(tmp_path):
    pack = tmp_path / "pack"
    new_pack(pack, key="demo")
    new_action(pack, "get_item", method="GET", path="/items/{item_id}")
    assert_taken("connector", pack / "connector.yaml")
    actions = sorted((pack / "actions").glob("*.yaml"))
    connections = sorted((pack / "connections").glob("*.yaml"))
    assert actions
    assert connections
    for path in actions:
        assert_taken("action", path)
    for path in connections:
        assert_taken("connection", path)


@pytest.mark.parametrize("spec", ["petstore.openapi.yaml", "weather-api.yaml"])
def test_imported_actions_are_taken_by_the_model_and_the_schema(tmp_path, spec):
    pack = tmp_path / "pack"
    (pack / "actions").mkdir(parents=True)
    (pack / "connector.yaml").write_text(
        "key: demo\nlabel: Demo\ndescription: d\ndefault_connection: demo\n", encoding="utf-8"
    )
    report = import_openapi(ROOT / "tests" / "data" / spec, pack)
    assert report.created
    for key in report.created:
        assert_taken("action", pack / "actions" / f"{key}.yaml")
