"""The pack documents as pydantic models, and the published JSON Schemas generated from them.

Today this holds the models of ``connections/*.yaml`` and ``triggers/*.yaml``
(``schemas/connection.schema.json`` and ``schemas/trigger.schema.json`` are generated from them);
the other documents' schemas are still written by hand. Only authoring
code and the schema test import this module: ``validate`` checks files against the generated
JSON Schema, and ``invoke`` never loads pydantic.

Regenerate the published files with ``python -m connectorkit.authoring._model``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

if TYPE_CHECKING:
    from pydantic_core import core_schema

__all__ = [
    "GENERATED",
    "SCHEMAS",
    "ActionInput",
    "ApiKey",
    "ClientAssertion",
    "Connection",
    "Each",
    "FederatedSource",
    "IdentityEndpoint",
    "InputDefinition",
    "InputKey",
    "ManagedIdentity",
    "Next",
    "Order",
    "Thumbprint",
    "TokenRequest",
    "Trigger",
    "TriggerExample",
    "TriggerList",
    "Where",
    "Window",
    "main",
    "published_schemas",
    "schema_text",
]

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

_SNAKE = "^[a-z][a-z0-9_]*$"
_HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

# A reference into the hand-written input schema, as the field's whole schema. pydantic
# resolves every "$ref" it sees, so it is written as _OUTSIDE and renamed when published.
_OUTSIDE = "x-outside-ref"
InputKey = Annotated[str, WithJsonSchema({_OUTSIDE: "input.schema.json#/$defs/key"})]
InputDefinition = Annotated[
    dict[str, Any], WithJsonSchema({_OUTSIDE: "input.schema.json#/$defs/definition"})
]

Thumbprint = Literal["x5t", "x5t#S256"]


class _Document(BaseModel):
    """A part of a pack document: unknown keys are refused, and so is a key given as null."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        # ``X | None = None`` means the key may be left out; YAML's null is not a value of it.
        if isinstance(data, dict):
            given_null = sorted(str(key) for key, value in data.items() if value is None)
            if given_null:
                raise ValueError(f"null is not a value of {', '.join(given_null)}")
        return data


class ApiKey(_Document):
    """Where an api_key connection's key goes."""

    model_config = ConfigDict(
        json_schema_extra={"description": "type api_key: where the key goes."}
    )

    in_: Literal["header", "query"] = Field(
        "header", alias="in", description="A request header, or a query parameter."
    )
    name: str = Field(
        min_length=1,
        description="The header's or the query parameter's name (X-API-Key, api_key).",
    )
    prefix: str = Field("", description='Text before the key ("Token ", "Bearer ").')
    value: str = Field(
        "{api_key}",
        description=(
            "A template over the connection's values: what is sent (mark those values secret)."
        ),
    )


class TokenRequest(_Document):
    """An endpoint that hands out the federated token (GitHub Actions' OIDC token endpoint)."""

    url_env: str = Field(
        min_length=1,
        description=(
            "The environment variable holding the endpoint's URL (ACTIONS_ID_TOKEN_REQUEST_URL)."
        ),
    )
    token_env: str = Field(
        min_length=1,
        description=(
            "The environment variable holding the bearer token that endpoint wants "
            "(ACTIONS_ID_TOKEN_REQUEST_TOKEN)."
        ),
    )
    audience: str | None = Field(
        None,
        description="The audience to ask for (a template over the values), sent as &audience=.",
    )


