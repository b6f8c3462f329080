"""``connector.yaml``: what a pack is, and what its actions share."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from connectorkit.authoring.model._base import REF, SNAKE, InputKey, OneOf, Part, described
from connectorkit.authoring.model._input import Shared

__all__ = [
    "DEFS",
    "Advice",
    "Budget",
    "BudgetWindow",
    "Check",
    "Connector",
    "ConnectorOpenApi",
    "ErrorHint",
    "OpenApiDocument",
    "OptionalPrefix",
    "Quirks",
    "Service",
    "TokenRefused",
]

_KEYS: dict[str, Any] = {"propertyNames": {REF: "input.schema.json#/$defs/key"}}
_DOTTED = r"^[^.]+(\.[^.]+)*$"


class BudgetWindow(Part):
    """One window of a budget: at most so many requests (or units) in it."""

    limit: int = Field(ge=1, description="At most this many requests (or units) per window.")
    per: Literal["second", "minute", "hour", "day"] = Field(
        description="The length of the sliding window."
    )
    units: InputKey | None = Field(
        None, description="Count the items of this list input (e.g. rows) instead of requests."
    )
    when_table_holds: int | None = Field(
        None, ge=1, description="Apply the window only once the table holds this many rows."
    )


class Budget(Part):
    """One budget: which actions take from it, per which resource, within which windows."""

    comments: str | None = Field(None, description="Why the budget exists (for readers).")
    actions: list[InputKey] = Field(
        min_length=1, description="The actions whose requests take from this budget."
    )
    resource: str = Field(
        min_length=1,
        description=(
            'What the budget is per, as a template over the action\'s inputs, e.g. "{dataset_id}".'
        ),
    )
    pending: int | None = Field(
        None, ge=1, description="At most this many requests in flight at once."
    )
    table: str | None = Field(
        None,
        min_length=1,
        description=(
            "A template naming the table whose stored rows `when_table_holds` counts, e.g. "
            '"{table_name}".'
        ),
    )
    reset_by: list[InputKey] | None = Field(
        None, description="Actions that empty the table (its row count starts again at 0)."
    )
    windows: list[BudgetWindow] = Field(min_length=1)


class TokenRefused(Part):
    """A response that means the access token was refused."""

    status: int = Field(ge=400, le=599)
    code: str | None = Field(None, min_length=1)


class Quirks(Part):
    """How the service departs from plain HTTP."""

    model_config = described(
        "How the service departs from plain HTTP, as data: which responses mean the "
        "access token was refused, where its error bodies keep a code and a message, "
        "which statuses mean throttling. Left out, 401 refuses a token, 429 throttles, "
        "and error bodies are read as OAuth's {error, error_description}."
    )

    token_refused: list[TokenRefused] | None = Field(
        None,
        min_length=1,
        description=(
            "Responses after which the token is renewed once and the request sent again: a "
            "status, optionally with the service's error code (e.g. 403 with the code of an "
            "expired token)."
        ),
    )
    error_code: list[Annotated[str, Field(pattern=_DOTTED)]] | None = Field(
        None,
        min_length=1,
        description=(
            "Where an error body keeps the service's error code: dotted paths tried in order "
            "(e.g. error.code); the first text found wins."
        ),
    )
    error_message: list[Annotated[str, Field(pattern=_DOTTED)]] | None = Field(
        None,
        min_length=1,
        description=(
            "Where an error body keeps the service's message: dotted paths tried in order "
            "(e.g. error.message, Message)."
        ),
    )
    throttled: list[Annotated[int, Field(ge=400, le=599)]] | None = Field(
        None,
        min_length=1,
        description=(
            "Statuses that mean the service is throttling: the error is rate_limited, it is "
            "always retried and Retry-After is honoured."
        ),
    )


class Service(Part):
    """Another service of the same provider: its base URL and token scope."""

    label: str | None = Field(None, min_length=1, description="The service's name, for people.")
    base_url: str = Field(
        min_length=1,
        description=(
            "The root of the service's paths: a template over the connection's values, e.g. "
            "{onelake_url}."
        ),
    )
    scope: str | None = Field(
        None,
        min_length=1,
        description=(
            "The scope its tokens are asked for: a template over the connection's values, e.g. "
            "{storage_resource}/.default. Absent: the connection's own token."
        ),
    )


class ErrorHint(Part):
    """A sentence added to the errors that contain a marker."""

    match: str = Field(
        min_length=1, description="Text to look for (case-insensitive), such as an error code."
    )
    hint: str = Field(min_length=1, description="What to change, for a person.")


class Advice(Part):
    """What to change when the check fails with `match` in its error."""

    match: str = Field(min_length=1)
    grant: Literal["authorization_code", "client_credentials"] | None = None
    say: str = Field(min_length=1)


class Check(Part):
    """The call that tests a connection."""

    model_config = described(
        "The cheapest call that needs a valid token: `connectorkit check` makes it to "
        "test a connection."
    )

    action: str = Field(description="The key of one of the pack's actions.")
    inputs: dict[str, Any] | None = Field(None, description="Its inputs, e.g. `{top: 1}`.")
    comments: str | None = Field(None, description="Why this call was chosen.")
    advice: list[Advice] | None = Field(
        None,
        description=(
            "What to change when the check fails with `match` in its error (a service error "
            "code, an OAuth error, an AADSTS code), first match wins."
        ),
    )


class OpenApiDocument(Part):
    """One document of several, with its own settings."""

    document: str = Field(min_length=1, description="A path or glob inside the pack.")
    base_path: str | None = Field(
        None, description="Where the document's paths start (instead of its own basePath)."
    )
    group: str | None = Field(
        None,
        description=(
            "What the document's action groups start with (default: its title without "
            '"REST APIs"; empty: its tags alone).'
        ),
    )
    key_suffix: str | None = Field(
        None,
        pattern=SNAKE,
        description="Words every action key of the document ends with (as_admin).",
    )


class OptionalPrefix(Part):
    """A path prefix that makes a second variant of an operation."""

    path: str = Field(
        pattern="^/", description="The prefix as the document writes it, e.g. /groups/{groupId}."
    )
    input: InputKey = Field(description="The optional input that holds its value, e.g. group_id.")


class ConnectorOpenApi(Part):
    """The OpenAPI document the pack's actions follow."""

    model_config = described(
        "The OpenAPI document the pack's actions follow. `connectorkit import-openapi` "
        "reads these settings and the conformance tests check every action's request "
        "against the document.",
        title="OpenAPI",
    )

    document: str | None = Field(
        None,
        min_length=1,
        description=(
            "The document's path inside the pack (JSON or YAML, OpenAPI 2 or 3), for a pack that "
            "follows one."
        ),
    )
    documents: (
        list[Annotated[Annotated[str, Field(min_length=1)] | OpenApiDocument, OneOf()]] | None
    ) = Field(
        None,
        description=(
            "The documents of a pack that follows several (`connectorkit import-openapi` with no "
            "document imports them all). Each is a path or glob inside the pack, or an object "
            "naming one with its own settings; a later entry for a file already named gives it "
            "those settings. Actions then name their operations as `document#operationId`."
        ),
    )
    long_running: dict[str, Any] | None = Field(
        None,
        description=(
            "Parts of the `long_running` block imported operations get (status words, interval, "
            "timeout_s ...), over the default of the long-running operation convention the x-ms- "
            "extensions belong to."
        ),
    )
    long_running_flags: list[Annotated[str, Field(pattern="^x-")]] | None = Field(
        None,
        description=(
            "Operation extensions that, when true, mark a long-running operation, beside "
            "x-ms-long-running-operation."
        ),
    )
    follow_location: bool | None = Field(
        None,
        description=(
            "Also poll, as a long-running operation, every 202 that declares or describes a "
            "Location (not only operations marked x-ms-long-running-operation)."
        ),
    )
    base_path: str | None = Field(
        None,
        description=(
            "The leading part of the document's paths that the connection's base_url already "
            "holds (e.g. /v1.0/myorg)."
        ),
    )
    optional_prefixes: list[OptionalPrefix] | None = Field(
        None,
        description=(
            "Path prefixes that make a second variant of an operation (e.g. "
            "/groups/{groupId} for a workspace). Such a pair becomes one action whose input "
            "names the prefix's value; without it, the variant without the prefix is called."
        ),
    )
    verbs: dict[str, Annotated[str, Field(pattern="^[A-Z][A-Za-z]*$")]] | None = Field(
        None,
        description=(
            "Words an operationId's verb becomes in action keys and labels (default: Post → "
            "Create, Put and Patch → Update; a Get of a plural noun is a List)."
        ),
    )


