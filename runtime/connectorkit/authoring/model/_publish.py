"""The published JSON Schemas, generated from the models.

Each file of ``schemas/`` is one document's model (``input.schema.json`` has none: only its
definitions) and the definitions other files refer to by name. A part that is no definition of
a file is written out where it is used. A model whose base class is a definition of the same
file is published as a reference to it with its own ``required`` and the properties that
differ, as JSON Schema says "this, and also".
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from connectorkit.authoring.model import _action, _connection, _connector, _input, _trigger
from connectorkit.authoring.model._base import REF, Part

if TYPE_CHECKING:
    from pydantic_core import core_schema

__all__ = ["GENERATED", "SCHEMAS", "Published", "main", "published_schemas", "schema_text"]

SCHEMAS = Path(__file__).resolve().parent.parent.parent / "schemas"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Published:
    """One published file: its document's model, and its definitions by name.

    A file without a model (``input.schema.json``) has a title and a description of its own.
    A definition is a model, or a type whose schema it is (a key, a list of choices).
    ``ordered``: the keywords in the published order (:func:`_ordered`); the connection and
    trigger files keep pydantic's, which they have had since they were first generated, so that
    a document's errors are still listed in the same order.
    """

    root: type[BaseModel] | None
    defs: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    description: str = ""
    ordered: bool = True


# The published schemas generated from a model, by file name.
GENERATED: dict[str, Published] = {
    "input.schema.json": Published(
        None, _input.DEFS, title=_input.TITLE, description=_input.DESCRIPTION
    ),
    "connector.schema.json": Published(_connector.Connector, _connector.DEFS),
    "action.schema.json": Published(_action.Action, _action.DEFS),
    "connection.schema.json": Published(_connection.Connection, ordered=False),
    "trigger.schema.json": Published(_trigger.Trigger, ordered=False),
}


class _PublishedSchema(GenerateJsonSchema):
    """JSON Schema as we publish it.

    An absent optional key is not ``null``, and no titles except those a model sets.
    """

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # ``X | None = None`` in the model means "the key may be left out", not "null is valid".
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None:
            del generated["default"]
        return generated

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        # The allowed values say it all; a "type" beside them would only add a second error.
        generated = super().literal_schema(schema)
        if "enum" in generated:
            generated.pop("type", None)
        return generated

    def field_title_should_be_set(self, schema: Any) -> bool:  # noqa: ARG002 (pydantic's hook)
        return False


def _models() -> dict[str, type[BaseModel]]:
    """Every model of the pack documents, by the name pydantic gives its definition."""
    found: dict[str, type[BaseModel]] = {}
    waiting: list[type[BaseModel]] = [Part]
    while waiting:
        model = waiting.pop()
        if model.__name__ in found and found[model.__name__] is not model:
            raise ValueError(f"two models are named {model.__name__}")
        found[model.__name__] = model
        waiting.extend(model.__subclasses__())
    return found


class _File:
    """The making of one published file."""

    def __init__(self, name: str, published: Published) -> None:
        self.name = name
        self.published = published
        self.models = _models()
        # Where each model that is a definition is published: "file#/$defs/name".
        self.targets = {
            model.__name__: f"{file}#/$defs/{def_name}"
            for file, entry in GENERATED.items()
            for def_name, model in entry.defs.items()
            if isinstance(model, type) and issubclass(model, BaseModel)
        }
        self.pool: dict[str, Any] = {}

    def generate(self, kind: Any) -> dict[str, Any]:
        """A type's schema as pydantic generates it; the definitions it uses go to the pool."""
        model = isinstance(kind, type) and issubclass(kind, BaseModel)
        generated: dict[str, Any]
        if model:
            generated = kind.model_json_schema(schema_generator=_PublishedSchema)
        else:
            generated = TypeAdapter(kind).json_schema(schema_generator=_PublishedSchema)
        self.pool.update(generated.pop("$defs", {}))
        if set(generated) == {"$ref"}:  # a model that refers to itself
            generated = dict(self.pool[generated["$ref"].removeprefix("#/$defs/")])
        if model and not kind.model_config.get("title"):
            generated.pop("title", None)
        return generated

    def local(self, target: str) -> str:
        """A reference as this file writes it."""
        file, _, pointer = target.partition("#")
        return f"#{pointer}" if file == self.name else target

    def resolve(self, node: Any) -> Any:
        """References made as published, other parts written out in place."""
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            name = reference.removeprefix("#/$defs/")
            rest = {key: value for key, value in node.items() if key != "$ref"}
            if name in self.targets:
                return {"$ref": self.local(self.targets[name]), **self.resolve(rest)}
            named = dict(self.pool[name])
            if not self.models[name].model_config.get("title"):
                named.pop("title", None)
            return self.resolve({**named, **rest})
        return {
            "$ref" if key == REF else key: self.local(value)
            if key == REF
            else " ".join(value.split())
            if key == "description" and isinstance(value, str)
            else self.resolve(value)
            for key, value in node.items()
        }

    def definition(self, kind: Any) -> dict[str, Any]:
        """One named definition of the file."""
        content: dict[str, Any] = self.resolve(self.generate(kind))
        base = kind.__bases__[0] if isinstance(kind, type) else None
        base_name = next((n for n, d in self.published.defs.items() if d is base), None)
        if base_name is None:
            return content
        inherited = self.resolve(self.generate(base))["properties"]
        derived = {"$ref": f"#/$defs/{base_name}", "required": content["required"]}
        derived["properties"] = {
            key: value
            for key, value in content["properties"].items()
            if inherited.get(key) != value
        }
        kept: dict[str, Any] = {
            key: content[key] for key in ("title", "description") if key in content
        }
        return {**kept, **derived}

    def schema(self) -> dict[str, Any]:
        """The file's schema."""
        document: dict[str, Any] = {"$schema": _DRAFT}
        if self.published.root is None:
            document["title"] = self.published.title
            document["description"] = self.published.description
        else:
            document.update(self.resolve(self.generate(self.published.root)))
        if self.published.defs:
            document["$defs"] = {
                name: self.definition(kind) for name, kind in self.published.defs.items()
            }
        return document