class FederatedSource(_Document):
    """One place a federated token comes from: exactly one of the keys."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    value: str | None = Field(None, description="A template over the values: the token itself.")
    file: str | None = Field(
        None,
        description=(
            "A template over the values: a file holding the token (read each time, as it rotates)."
        ),
    )
    env: str | None = Field(
        None, min_length=1, description="An environment variable holding the token."
    )
    file_env: str | None = Field(
        None,
        min_length=1,
        description="An environment variable naming a file that holds the token.",
    )
    request: TokenRequest | None = None


class ClientAssertion(_Document):
    """How a private_key_jwt client assertion is made."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "token_endpoint_auth_method private_key_jwt: how the client assertion is made. "
                "Without federated sources it is signed with the certificate of the values "
                "certificate (PEM text) or certificate_path (a PEM file), holding the private key "
                "and, usually, the certificate; certificate_password decrypts an encrypted key, "
                "certificate_thumbprint (SHA-1, hex) names the certificate when the PEM has none."
            )
        }
    )

    algorithm: Literal["RS256", "PS256"] = Field("RS256", description="The signature algorithm.")
    thumbprint: Annotated[
        Thumbprint | list[Thumbprint],
        WithJsonSchema(
            {
                "oneOf": [
                    {"enum": ["x5t", "x5t#S256"]},
                    {
                        "type": "array",
                        "items": {"enum": ["x5t", "x5t#S256"]},
                        "minItems": 1,
                        "uniqueItems": True,
                    },
                ]
            }
        ),
    ] = Field(
        ["x5t", "x5t#S256"],
        description=(
            "Which thumbprints of the certificate the assertion's header names: x5t (SHA-1) "
            "and/or x5t#S256 (SHA-256)."
        ),
    )
    audience: str = Field(
        "{token_url}", description="The assertion's aud, a template over the values."
    )
    lifetime: int = Field(600, ge=30, le=3600, description="Seconds the assertion is valid for.")
    federated: list[FederatedSource] | None = Field(
        None,
        min_length=1,
        description=(
            "Present another issuer's token instead (workload identity federation): where it "
            "comes from, tried in order; the first that has one is used."
        ),
    )


class IdentityEndpoint(_Document):
    """One of the host's token endpoints."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["url"]}, {"required": ["url_env"]}]}
    )

    protocol: Literal["imds", "app_service"] = Field(
        description=(
            "imds: GET {url}/metadata/identity/oauth2/token with Metadata: true; app_service: "
            "GET {url} with the secret as X-IDENTITY-HEADER."
        )
    )
    url: str | None = Field(None, description="The endpoint's URL when no url_env is set.")
    url_env: str | None = Field(
        None, min_length=1, description="An environment variable holding the URL."
    )
    secret_env: str | None = Field(
        None,
        min_length=1,
        description="An environment variable holding the secret the protocol sends (app_service).",
    )


class ManagedIdentity(_Document):
    """Where a managed identity gets its tokens."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "type managed_identity: where the host's identity gets its tokens."
        }
    )

    resource: str = Field(
        "{resource}",
        description="The resource a token is asked for, a template over the values.",
    )
    client_id: str = Field(
        "{managed_identity_client_id}",
        description=(
            "A user-assigned identity's client ID, a template over the values; empty: the host's "
            "own identity."
        ),
    )
    endpoints: list[IdentityEndpoint] = Field(
        min_length=1,
        description=(
            "The host's token endpoints, tried in order: the first whose url_env is set, or that "
            "has a url."
        ),
    )


