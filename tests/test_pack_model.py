"""The pack documents' pydantic model and the JSON Schemas published from it.

``schemas/connection.schema.json`` is generated from ``connectorkit.authoring._model``; these
tests fail when the published file is not what the model generates, and check that the model
and the published schema take and refuse the same documents.
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
from connectorkit.authoring._model import Connection, Trigger, published_schemas, schema_text
from connectorkit.authoring._scaffold import new_pack
from connectorkit.authoring.openapi._security import Scheme, connection_data

REGENERATE = "python -m connectorkit.authoring._model"


@pytest.mark.parametrize("name", sorted(published_schemas()))
def test_the_published_schema_is_generated_from_the_model(name):
    published = (SCHEMAS / name).read_text(encoding="utf-8")
    generated = published_schemas()[name]
    assert json.loads(published) == generated, f"regenerate it: {REGENERATE}"
    assert published == schema_text(generated), f"regenerate it: {REGENERATE}"


def connection_validator() -> Draft202012Validator:
    registry: Registry = Registry()
    for name in ("input.schema.json", "connection.schema.json"):
        contents = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        registry = registry.with_resource(name, Resource.from_contents(contents))
    schema = json.loads((SCHEMAS / "connection.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=registry)


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
