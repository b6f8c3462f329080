"""Input definitions: an action's typed inputs, connector.yaml's shared ones, connection values.

``schemas/input.schema.json`` is these definitions alone (:data:`DEFS`); the other documents
refer to them by name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

from connectorkit.authoring.model._base import REF, SNAKE, InputKey, Part, described, ref

__all__ = [
    "DEFS",
    "DESCRIPTION",
    "TITLE",
    "ActionInput",
    "Choices",
    "ChoicesSearch",
    "Definition",
    "DynamicSchema",
    "DynamicSchemaColumns",
    "FieldPath",
    "Forbidden",
    "Importance",
    "InputFields",
    "ItemSchema",
    "Shared",
    "Unique",
    "Use",
]

TITLE = "connectorkit input definition"
DESCRIPTION = (
    "A typed input of an action, a shared input of connector.yaml, or a value of a connection. "
    "The variants under $defs say which keys each place needs."
)


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.append(value)
    return values


# A list whose items differ from each other (JSON Schema's uniqueItems).
Unique = AfterValidator(_unique)
_UNIQUE: dict[str, Any] = {"uniqueItems": True}

_Importance = Literal["important", "advanced", "internal"]
Importance = Annotated[_Importance, ref("input.schema.json#/$defs/importance")]
FieldPath = Annotated[str, ref("input.schema.json#/$defs/field_path")]
# A key that may not be given in this place; its only value is "left out".
Forbidden = Annotated[None, ref("input.schema.json#/$defs/forbidden")]


class ItemSchema(Part):
    """A small JSON Schema subset, enforced when inputs are bound."""

    model_config = ConfigDict(title="Element schema", validate_by_name=False)

    type: Literal["string", "integer", "number", "boolean", "object", "array"] | None = None
    properties: dict[str, ItemSchema] | None = None
    required: Annotated[list[str], Unique] | None = Field(None, json_schema_extra=_UNIQUE)
    additional_properties: bool | None = Field(
        None,
        alias="additionalProperties",
        description="Whether an object may have properties not listed (default true).",
    )
    enum: list[Any] | None = Field(None, min_length=1)
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(None, alias="minLength", ge=0)
    max_length: int | None = Field(None, alias="maxLength", ge=0)
    items: ItemSchema | None = None
    description: str | None = None


class ChoicesSearch(Part):
    """Where the service filters by a search term: the listing action's input that takes it.

    Absent: the choices are filtered by their label and value as typed.
    """

    input: InputKey = Field(description="The listing action's input.")
    value: str | None = Field(
        None, description="A template over {search}, the text typed (default: the text itself)."
    )
    escape: dict[str, str] | None = Field(
        None,
        description=(
            "Characters of the search text replaced before it goes into value "
            '("\'": "\'\'" for an OData string).'
        ),
    )


_SOURCE_ACTION = "The action of this pack whose result holds them (a list action)."
_SOURCE_INPUTS = (
    "That action's inputs: input key to a template over the inputs of the action being filled "
    'in ("{group_id}"), or a constant. A template whose input has no value is left out; the '
    "inputs it names are the ones this depends on."
)


class Choices(Part):
    """Where an input's values come from."""

    model_config = described(
        "The input's values come from the service: another action lists them, and a "
        "designer picks one.",
        title="Choices",
    )

    action: InputKey = Field(description=_SOURCE_ACTION)
    inputs: dict[str, Any] | None = Field(None, description=_SOURCE_INPUTS)
    items: FieldPath | None = Field(
        None,
        description=(
            'The list in that action\'s result, e.g. value (default "": the result is the list).'
        ),
    )
    value: FieldPath = Field(description="Each item's field that is the input's value (e.g. id).")
    label: FieldPath | None = Field(
        None, description="Each item's field a designer reads (e.g. name); default: the value."
    )
    search: ChoicesSearch | None = None
    limit: int | None = Field(
        None,
        ge=1,
        le=10000,
        description=(
            "The most choices one answer holds (default 500); more come with a continuation."
        ),
    )