def _needs_when(field: str, value: str, needed: str) -> dict[str, Any]:
    """``needed`` is required when ``field`` is ``value``, and refused otherwise."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {"required": [needed]},
        "else": {"not": {"required": [needed]}},
    }


class Connection(_Document):
    """One connection of a pack (``connections/<key>.yaml``)."""

    model_config = ConfigDict(
        title="connectorkit connection",
        json_schema_extra={
            "description": (
                "One connection of a pack: its kind (the auth flow that serves it), that kind's "
                "settings, and the values it needs."
            ),
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "oauth2"}}},
                    "then": {"required": ["grant"]},
                },
                _needs_when("type", "api_key", "api_key"),
                _needs_when("type", "managed_identity", "managed_identity"),
                {
                    "if": {
                        "properties": {"token_endpoint_auth_method": {"const": "private_key_jwt"}},
                        "required": ["token_endpoint_auth_method"],
                    },
                    "else": {"not": {"required": ["client_assertion"]}},
                },
            ],
        },
    )

    key: InputKey = Field(description="The connection's name; equals the file name without .yaml.")
    label: str = Field(min_length=1, description="The connection's name as a designer shows it.")
    description: str = Field(
        min_length=1,
        description="When to choose this connection and what it needs (Markdown allowed).",
    )
    type: str = Field(
        "oauth2",
        pattern=_SNAKE,
        description=(
            "The kind of connection, by the auth flow that serves it: oauth2 (the default; needs "
            "a grant), api_key (a key in a header or the query; needs api_key), basic (HTTP Basic "
            "from the values username and password), bearer (a static token from the value "
            "token), managed_identity (a token from the host's metadata endpoint; needs "
            "managed_identity), none (a service that asks for no credentials: nothing is added), "
            "windows (NTLM / Negotiate), or a kind registered at run time."
        ),
    )
    grant: Literal["authorization_code", "client_credentials"] | None = Field(
        None,
        description=(
            "authorization_code: a user's delegated token, passed in the request and refreshed "
            "with its refresh token. client_credentials: the runtime fetches an application "
            "token itself."
        ),
    )
    token_endpoint_auth_method: Literal[
        "client_secret_post", "client_secret_basic", "private_key_jwt"
    ] = Field(
        "client_secret_post",
        description=(
            "How an oauth2 client authenticates at the token endpoint: its secret in the form "
            "body, its secret as HTTP Basic, or a signed client assertion (private_key_jwt, "
            "RFC 7523: signed with the connection's certificate, or a federated token; see "
            "client_assertion)."
        ),
    )
    refresh_scope: Literal["omit", "granted", "configured"] = Field(
        "omit",
        description=(
            "What a refresh-token request says about scope. omit (RFC 6749 section 6: the new "
            "token has the scope originally granted): no scope parameter. granted: the scope the "
            "current token was granted, when known. configured: the connection's scopes value, "
            "for providers that want it on every request."
        ),
    )
    values: list[InputDefinition] = Field(
        description=(
            "The connection's values as input definitions. Each kind reads some by name: "
            "base_url (every kind); oauth2: token_url, authorize_url, scopes, client_id, "
            "client_secret, token_leeway, and for private_key_jwt certificate, certificate_path, "
            "certificate_password, certificate_thumbprint; basic: username, password; bearer: "
            "token; managed_identity: token_leeway. A default may refer to another value as "
            "{name}."
        ),
    )
    headers: dict[str, str] | None = Field(
        None,
        description=(
            "Headers every request of the connection carries, whatever its kind: name to a "
            "template over the connection's values ({org_id}); a header whose value is missing "
            "is not sent."
        ),
        json_schema_extra={"propertyNames": {"pattern": _HEADER_NAME}},
    )
    api_key: ApiKey | None = None
    client_assertion: ClientAssertion | None = None
    managed_identity: ManagedIdentity | None = None


# --- triggers/*.yaml -------------------------------------------------------------------------

ActionInput = Annotated[
    dict[str, Any], WithJsonSchema({_OUTSIDE: "input.schema.json#/$defs/action_input"})
]
Where = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": {
                "description": (
                    "A template over the inputs (a list input: any of its values), or a JSON value."
                )
            },
        }
    ),
]


class Each(_Document):
    """Part of a trigger: Each."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "List the items once per item of another list (each refresh history of a "
                "workspace's datasets); templates name that item as $parent."
            )
        }
    )

    action: InputKey = Field(description="The action that lists the parents.")
    inputs: dict[str, Any] | None = Field(
        None, description="Its inputs: templates over the trigger's inputs."
    )
    items: str | None = Field(
        None,
        description=(
            'The field of its answer holding the list (default: its pages.items, else "").'
        ),
    )
    where: Where | None = Field(
        None, description="Only the parents whose fields match (as the trigger's where)."
    )
    most: int | None = Field(
        None,
        ge=1,
        description=(
            "At most this many parents are listed in one poll (default 100): a poll fails rather "
            "than sending more requests."
        ),
    )


