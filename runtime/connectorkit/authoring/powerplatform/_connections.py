"""A custom connector's connections: its swagger's security and its ``apiProperties.json``.

``securityDefinitions`` says what a request carries (an API key in a header or the query, HTTP
Basic, an OAuth 2.0 token); ``connectionParameters`` (or one ``connectionParameterSets`` value
per way to connect) says what a user gives: the key, the sign-in's identity provider with its
URLs and scopes, and other values (a host name, a region) that the connector's policies put in
the URL or in headers. Each way to connect becomes a connection of the kind that serves it;
what no kind expresses is noted.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectorkit.authoring.openapi._security import (
    Scheme,
    base_url_of,
    connection_data,
    key_of,
    schemes_of,
    value,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Connections", "Support", "connections_for", "support"]

# A policy's reference to a connection parameter: @connectionParameters('name'[, 'default']).
_PARAMETER = re.compile(
    r"@connectionParameters\(\s*'([^']+)'(?:\s*,\s*'([^']*)')?\s*\)", re.IGNORECASE
)
# Values a template ships in place of a real one ("[[Please add the clientId here]]").
_PLACEHOLDER = re.compile(r"\[\[|\{\{|<<|please|dummy|enter |add your", re.IGNORECASE)
_HOST_POLICIES = {"dynamichosturl", "dynamicsubdomain"}
_ENTRA = "https://login.microsoftonline.com"


@dataclass(frozen=True, slots=True)
class Support:
    """What the connection format of this runtime can say (kinds land one by one)."""

    kinds: frozenset[str]
    private_key_jwt: bool
    headers: bool


@functools.cache
def support() -> Support:
    """What this runtime's connection schema accepts, read from the schema itself."""
    from connectorkit.auth._kinds import auth_flow_types  # noqa: PLC0415
    from connectorkit.pack._files import schema_dir  # noqa: PLC0415

    schema = json.loads((schema_dir() / "connection.schema.json").read_text(encoding="utf-8"))
    properties = schema.get("properties") or {}
    methods = (properties.get("token_endpoint_auth_method") or {}).get("enum") or []
    kinds = set(auth_flow_types())
    if "api_key" not in properties:  # its settings block is what says where the key goes
        kinds.discard("api_key")
    return Support(
        kinds=frozenset(kinds),
        private_key_jwt="private_key_jwt" in methods,
        headers="headers" in properties,
    )


@dataclass(slots=True)
class Connections:
    """The connection files of a connector, its default one, and notes on what was left out."""

    items: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    base_url: str | None = None
    # The policies (by their place in apiProperties.json) that became pack data.
    used_policies: set[int] = field(default_factory=set)

    @property
    def default(self) -> str:
        """The connection a request without one uses: the first."""
        return str(self.items[0]["key"]) if self.items else "none"


def _real(text: Any) -> str | None:
    """A value given in earnest (not a template's placeholder), else None."""
    if not isinstance(text, str) or not text.strip() or _PLACEHOLDER.search(text):
        return None
    return text.strip()


def _custom(settings: Mapping[str, Any], name: str) -> str | None:
    custom = settings.get("customParameters") or {}
    entry = custom.get(name) if isinstance(custom, dict) else None
    return _real(entry.get("value")) if isinstance(entry, dict) else None


def connections_for(
    swagger: Mapping[str, Any], properties: Mapping[str, Any] | None, *, found: Support
) -> Connections:
    """Every way to connect that the connector declares, as connection files."""
    out = Connections()
    base, notes = base_url_of(swagger, 2)
    out.notes += notes
    props = (properties or {}).get("properties") or {}
    policies: list[Mapping[str, Any]] = [
        p for p in props.get("policyTemplateInstances") or [] if isinstance(p, dict)
    ]
    base = _host_policy(
        policies, base, str(swagger.get("basePath") or ""), out.notes, out.used_policies
    )
    out.base_url = base
    schemes = schemes_of(swagger, 2)
    sets = props.get("connectionParameterSets")
    ways: list[tuple[str | None, str | None, Mapping[str, Any]]] = []
    if isinstance(sets, dict) and isinstance(sets.get("values"), list):
        for entry in sets["values"]:
            if isinstance(entry, dict):
                ui = entry.get("uiDefinition") or {}
                ways.append(
                    (
                        str(entry.get("name") or "") or None,
                        ui.get("displayName"),
                        entry.get("parameters") or {},
                    )
                )
    else:
        ways.append((None, None, props.get("connectionParameters") or {}))
    for name, label, parameters in ways:
        way = _Way(schemes, parameters, base, policies, found, out.notes)
        made = way.connection()
        out.used_policies |= way.used_policies
        if name:
            made["key"] = key_of(name)
        if label:
            made["label"] = str(label)
        if all(made["key"] != item["key"] for item in out.items):
            out.items.append(made)
    return out


