"""Typed, immutable definitions of a pack: what ``load`` produces and everything later reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from connectorkit.core._template import render_path, render_request

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from connectorkit.core._request import RequestSpec
    from connectorkit.pack._budgets import BudgetDef
    from connectorkit.pack._multistep import Multistep
    from connectorkit.pack._triggers import TriggerDef
    from connectorkit.types._input import Importance, InputDef

__all__ = [
    "ActionDef",
    "AdviceDef",
    "ApiKeyDef",
    "AssertionSourceDef",
    "BatchDef",
    "CheckDef",
    "ClientAssertionDef",
    "ConnectionDef",
    "DiscoverDef",
    "EachDef",
    "ErrorHint",
    "InOrderDef",
    "ManagedIdentityDef",
    "MetadataEndpointDef",
    "Pack",
    "Quirks",
    "RefusalDef",
    "RememberDef",
    "RequestDef",
    "ResultDef",
    "RowTypesDef",
    "ServiceDef",
    "SliceDef",
]


class DiscoverDef(msgspec.Struct, frozen=True):
    """Where the service tells a table's columns.

    GET ``path``; in the answer, the list at ``items``; in it, the element whose fields equal
    ``match`` (templates over the inputs); its ``columns`` field.
    """

    path: str
    items: str
    match: Mapping[str, str]
    columns: str


class RowTypesDef(msgspec.Struct, frozen=True):
    """How the rows of a batch action are checked before sending: by their table's columns.

    The columns (``[{<name_field>: …, <type_field>: …}]``) come from ``columns_input`` when the
    caller gives it, else from what an action remembered under ``remember`` (templates over the
    inputs, e.g. the dataset and table), else from the service (``discover``). ``types`` maps
    a column type to the small JSON Schema of its values. ``unchecked_input`` and
    ``skip_input`` name the boolean inputs that allow sending without known columns, and
    skipping bad rows.
    """

    types: Mapping[str, Mapping[str, Any]]
    columns_input: str | None = None
    name_field: str = "name"
    type_field: str = "type"
    remember: tuple[str, ...] = ()
    unchecked_input: str | None = None
    skip_input: str | None = None
    discover: DiscoverDef | None = None


class BatchDef(msgspec.Struct, frozen=True):
    """Send the request once per chunk of an array input, a few chunks at a time."""

    input: str
    size: int
    max_bytes: int | None = None
    in_flight: int = 1
    rows: RowTypesDef | None = None
    in_order: InOrderDef | None = None


class InOrderDef(msgspec.Struct, frozen=True):
    """When a batch action sends one chunk at a time, so that they arrive in their order.

    The caller asks with ``input`` (a boolean); or a value an action remembered (``remembered``
    under ``key``, templates over the inputs) is one of ``values`` — a table that drops its
    oldest rows by arrival, say.
    """

    input: str | None = None
    remembered: str | None = None
    key: tuple[str, ...] = ()
    values: tuple[str, ...] = ()


class RememberDef(msgspec.Struct, frozen=True):
    """After a success, keep ``value`` under ``key`` (templates over inputs and ``$body``)."""

    name: str
    key: tuple[str, ...]
    value: Any


class EachDef(msgspec.Struct, frozen=True):
    """After the request, one GET per item of a list in its answer; their lists joined."""

    items: str  # the key of the list in the first answer
    path: str  # a path template over each item's fields
    collect: str  # the key of the list in each item's answer (and in the result)


class RequestDef(msgspec.Struct, frozen=True):
    """The HTTP request an action makes, as templates over its inputs."""

    method: str
    path: str
    query: Mapping[str, Any] = msgspec.field(default_factory=dict)
    headers: Mapping[str, Any] = msgspec.field(default_factory=dict)
    body: Any = None
    has_body: bool = False
    batch: BatchDef | None = None
    hook: str | None = None
    each: EachDef | None = None


class SliceDef(msgspec.Struct, frozen=True):
    """Page a list the service returns whole."""

    items: str
    offset: str | None
    limit: str | None


class ResultDef(msgspec.Struct, frozen=True):
    """How the response becomes the action's result (absent parts: the parsed body)."""

    slice: SliceDef | None = None
    template: Any = None
    has_template: bool = False
    # "base64" (or ``file: true``): the body is a file, saved to ``save_to`` or returned as
    # {"encoding", "content_type", "data", …}.
    encoding: str | None = None