class TriggerList(_Document):
    """Part of a trigger: TriggerList."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "Where the candidate items come from: an action of the pack (its request, pages "
                "and rate budgets), or the runtime's ledger of push jobs."
            )
        }
    )

    action: InputKey | None = Field(
        None,
        description="The action that lists the items; a paged one is followed to its last page.",
    )
    inputs: dict[str, Any] | None = Field(
        None,
        description=(
            "The listing action's inputs: templates over the trigger's inputs, $parent (with "
            "each) and $window (with window)."
        ),
    )
    items: str | None = Field(
        None,
        description=(
            'The field of the answer holding the list ("": the answer is the list; an object '
            'answer is one item). Default: the action\'s pages.items, else "".'
        ),
    )
    each: Each | None = None
    jobs: InputKey | None = Field(
        None,
        description=(
            "Instead of action: the push jobs of this batch action in the state store, one item "
            "per job that ended (job_id, state, rows, committed, ended_at, ends, inputs)."
        ),
    )


class Order(_Document):
    """Part of a trigger: Order."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "The items are ordered by a field: a poll gives those after the highest value "
                "seen (and those at it not seen yet)."
            )
        }
    )

    by: str = Field(
        min_length=1,
        description=(
            "The item's field that orders it (an item without it is not yet an event). "
            "A field of an item: the whole text as one key first, else a dotted path "
            "(refreshAttempts.0.type)."
        ),
    )
    type: Literal["time", "number", "text"] | None = Field(
        None,
        description=(
            "time: an ISO 8601 date-time (without a zone: UTC); number; text (compared as "
            "written). Default time."
        ),
    )
    overlap_s: float | None = Field(
        None,
        ge=0,
        description=(
            "time only: an item this many seconds older than the newest seen is still delivered "
            "(once) when it shows up late. Default 0."
        ),
    )


class Next(_Document):
    """Part of a trigger: Next."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "The service keeps the position: each answer says where the next poll goes, and "
                "every item of an answer is new."
            )
        }
    )

    url: str = Field(
        min_length=1,
        description=(
            "A template over the answer ($headers, $body) giving the next poll's URL "
            '("{$headers.Location}").'
        ),
    )
    empty: list[Annotated[int, Field(ge=200, le=299)]] | None = Field(
        None, description="Statuses that mean nothing new (default [202])."
    )


class Window(_Document):
    """Part of a trigger: Window."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                "The listing takes a time window ($window.start, $window.end): a poll asks from "
                "the last position to now, within these limits."
            )
        }
    )

    span_s: int | None = Field(
        None,
        ge=1,
        description=(
            "The longest window one poll asks for (default 3600); a poll behind by more catches "
            "up over several."
        ),
    )
    within_day: bool | None = Field(
        None, description="A window never crosses midnight UTC (default false)."
    )
    lookback_s: int | None = Field(
        None,
        ge=1,
        description=("The oldest start the service takes, before now; an older since is refused."),
    )
    format: Literal["iso", "iso_seconds", "epoch_s", "epoch_ms"] | None = Field(
        None,
        description=(
            "How $window.start and $window.end are written: iso (2024-05-01T10:00:00.000Z, the "
            "default), iso_seconds (2024-05-01T10:00:00Z), epoch_s, epoch_ms."
        ),
    )


class TriggerExample(_Document):
    """A worked example of a trigger."""

    title: str = Field(min_length=1)
    inputs: dict[str, Any]
    event: Annotated[Any, WithJsonSchema({})]