# The order of a schema's keywords: jsonschema reports a value's errors in this order (its type
# before its shape), and editors show a definition's title and description first.
_FIRST = ("$schema", "$ref", "title", "description", "type")
_LAST = (
    "properties",
    "propertyNames",
    "required",
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "then",
    "else",
    "not",
    "additionalProperties",
    "$defs",
)
_SCHEMA_IN = {"items", "additionalProperties", "propertyNames", "not", "if", "then", "else"}
_SCHEMAS_IN = {"allOf", "anyOf", "oneOf"}
_SCHEMA_BY_NAME_IN = {"properties", "$defs"}


def _ordered(schema: Any) -> Any:
    """A schema with its keywords in the published order, and so every schema inside it."""
    if not isinstance(schema, dict):
        return schema
    rank = {key: index for index, key in enumerate(_FIRST)}
    rank.update({key: len(_FIRST) + 1 + index for index, key in enumerate(_LAST)})
    ordered: dict[str, Any] = {}
    for key in sorted(schema, key=lambda key: rank.get(key, len(_FIRST))):
        value = schema[key]
        if key in _SCHEMA_IN:
            value = _ordered(value)
        elif key in _SCHEMAS_IN:
            value = [_ordered(item) for item in value]
        elif key in _SCHEMA_BY_NAME_IN:
            value = {name: _ordered(item) for name, item in value.items()}
        ordered[key] = value
    return ordered


def published_schemas() -> dict[str, dict[str, Any]]:
    """Each generated schema, as it is published in ``schemas/``."""
    schemas = {name: _File(name, published).schema() for name, published in GENERATED.items()}
    return {
        name: _ordered(schema) if GENERATED[name].ordered else schema
        for name, schema in schemas.items()
    }


def schema_text(schema: dict[str, Any]) -> str:
    """A schema as its published file holds it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the generated schemas into ``schemas/``."""
    for name, schema in published_schemas().items():
        (SCHEMAS / name).write_text(schema_text(schema), encoding="utf-8")
        sys.stdout.write(f"wrote schemas/{name}\n")
    return 0