class ServiceDef(msgspec.Struct, frozen=True):
    """Another service of the provider: its base URL and token scope, templates over values."""

    key: str
    base_url: str
    scope: str | None = None
    label: str | None = None


class ActionDef(msgspec.Struct, frozen=True):
    """One action: typed inputs and the request it makes."""

    key: str
    label: str
    description: str
    inputs: tuple[InputDef, ...]
    request: RequestDef
    result: ResultDef
    file: Path
    # Where a designer finds it, the OpenAPI operations it stands for, its worked examples
    # (inputs -> the exact request -> a sample response) and the shape of its result.
    group: str | None = None
    operations: tuple[str, ...] = ()
    examples: tuple[Mapping[str, Any], ...] = ()
    returns: Mapping[str, Any] | None = None
    remember: tuple[RememberDef, ...] = ()
    # What it does beyond one request (an operation polled to its end, pages, files, uploads).
    multistep: Multistep | None = None
    # How a designer lists it: important first, advanced last, internal not at all.
    importance: Importance | None = None
    # The service of connector.yaml's ``services`` its request goes to (None: the connection's).
    service: str | None = None

    def input(self, key: str) -> InputDef | None:
        """The input named ``key``, if declared."""
        for item in self.inputs:
            if item.key == key:
                return item
        return None

    def request_for(self, base_url: str, values: Mapping[str, Any]) -> RequestSpec:
        """The request it sends for ``values`` (bound inputs) to the service at ``base_url``."""
        request = self.request
        spec = render_request(
            request.method,
            base_url + render_path(request.path, values),
            request.query,
            request.headers,
            request.body,
            values,
            has_body=request.has_body,
        )
        spec.service = self.service
        return spec


class ApiKeyDef(msgspec.Struct, frozen=True):
    """Where an ``api_key`` connection puts its key: a header or a query parameter.

    ``value`` is a template over the connection's values; ``prefix`` goes before it
    (``"Token "``).
    """

    location: Literal["header", "query"]
    name: str
    prefix: str = ""
    value: str = "{api_key}"


class AssertionSourceDef(msgspec.Struct, frozen=True):
    """One place a federated client assertion may come from (the first that has one wins).

    ``value``: a template over the connection's values (the assertion itself); ``file``: a
    template naming a file that holds it; ``env``: an environment variable holding it;
    ``file_env``: an environment variable naming a file; ``request``: a CI's OIDC endpoint,
    its URL and bearer token read from the environment variables ``url_env`` and
    ``token_env``, asked for ``audience`` (a template), answering ``{"value": ...}``.
    """

    kind: Literal["value", "file", "env", "file_env", "request"]
    source: str = ""
    url_env: str = ""
    token_env: str = ""
    audience: str = ""


class ClientAssertionDef(msgspec.Struct, frozen=True):
    """How a ``private_key_jwt`` connection makes its client assertion (RFC 7523).

    With no ``federated`` sources it signs one with the connection's certificate
    (``algorithm``, the certificate's ``thumbprints`` in the header, ``audience`` a template,
    the token URL by default); with sources, it presents a token of another issuer.
    """

    algorithm: Literal["RS256", "PS256"] = "RS256"
    thumbprints: tuple[Literal["x5t", "x5t#S256"], ...] = ("x5t", "x5t#S256")
    audience: str = "{token_url}"
    lifetime_s: int = 600
    federated: tuple[AssertionSourceDef, ...] = ()


class MetadataEndpointDef(msgspec.Struct, frozen=True):
    """A host's token endpoint for its managed identity, and the protocol it speaks.

    Used when ``url_env`` is set in the environment (its value is the URL), or when ``url`` is
    given; ``secret_env`` names the variable holding the header secret some protocols want.
    """

    protocol: Literal["imds", "app_service"]
    url: str = ""
    url_env: str = ""
    secret_env: str = ""