# A value set's choice: connection value name to its default under this choice.
_Defaults = Annotated[
    dict[InputKey, Any],
    Field(
        description=(
            "Connection value name to its default under this choice; empty: the caller gives them."
        ),
        json_schema_extra=_KEYS,
    ),
]
# One value's choices, each with the defaults it gives.
_Choices = Annotated[
    dict[str, _Defaults],
    Field(min_length=1, description="Each choice of the value, with the defaults it gives."),
]
# A call input: a one-entry mapping `key: definition`.
_CallInput = Annotated[
    dict[InputKey, Shared], Field(min_length=1, max_length=1, json_schema_extra=_KEYS)
]


class Connector(Part):
    """What an action pack is (``connector.yaml``)."""

    model_config = described(
        "What an action pack is: its key, its default connection, the input definitions "
        "its actions share and the call inputs every action accepts.",
        title="connectorkit connector.yaml",
    )

    key: InputKey = Field(description="The pack's name (snake_case).")
    label: str = Field(min_length=1, description="The pack's name as a designer shows it.")
    description: str = Field(min_length=1, description="What the pack is for (Markdown allowed).")
    version: str | None = Field(
        None,
        description="The pack's version, e.g. 0.1.0 (quote it in YAML so it stays text).",
    )
    default_connection: InputKey = Field(
        description=(
            "The connection used when a request names none: the key of a file in connections/."
        )
    )
    inputs: dict[InputKey, Shared] | None = Field(
        None,
        description=("Shared input definitions by key; an action takes one with `- use: <key>`."),
        json_schema_extra=_KEYS,
    )
    quirks: Quirks | None = None
    value_sets: dict[InputKey, _Choices] | None = Field(
        None,
        description=(
            "Defaults chosen by a connection value: under the value's name (e.g. cloud), each of "
            "its choices maps other connection values to the defaults that choice gives them "
            "(e.g. a national cloud's sign-in authority and API host). A value the caller gives "
            "always wins; a connection default may refer to these values as {name}."
        ),
        json_schema_extra=_KEYS,
    )
    services: dict[InputKey, Service] | None = Field(
        None,
        description=(
            "Other services of the same provider that actions may address, by name: each with "
            "its own base URL and token scope (templates over the connection's values, so that "
            "a value set can give each cloud's). An action, or a request block, says `service: "
            "NAME`; one sign-in then gives a token per scope."
        ),
        json_schema_extra=_KEYS,
    )
    error_hints: list[ErrorHint] | None = Field(
        None,
        description=(
            "Sentences added to errors (as error.hint, and at the end of the message) whose "
            "message or service code contains a marker, e.g. sign-in errors that mean the wrong "
            "cloud was chosen."
        ),
    )
    call_inputs: list[_CallInput] | None = Field(
        None,
        description=(
            "Inputs every action accepts without declaring them (timeout, retries, debug), each "
            "a one-entry mapping `key: definition`."
        ),
    )
    limits: dict[InputKey, Budget] | None = Field(
        None,
        description=(
            "Rate budgets of the service, by name: enforced before sending, shared by every "
            "worker using the same state store (see README, Rate budgets)."
        ),
        json_schema_extra=_KEYS,
    )
    check: Check | None = None
    openapi: ConnectorOpenApi | None = None


# The published definitions of connector.yaml's schema, by name.
DEFS: dict[str, Any] = {"budget": Budget}
