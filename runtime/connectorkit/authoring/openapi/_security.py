"""Where a document says its API lives and how a caller signs in: base URL and connections.

OpenAPI 2 names the host, base path and schemes, and ``securityDefinitions``; OpenAPI 3 names
``servers`` (with variables) and ``components.securitySchemes``. Each scheme becomes a
connection of the kind that serves it (``api_key`` in a header or the query, ``basic``,
``bearer``, ``oauth2`` with its URLs and scopes, ``none`` when the document asks for nothing);
what no kind expresses is noted, never dropped in silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Scheme", "base_url_of", "connection_data", "key_of", "schemes_of", "value"]

_GRANTS = {  # OpenAPI's flow names (2 and 3) → the grant a connection declares
    "accessCode": "authorization_code",
    "authorizationCode": "authorization_code",
    "application": "client_credentials",
    "clientCredentials": "client_credentials",
}


@dataclass(slots=True)
class Scheme:
    """One security scheme of a document, as the connection it becomes needs it."""

    name: str
    kind: str  # api_key, basic, bearer, oauth2, none
    description: str = ""
    location: str = "header"  # api_key: header or query
    parameter: str = ""  # api_key: the header's or the query parameter's name
    grant: str = "authorization_code"
    authorize_url: str = ""
    token_url: str = ""
    refresh_url: str = ""
    scopes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def base_url_of(raw: Mapping[str, Any], version: int) -> tuple[str | None, list[str]]:
    """The API's root URL as the document gives it, and what was assumed to make it."""
    notes: list[str] = []
    if version == 2:  # noqa: PLR2004 - OpenAPI's major version
        host = str(raw.get("host") or "").strip().strip("/")
        if not host:
            return None, ["the document names no host: give the connection's base_url"]
        schemes = [str(s).lower() for s in raw.get("schemes") or []]
        scheme = "https" if "https" in schemes or not schemes else schemes[0]
        if not schemes:
            notes.append("the document names no scheme: https assumed")
        base = str(raw.get("basePath") or "").strip()
        base = "" if base == "/" else "/" + base.strip("/") if base else ""
        return f"{scheme}://{host}{base}", notes
    servers = [s for s in raw.get("servers") or [] if isinstance(s, dict) and s.get("url")]
    if not servers:
        return None, ["the document names no server: give the connection's base_url"]
    server = servers[0]
    url = str(server["url"])
    for name, spec in (server.get("variables") or {}).items():
        default = spec.get("default") if isinstance(spec, dict) else None
        url = url.replace("{" + str(name) + "}", str(default if default is not None else ""))
    if len(servers) > 1:
        notes.append(f"{len(servers)} servers: the first ({url}) is the default base_url")
    if "://" not in url:
        return None, [f"the server URL {url!r} is relative: give the connection's base_url"]
    return url.rstrip("/"), notes


def schemes_of(raw: Mapping[str, Any], version: int) -> list[Scheme]:
    """The document's security schemes, in its order (none: one scheme of kind ``none``)."""
    if version == 2:  # noqa: PLR2004 - OpenAPI's major version
        found = raw.get("securityDefinitions") or {}
    else:
        found = (raw.get("components") or {}).get("securitySchemes") or {}
    schemes = [
        _scheme(str(name), spec, version) for name, spec in found.items() if isinstance(spec, dict)
    ]
    return schemes or [Scheme("none", "none", "The service needs no credentials.")]


def _scheme(name: str, spec: Mapping[str, Any], version: int) -> Scheme:
    kind = str(spec.get("type") or "")
    description = " ".join(str(spec.get("description") or "").split())
    if kind == "apiKey":
        location = str(spec.get("in") or "header")
        scheme = Scheme(name, "api_key", description, location, str(spec.get("name") or name))
        if location not in ("header", "query"):
            scheme.notes.append(f"an API key in a {location} is not supported; sent as a header")
            scheme.location = "header"
        return scheme
    if kind == "basic" or (kind == "http" and str(spec.get("scheme")).lower() == "basic"):
        return Scheme(name, "basic", description)
    if kind == "http" and str(spec.get("scheme")).lower() == "bearer":
        return Scheme(name, "bearer", description)
    if kind == "oauth2":
        return _oauth(name, spec, description, version)
    scheme = Scheme(name, "none", description)
    scheme.notes.append(f"security scheme '{name}' of type '{kind}' is not supported")
    return scheme


