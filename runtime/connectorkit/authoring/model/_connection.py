"""``connections/*.yaml``: one connection of a pack, its kind and that kind's settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from connectorkit.authoring.model._base import SNAKE, InputKey, Part, described
from connectorkit.authoring.model._input import Definition

__all__ = [
    "ApiKey",
    "ClientAssertion",
    "Connection",
    "FederatedSource",
    "IdentityEndpoint",
    "ManagedIdentity",
    "Thumbprint",
    "TokenRequest",
]

_HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

Thumbprint = Literal["x5t", "x5t#S256"]


class ApiKey(Part):
    """Where an api_key connection's key goes."""

    model_config = described("type api_key: where the key goes.")

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


class TokenRequest(Part):
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


class FederatedSource(Part):
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


class ClientAssertion(Part):
    """How a private_key_jwt client assertion is made."""

    model_config = described(
        "token_endpoint_auth_method private_key_jwt: how the client assertion is made. "
        "Without federated sources it is signed with the certificate of the values "
        "certificate (PEM text) or certificate_path (a PEM file), holding the private key "
        "and, usually, the certificate; certificate_password decrypts an encrypted key, "
        "certificate_thumbprint (SHA-1, hex) names the certificate when the PEM has none."
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


class IdentityEndpoint(Part):
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


class ManagedIdentity(Part):
    """Where a managed identity gets its tokens."""

    model_config = described("type managed_identity: where the host's identity gets its tokens.")

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


class Connection(Part):
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
        pattern=SNAKE,
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
    values: list[Definition] = Field(
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