class Trigger(_Document):
    """One trigger of a pack (``triggers/<key>.yaml``)."""

    model_config = ConfigDict(
        title="connectorkit trigger",
        json_schema_extra={
            "description": (
                "One trigger of a pack: what a poll lists, what identifies and orders the items, "
                "and what an event of a new one carries. Exactly one of order, changes and next "
                "says how a poll tells new items from the rest."
            )
        },
    )

    key: InputKey = Field(
        description="The trigger's name in a poll's `trigger`; equals the file name without .yaml."
    )
    label: str = Field(
        min_length=1,
        description='The trigger\'s name as a designer shows it ("When a refresh fails").',
    )
    description: str = Field(
        min_length=1,
        description="What starts a flow, and what its events carry (Markdown allowed).",
    )
    group: str | None = Field(
        None,
        min_length=1,
        description="The group a designer finds the trigger under (e.g. Datasets).",
    )
    inputs: list[ActionInput] | None = Field(
        None,
        description=(
            "The trigger's inputs (what to watch), in the order a designer shows them. The "
            "runtime adds since (ordered triggers) and max_events, and the call inputs of "
            "connector.yaml."
        ),
    )
    interval_s: int | None = Field(
        None,
        ge=1,
        description=(
            "The poll interval a platform (and connectorkit watch) uses when it is given none, "
            "in seconds (default 300)."
        ),
    )
    list_: TriggerList = Field(alias="list")
    identity: (
        Annotated[
            str | list[str],
            WithJsonSchema(
                {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "minLength": 1},
                        },
                    ]
                }
            ),
        ]
        | None
    ) = Field(
        None,
        description=(
            "What identifies an item: a template over $item, $parent and the inputs, or several "
            "(a composite key). Events of the same item have the same id."
        ),
    )
    order: Order | None = None
    changes: Literal["appeared", "disappeared"] | None = Field(
        None,
        description=(
            "Instead of order: an event for each item listed now and not at the last poll "
            "(appeared), or listed then and not now (disappeared). The first poll only notes "
            "what is there."
        ),
    )
    next: Next | None = None
    window: Window | None = None
    where: Where | None = Field(
        None,
        description=(
            "Only items whose fields match become events: field path -> template over the "
            "inputs. A template without a value drops its condition; a list value means any of "
            "them; text compares without regard to case."
        ),
    )
    event: Annotated[Any, WithJsonSchema({})] = Field(
        None,
        description=(
            "What an event carries: a JSON template over $item, $parent and the inputs. "
            "Absent: the item itself."
        ),
    )
    examples: list[TriggerExample] | None = Field(
        None,
        description="Worked examples a designer sees: inputs and the event a poll gives.",
    )


class _PublishedSchema(GenerateJsonSchema):
    """JSON Schema as we publish it.

    An absent optional key is not ``null``, and no titles except the document's own.
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


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace local references by the definitions they name, and drop model titles."""
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        named = dict(definitions[reference.removeprefix("#/$defs/")])
        named.pop("title", None)
        rest = {key: value for key, value in node.items() if key != "$ref"}
        return _inline({**named, **rest}, definitions)
    return {
        "$ref" if key == _OUTSIDE else key: " ".join(value.split())
        if key == "description" and isinstance(value, str)
        else _inline(value, definitions)
        for key, value in node.items()
    }


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    generated = model.model_json_schema(schema_generator=_PublishedSchema)
    definitions = generated.pop("$defs", {})
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    document.update(_inline(generated, definitions))
    return document


# The published schemas generated from a model, by file name.
GENERATED: dict[str, type[BaseModel]] = {
    "connection.schema.json": Connection,
    "trigger.schema.json": Trigger,
}


def published_schemas() -> dict[str, dict[str, Any]]:
    """Each generated schema, as it is published in ``schemas/``."""
    return {name: _schema_of(model) for name, model in GENERATED.items()}


def schema_text(schema: dict[str, Any]) -> str:
    """A schema as its published file holds it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the generated schemas into ``schemas/``."""
    for name, schema in published_schemas().items():
        (SCHEMAS / name).write_text(schema_text(schema), encoding="utf-8")
        sys.stdout.write(f"wrote schemas/{name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