def _oauth(name: str, spec: Mapping[str, Any], description: str, version: int) -> Scheme:
    scheme = Scheme(name, "oauth2", description)
    if version == 2:  # noqa: PLR2004 - OpenAPI's major version
        flows = {str(spec.get("flow") or "accessCode"): spec}
    else:
        flows = {str(k): v for k, v in (spec.get("flows") or {}).items() if isinstance(v, dict)}
    # A user's sign-in first (a designer's connection), else what the document offers.
    users = [f for f in flows if f in ("accessCode", "authorizationCode")]
    known = users or [f for f in flows if f in _GRANTS]
    chosen = known[0] if known else None
    if chosen is None:
        others = ", ".join(flows) or "none"
        scheme.notes.append(f"OAuth 2.0 flows {others} are not supported; authorization code used")
        flow: Mapping[str, Any] = next(iter(flows.values()), {})
    else:
        flow = flows[chosen]
        scheme.grant = _GRANTS[chosen]
    scheme.authorize_url = str(flow.get("authorizationUrl") or "")
    scheme.token_url = str(flow.get("tokenUrl") or "")
    scheme.refresh_url = str(flow.get("refreshUrl") or "")
    scopes = flow.get("scopes") or {}
    scheme.scopes = [str(s) for s in (scopes if isinstance(scopes, (dict, list)) else [])]
    return scheme


def key_of(name: str) -> str:
    """A connection or value key (``snake_case``) from a name of the document."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+", name)
    key = "_".join(w.lower() for w in words) or "connection"
    return key if key[:1].isalpha() else f"c_{key}"


def value(
    key: str,
    label: str,
    comments: str,
    *,
    required: bool = False,
    secret: bool = False,
    default: str | None = None,
) -> dict[str, Any]:
    """One connection value, as a connection file holds it."""
    out: dict[str, Any] = {"key": key, "label": label, "type": "string"}
    if required:
        out["required"] = True
    if default:
        out["default"] = default
    out["comments"] = comments if comments.endswith(".") else comments + "."
    if secret:
        out["secret"] = True
    return out


def connection_data(
    scheme: Scheme, base_url: str | None, extra: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The connection file of ``scheme``: its kind, its settings and its values."""
    values: list[dict[str, Any]] = []
    data: dict[str, Any] = {
        "key": key_of(scheme.name),
        "label": _label(scheme),
        "description": scheme.description or _label(scheme) + ".",
        "type": scheme.kind,
    }
    if scheme.kind == "api_key":
        data["api_key"] = {"in": scheme.location, "name": scheme.parameter}
        where = "header" if scheme.location == "header" else "query parameter"
        values.append(
            value(
                "api_key",
                "API Key",
                f"The key the service issued; sent as the {where} {scheme.parameter}",
                required=True,
                secret=True,
            )
        )
    elif scheme.kind == "basic":
        values += [
            value("username", "User Name", "The account's user name", required=True),
            value("password", "Password", "The account's password", required=True, secret=True),
        ]
    elif scheme.kind == "bearer":
        values.append(
            value("token", "Token", "A token the service issued", required=True, secret=True)
        )
    elif scheme.kind == "oauth2":
        data["grant"] = scheme.grant
        values += _oauth_values(scheme)
    values += extra or []
    values.append(
        value(
            "base_url",
            "Base URL",
            "The root of the service's API; every action's path is below it",
            required=base_url is None,
            default=base_url,
        )
    )
    data["values"] = values
    return data


def _oauth_values(scheme: Scheme) -> list[dict[str, Any]]:
    out = [
        value("client_id", "Client ID", "The ID of the app registered with the service",
              required=True),
        value("client_secret", "Client Secret", "The app's secret", required=True, secret=True),
    ]  # fmt: skip
    if scheme.grant == "authorization_code":
        out.append(
            value(
                "authorize_url",
                "Authorize URL",
                "Where a user signs in and consents",
                required=not scheme.authorize_url,
                default=scheme.authorize_url or None,
            )
        )
    out.append(
        value(
            "token_url",
            "Token URL",
            "Where the app exchanges a code or its credentials for a token",
            required=not scheme.token_url,
            default=scheme.token_url or None,
        )
    )
    out.append(
        value(
            "scopes",
            "Scopes",
            "The permissions asked for, separated by spaces",
            default=" ".join(scheme.scopes) or None,
        )
    )
    return out


def _label(scheme: Scheme) -> str:
    return {
        "api_key": "API key",
        "basic": "User name and password",
        "bearer": "Access token",
        "oauth2": "OAuth 2.0 (a user signs in)"
        if scheme.grant == "authorization_code"
        else "OAuth 2.0 (the app's own credentials)",
        "none": "No sign-in",
    }.get(scheme.kind, scheme.name)