def _host_policy(
    policies: list[Mapping[str, Any]],
    base: str | None,
    base_path: str,
    notes: list[str],
    used: set[int],
) -> str | None:
    """A policy that sets the host from connection values: the base URL's template.

    The policy replaces the host; the document's base path follows it unless the template
    already ends with it.
    """
    path = "/" + base_path.strip("/") if base_path.strip("/") else ""
    for index, policy in enumerate(policies):
        template_id = str(policy.get("templateId") or "").lower()
        parameters = policy.get("parameters") or {}
        if template_id not in _HOST_POLICIES or parameters.get("x-ms-apimTemplate-operationName"):
            continue
        url = str(parameters.get("x-ms-apimTemplateParameter.urlTemplate") or "")
        rendered = _PARAMETER.sub(lambda m: "{" + _value_key(m.group(1)) + "}", url).rstrip("/")
        if not rendered or "@" in rendered:
            notes.append(f"policy '{template_id}': the host template {url!r} is not imported")
            continue
        if not rendered.startswith("{") and "://" not in rendered:
            rendered = f"https://{rendered}"
        used.add(index)
        return rendered if rendered.endswith(path) else rendered + path
    return base


def _value_key(name: str) -> str:
    """A connection parameter's value key: ``token:TenantId`` → ``tenant_id``."""
    return key_of(name.rsplit(":", 1)[-1])