class DynamicSchemaColumns(Part):
    """A list of columns in place of a JSON Schema."""

    model_config = described(
        "at holds a list of columns, not a JSON Schema: each column's name and type "
        "fields, and the schema of each type."
    )

    name: str | None = Field(None, description="The field naming a column (default name).")
    type: str | None = Field(None, description="The field holding its type (default type).")
    types: dict[str, ItemSchema] = Field(
        description="Column type to the schema of its values; a type not listed accepts any value."
    )


class DynamicSchema(Part):
    """Where an input's shape comes from."""

    model_config = described(
        "The shape of the input's value comes from the service (a row's fields from the "
        "chosen table's columns). For an array input it is the shape of each element.",
        title="Dynamic schema",
    )

    action: InputKey = Field(description=_SOURCE_ACTION)
    inputs: dict[str, Any] | None = Field(None, description=_SOURCE_INPUTS)
    items: FieldPath | None = Field(
        None, description="A list in that action's result to pick an element of (with match)."
    )
    match: dict[str, str] | None = Field(
        None, description="Field to template: the element of items whose fields equal these."
    )
    at: FieldPath | None = Field(
        None,
        description=(
            "Where the schema is: in the picked element, or in the result (default: the whole "
            "of it)."
        ),
    )
    columns: DynamicSchemaColumns | None = None


class InputFields(Part):
    """Every key an input definition may have; the variants say which are needed where."""

    model_config = ConfigDict(title="Input definition")

    key: InputKey | None = Field(
        None, description="The input's name in a request's `inputs` (snake_case)."
    )
    use: InputKey | None = Field(
        None,
        description=(
            "Take the definition of this shared input from connector.yaml `inputs`; the other "
            "keys given here override its fields."
        ),
    )
    label: str | None = Field(
        None, min_length=1, description="What the workflow designer shows as the input's name."
    )
    type: (
        Literal[
            "string", "integer", "number", "boolean", "object", "array", "key_value", "json", "file"
        ]
        | None
    ) = Field(
        None,
        description=(
            "string, integer, number, boolean: JSON scalars (no coercion). object, array: JSON "
            "containers. key_value: an object of strings or a list of {key, value} pairs. json: "
            'any JSON value. file: {"path": ...} on the worker\'s disk or {"base64": ..., '
            '"name": ...}, streamed to the service.'
        ),
    )
    required: bool = Field(default=False, description="Whether a call must give a value.")
    default: Annotated[Any, WithJsonSchema({})] = Field(
        None,
        description=(
            "The value used when a call gives none; it must itself be a valid value of the input."
        ),
    )
    comments: str | None = Field(
        None,
        min_length=1,
        description="Help text for the designer, in our own words (Markdown allowed).",
    )
    minimum: float | None = Field(
        None, description="integer and number inputs: the smallest value accepted."
    )
    maximum: float | None = Field(
        None, description="integer and number inputs: the largest value accepted."
    )
    min_length: int | None = Field(
        None,
        ge=0,
        description=(
            "string inputs: the fewest characters accepted; array inputs: the fewest elements."
        ),
    )
    max_length: int | None = Field(
        None, ge=0, description="string inputs: the most characters accepted."
    )
    pattern: str | None = Field(
        None,
        description="string inputs: a regular expression the whole value must match.",
        json_schema_extra={"format": "regex"},
    )
    enum: list[Any] | None = Field(None, min_length=1, description="The only values accepted.")
    items: ItemSchema | None = Field(
        None,
        description="array inputs: the schema of one element (a small JSON Schema subset).",
    )
    format: str | None = Field(
        None,
        examples=["uuid", "uri", "password", "multiline"],
        description=(
            "uuid and uri are checked: a value (or default) that does not match is refused, "
            "naming the field. Other formats (password, multiline) are hints for forms."
        ),
    )
    secret: bool = Field(
        default=False, description="The value is shown as *** in every output and log line."
    )
    example: Annotated[Any, WithJsonSchema({})] = Field(
        None, description="An example value, shown in the docs."
    )
    importance: Importance | None = None
    choices: Choices | None = None
    dynamic_schema: DynamicSchema | None = None