class ManagedIdentityDef(msgspec.Struct, frozen=True):
    """Where a ``managed_identity`` connection gets tokens: the first endpoint available.

    ``resource`` and ``client_id`` are templates over the connection's values; an empty
    ``client_id`` asks for the host's own (system-assigned) identity.
    """

    endpoints: tuple[MetadataEndpointDef, ...]
    resource: str = "{resource}"
    client_id: str = "{managed_identity_client_id}"


class ConnectionDef(msgspec.Struct, frozen=True):
    """One connection: its kind (the auth flow that serves it), its settings and values."""

    key: str
    label: str
    description: str
    grant: Literal["authorization_code", "client_credentials"] | None
    token_endpoint_auth_method: Literal[
        "client_secret_post", "client_secret_basic", "private_key_jwt"
    ]
    values: tuple[InputDef, ...]
    file: Path
    # The auth flow that serves the connection, by its registered name.
    type: str = "oauth2"
    # The scope a refresh request asks for: none (RFC 6749 6), the granted one, or `scopes`.
    refresh_scope: Literal["omit", "granted", "configured"] = "omit"
    # Headers every request carries, templates over the values (a missing value drops one).
    headers: tuple[tuple[str, str], ...] = ()
    api_key: ApiKeyDef | None = None
    client_assertion: ClientAssertionDef | None = None
    managed_identity: ManagedIdentityDef | None = None

    @property
    def secret_keys(self) -> frozenset[str]:
        """Keys of the values that must never be shown."""
        return frozenset(v.key for v in self.values if v.secret)


class CheckDef(msgspec.Struct, frozen=True):
    """The cheapest authorised call that tells whether a connection works (``connectorkit check``).

    ``advice`` pairs what a failure may carry (a service error code, an OAuth error, an AADSTS
    number) with what to change, optionally only for one connection ``grant``.
    """

    action: str
    inputs: Mapping[str, Any] = msgspec.field(default_factory=dict)
    advice: tuple[AdviceDef, ...] = ()


class AdviceDef(msgspec.Struct, frozen=True):
    """What to change when a check fails with ``match`` in its error (for ``grant`` only)."""

    match: str
    say: str
    grant: str | None = None


class RefusalDef(msgspec.Struct, frozen=True):
    """A response that means the access token was refused: a status, and maybe an error code."""

    status: int
    code: str | None = None


class Quirks(msgspec.Struct, frozen=True):
    """How a service departs from plain HTTP, as its pack declares (``quirks`` in connector.yaml).

    The defaults are what the standards say: 401 refuses a token, 429 throttles, an error body
    is OAuth 2.0's ``{"error", "error_description"}``.
    """

    token_refused: tuple[RefusalDef, ...] = (RefusalDef(401),)
    error_code: tuple[str, ...] = ("error",)
    error_message: tuple[str, ...] = ("error_description",)
    throttled: frozenset[int] = frozenset({429})


class ErrorHint(msgspec.Struct, frozen=True):
    """A sentence added to errors whose message or code contains ``match`` (``error_hints``)."""

    match: str
    hint: str


class Pack(msgspec.Struct, frozen=True):
    """A loaded, checked action pack."""

    key: str
    label: str
    description: str
    version: str | None
    root: Path
    default_connection: str
    connections: Mapping[str, ConnectionDef]
    actions: Mapping[str, ActionDef]
    check: CheckDef | None = None
    quirks: Quirks = msgspec.field(default_factory=Quirks)
    # ``value_sets``: a connection value's choice → the defaults it gives other values.
    value_sets: Mapping[str, Mapping[str, Mapping[str, Any]]] = msgspec.field(default_factory=dict)
    error_hints: tuple[ErrorHint, ...] = ()
    budgets: tuple[BudgetDef, ...] = ()
    # What starts a flow: each built from its file when first asked for.
    triggers: Mapping[str, TriggerDef] = msgspec.field(default_factory=dict)
    # Other services of the provider that actions may address (``services``), by name.
    services: Mapping[str, ServiceDef] = msgspec.field(default_factory=dict)

    def secret_keys(self, connection: str | None) -> frozenset[str] | None:
        """The keys of ``connection``'s values that are never shown, as its definition marks them.

        ``None`` names the pack's default connection. None comes back when the pack has no
        such connection: then no value of it is shown in clear.
        """
        definition = self.connections.get(connection or self.default_connection)
        return definition.secret_keys if definition is not None else None