class _Way:
    """One way to connect: the parameters a user gives, the scheme they serve."""

    def __init__(  # noqa: PLR0917 - one way to connect and what it stands in
        self,
        schemes: list[Scheme],
        parameters: Mapping[str, Any],
        base: str | None,
        policies: list[Mapping[str, Any]],
        found: Support,
        notes: list[str],
    ) -> None:
        self.schemes = schemes
        self.parameters = {str(k): v for k, v in parameters.items() if isinstance(v, dict)}
        self.base = base
        self.policies = policies
        self.found = found
        self.notes = notes
        self.used: set[str] = set()
        # Text a policy puts before the key it sends ("Bearer "), kept as the key's prefix.
        self.policy_prefix = ""
        self.used_policies: set[int] = set()

    def connection(self) -> dict[str, Any]:
        oauth = next(
            (k for k, v in self.parameters.items() if str(v.get("type")).lower() == "oauthsetting"),
            None,
        )
        if oauth is not None:
            return self.oauth(oauth)
        scheme = next((s for s in self.schemes if s.kind in ("api_key", "basic")), None)
        if scheme is None:
            scheme = self.key_from_policy() or next(iter(self.schemes))
        if scheme.kind == "oauth2":  # the swagger says OAuth, apiProperties gives no settings
            return self.finish(scheme, connection_data(scheme, self.base))
        if scheme.kind == "api_key":
            self.used |= self._named("api_key", secret=True, alone=True)
        if scheme.kind == "basic":
            self.used |= {k for k in self.parameters if k.lower() in ("username", "password")}
        return self.finish(scheme, connection_data(scheme, self.base))

    def _named(self, name: str, *, secret: bool, alone: bool) -> set[str]:
        """The parameter called ``name`` (or, with ``alone``, the only secret one)."""
        if name in self.parameters:
            return {name}
        secrets = [k for k, v in self.parameters.items() if v.get("type") == "securestring"]
        return set(secrets[:1]) if alone and secret and len(secrets) == 1 else set()

    def key_from_policy(self) -> Scheme | None:
        """An API key a ``setheader``/``setqueryparameter`` policy sends from a secret value."""
        for index, policy in enumerate(self.policies):
            template_id = str(policy.get("templateId") or "").lower()
            if template_id not in ("setheader", "setqueryparameter"):
                continue
            parameters = policy.get("parameters") or {}
            text = str(parameters.get("x-ms-apimTemplateParameter.value") or "")
            match = _PARAMETER.search(text)
            target = self.parameters.get(match.group(1)) if match else None
            if match is None or target is None or target.get("type") != "securestring":
                continue
            location = "header" if template_id == "setheader" else "query"
            name = str(parameters.get("x-ms-apimTemplateParameter.name") or "")
            scheme = Scheme("api_key", "api_key", "", location, name)
            self.used.add(match.group(1))
            self.used_policies.add(index)
            self.policy_prefix = text[: match.start()]
            return scheme
        return None

    def headers(self) -> dict[str, str]:
        """Headers that ``setheader`` policies put on every request, as templates."""
        out: dict[str, str] = {}
        for index, policy in enumerate(self.policies):
            parameters = policy.get("parameters") or {}
            if str(policy.get("templateId") or "").lower() != "setheader" or parameters.get(
                "x-ms-apimTemplate-operationName"
            ):
                continue
            if str(parameters.get("x-ms-apimTemplate-policySection") or "Request") != "Request":
                continue
            name = str(parameters.get("x-ms-apimTemplateParameter.name") or "")
            text = str(parameters.get("x-ms-apimTemplateParameter.value") or "")
            if not name or any(m.group(1) in self.used for m in _PARAMETER.finditer(text)):
                continue  # the credential's own header is the connection kind's
            rendered = _PARAMETER.sub(lambda m: "{" + _value_key(m.group(1)) + "}", text)
            if "@" not in rendered:
                out[name] = rendered
                self.used_policies.add(index)
        return out

    def finish(self, scheme: Scheme, data: dict[str, Any]) -> dict[str, Any]:
        """The remaining parameters as values, the kind checked against this runtime."""
        self.notes += scheme.notes
        headers = self.headers() if self.found.headers else {}
        if headers:
            data["headers"] = headers
        if scheme.kind == "api_key" and self.policy_prefix:
            data["api_key"]["prefix"] = self.policy_prefix
        extra = self.values()
        keys = {v["key"] for v in data["values"]}
        at = len(data["values"]) - 1  # before base_url
        data["values"][at:at] = [v for v in extra if v["key"] not in keys]
        if data["type"] not in self.found.kinds:
            self.notes.append(
                f"a connection of kind '{data['type']}' ({data['label']}) is written, but this "
                f"runtime serves no such kind yet"
            )
        return data

    def values(self) -> list[dict[str, Any]]:
        """The parameters not already spent on the credential, as connection values."""
        out: list[dict[str, Any]] = []
        for name, spec in self.parameters.items():
            if name in self.used:
                continue
            kind = str(spec.get("type") or "").lower()
            if kind not in ("string", "securestring"):
                self.notes.append(f"connection parameter '{name}' of type '{kind}' is not imported")
                continue
            ui = spec.get("uiDefinition") or {}
            constraints = ui.get("constraints") or {}
            default = spec.get("defaultValue")
            made = value(
                _value_key(name),
                str(ui.get("displayName") or name),
                " ".join(str(ui.get("description") or ui.get("tooltip") or name).split()),
                required=str(constraints.get("required")).lower() == "true" and default is None,
                secret=kind == "securestring",
                default=str(default) if default is not None else None,
            )
            allowed = constraints.get("allowedValues")
            if isinstance(allowed, list) and allowed:
                made["enum"] = [
                    str(a.get("value")) if isinstance(a, dict) else str(a) for a in allowed
                ]
            out.append(made)
        return out

    def oauth(self, name: str) -> dict[str, Any]:
        """A sign-in through an identity provider (``oauthSetting``)."""
        self.used.add(name)
        settings = self.parameters[name].get("oAuthSettings") or {}
        provider = str(settings.get("identityProvider") or "oauth2")
        swagger = next((s for s in self.schemes if s.kind == "oauth2"), None)
        scheme = Scheme(name if swagger is None else swagger.name, "oauth2")
        scheme.description = " ".join(
            str((self.parameters[name].get("uiDefinition") or {}).get("description") or "").split()
        )
        extra: list[dict[str, Any]] = []
        scopes = [
            self.templated(str(s), extra) for s in settings.get("scopes") or [] if _real(str(s))
        ]
        data: dict[str, Any]
        if provider in ("aad", "aadcertificate"):
            data = self.entra(
                scheme, settings, scopes, extra, certificate=provider == "aadcertificate"
            )
        elif provider == "oauth2generic":
            scheme.authorize_url = self.templated(
                _custom(settings, "authorizationUrlTemplate"), extra
            )
            scheme.token_url = self.templated(_custom(settings, "tokenUrlTemplate"), extra)
            scheme.scopes = scopes
            data = connection_data(scheme, self.base, extra)
            for body in ("tokenBodyTemplate", "refreshBodyTemplate"):
                if _custom(settings, body):
                    self.notes.append(
                        f"the identity provider's {body} is not imported: the standard OAuth 2.0 "
                        "request is sent"
                    )
        else:
            if provider != "oauth2":
                self.notes.append(
                    f"identity provider '{provider}' is a platform's own: imported as OAuth 2.0"
                )
            scheme.authorize_url = _custom(settings, "authorizationUrl") or (
                swagger.authorize_url if swagger else ""
            )
            scheme.token_url = _custom(settings, "tokenUrl") or (
                swagger.token_url if swagger else ""
            )
            scheme.scopes = scopes or (swagger.scopes if swagger else [])
            data = connection_data(scheme, self.base, extra)
        return self.finish(scheme, data)

    def templated(self, url: str | None, extra: list[dict[str, Any]]) -> str:
        """A URL template's ``{Name}`` placeholders as connection values."""
        if not url:
            return ""
        known = {_value_key(k) for k in self.parameters}
        platform = {"clientid", "clientsecret", "redirecturl", "scopes", "state", "code"}

        def name(match: re.Match[str]) -> str:
            word = match.group(1)
            key = _value_key(word)
            if word.lower() not in platform and key not in known | {e["key"] for e in extra}:
                extra.append(value(key, word, f"The {word} the sign-in URLs are built with",
                                   required=True))  # fmt: skip
            return "{" + key + "}"

        return re.sub(r"\{([A-Za-z][A-Za-z0-9_]*)\}", name, url)

    def entra(
        self,
        scheme: Scheme,
        settings: Mapping[str, Any],
        scopes: list[str],
        extra: list[dict[str, Any]],
        *,
        certificate: bool,
    ) -> dict[str, Any]:
        """Microsoft Entra ID (``aad``): the tenant's v2.0 endpoints and the resource's scope."""
        login = _custom(settings, "loginUri") or _custom(settings, "loginUriAAD") or _ENTRA
        login = login.rstrip("/")
        tenant = _custom(settings, "tenantId") or "common"
        resource = _custom(settings, "resourceUri") or _real(
            (settings.get("properties") or {}).get("AzureActiveDirectoryResourceId")
        )
        extra.append(
            value(
                "tenant_id", "Tenant ID", "The directory (tenant) users sign in to", default=tenant
            )
        )
        scheme.authorize_url = f"{login}/{{tenant_id}}/oauth2/v2.0/authorize"
        scheme.token_url = f"{login}/{{tenant_id}}/oauth2/v2.0/token"
        if scopes:
            scheme.scopes = scopes
        elif resource is not None and "://" in resource:
            scheme.scopes = [f"{resource.rstrip('/')}/.default", "offline_access"]
        else:
            self.notes.append(
                "the Entra ID resource is not given: the connection's scopes must be set"
            )
        self.used |= {k for k in self.parameters if k.lower().endswith(":tenantid")}
        data = connection_data(scheme, self.base, extra)
        data["refresh_scope"] = "configured"  # Entra ID wants the scope on a refresh too
        if certificate:
            if self.found.private_key_jwt:
                data["token_endpoint_auth_method"] = "private_key_jwt"  # noqa: S105 - a method's name
                data["values"] = [v for v in data["values"] if v["key"] != "client_secret"]
                at = len(data["values"]) - 1
                data["values"][at:at] = [
                    value("certificate", "Certificate", "The app's certificate and private key "
                          "(PEM)", secret=True),
                    value("certificate_password", "Certificate Password",
                          "The password of an encrypted private key", secret=True),
                ]  # fmt: skip
            else:
                self.notes.append(
                    "a certificate sign-in (aadcertificate) needs private_key_jwt, which this "
                    "runtime lacks: imported with a client secret"
                )
        return data