# The three fields a whole definition must give (a definition of its own, or a shared one).
_Label = Annotated[
    str, Field(min_length=1, description="What the workflow designer shows as the input's name.")
]
_Type = Annotated[
    Literal[
        "string", "integer", "number", "boolean", "object", "array", "key_value", "json", "file"
    ],
    Field(description=InputFields.model_fields["type"].description),
]
_Comments = Annotated[
    str,
    Field(
        min_length=1,
        description="Help text for the designer, in our own words (Markdown allowed).",
    ),
]


class Definition(InputFields):
    """A complete input definition with its own key."""

    model_config = ConfigDict(title="Input definition")

    key: InputKey = Field(description="The input's name in a request's `inputs` (snake_case).")
    use: Forbidden = None
    label: _Label
    type: _Type
    comments: _Comments


class Shared(InputFields):
    """An input definition whose key is the mapping key it is listed under."""

    model_config = ConfigDict(title="Shared input definition")

    key: Forbidden = None
    use: Forbidden = None
    label: _Label
    type: _Type
    comments: _Comments


class Use(InputFields):
    """A shared input used by an action."""

    model_config = described(
        "Refers to an input of connector.yaml `inputs` by name, optionally overriding "
        "some of its fields (`required: true`, a `default`, ...).",
        title="Use of a shared input",
    )

    key: Forbidden = None
    use: InputKey = Field(
        description=(
            "Take the definition of this shared input from connector.yaml `inputs`; the other "
            "keys given here override its fields."
        )
    )


def _variant(data: Any) -> str:
    """Which variant an input is: the JSON Schema's "if it has use"."""
    given_use = isinstance(data, Use) or (isinstance(data, dict) and "use" in data)
    return "use" if given_use else "definition"


_ActionInput = Annotated[
    Annotated[Use, Tag("use")] | Annotated[Definition, Tag("definition")], Discriminator(_variant)
]
# An input of an action (or a trigger): `use: <shared input>` with overrides, or a whole definition.
ActionInput = Annotated[_ActionInput, ref("input.schema.json#/$defs/action_input")]

# The published definitions of input.schema.json, by name.
DEFS: dict[str, Any] = {
    "key": Annotated[
        str,
        Field(
            pattern=SNAKE,
            description=(
                "A snake_case name: lowercase letters, digits and underscores, starting with a "
                "letter."
            ),
        ),
    ],
    "fields": InputFields,
    "importance": Annotated[
        _Importance,
        Field(
            description=(
                "How a designer shows it: important first; advanced folded away; internal not at "
                "all (it keeps its default). Absent: in between."
            )
        ),
    ],
    "field_path": Annotated[
        str,
        Field(
            description=(
                "A field of a JSON value: the whole text as one key first (@odata.nextLink), else "
                'a dotted path (owner.name, items.0.id); "" is the value itself.'
            )
        ),
    ],
    "choices": Choices,
    "dynamic_schema": DynamicSchema,
    "forbidden": Annotated[
        None, WithJsonSchema({"description": "This key is not allowed here.", "not": {}})
    ],
    "definition": Definition,
    "shared": Shared,
    "use": Use,
    "action_input": Annotated[
        _ActionInput,
        WithJsonSchema(
            {
                "description": (
                    "Either `use: <shared input>` with overrides, or a complete definition with "
                    "`key`."
                ),
                "if": {"type": "object", "required": ["use"]},
                "then": {REF: "input.schema.json#/$defs/use"},
                "else": {REF: "input.schema.json#/$defs/definition"},
            }
        ),
    ],
    "item_schema": ItemSchema,
}
