"""What every model of a pack document builds on: strict parts, keys, references between files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = ["REF", "SNAKE", "InputKey", "OneOf", "Part", "described", "ref"]

SNAKE = "^[a-z][a-z0-9_]*$"

# A reference to a definition of a published file, "input.schema.json#/$defs/key", as a type's
# whole schema. pydantic resolves every "$ref" it sees, so it is written under REF and made a
# "$ref" when the file is published: relative to the file it is published in ("#/$defs/key"
# inside input.schema.json itself), by file name into another.
REF = "x-ref"


def ref(target: str) -> WithJsonSchema:
    """The schema of a type that is a reference to ``target`` (``file#/$defs/name``)."""
    return WithJsonSchema({REF: target})


def described(description: str, *, title: str | None = None) -> ConfigDict:
    """A part's configuration giving its published schema ``description`` (and ``title``).

    The schema's description is for pack authors; the class's docstring stays for readers of
    the code.
    """
    config = ConfigDict(json_schema_extra={"description": description})
    if title is not None:
        config["title"] = title
    return config


class OneOf:
    """A union published as ``oneOf``: its members never overlap, so a value is one of them."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        generated = handler(schema)
        generated["oneOf"] = generated.pop("anyOf")
        return generated


InputKey = Annotated[str, Field(pattern=SNAKE), ref("input.schema.json#/$defs/key")]


class Part(BaseModel):
    """A part of a pack document: unknown keys are refused, and so is a key given as null.

    Only a key whose field takes any JSON value (a default, a body template) may be null.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        # ``X | None = None`` means the key may be left out; YAML's null is not a value of it.
        if isinstance(data, dict):
            any_value = {
                field.alias or name
                for name, field in cls.model_fields.items()
                if field.annotation is Any
            }
            given_null = sorted(
                str(key) for key, value in data.items() if value is None and key not in any_value
            )
            if given_null:
                raise ValueError(f"null is not a value of {', '.join(given_null)}")
        return data
