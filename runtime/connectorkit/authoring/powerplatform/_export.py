"""A pack as a Power Platform custom connector (``connectorkit export power-platform``).

Writes ``apiDefinition.swagger.json`` (swagger 2.0 with Power Platform's ``x-ms-*``
extensions) and ``apiProperties.json`` (how users connect), the two files
``connectorkit import power-platform`` reads:

- the default connection's base URL (its placeholders filled from the values' defaults and the
  pack's value sets) gives ``host``, ``basePath`` and ``schemes``;
- each action whose request is one HTTP request with its inputs in the path, the query, the
  headers or a flat body becomes one operation (``operationId`` from the action's key), its
  inputs parameters with ``x-ms-summary`` (the label), ``x-ms-visibility`` (the importance)
  and ``x-ms-dynamic-values`` (the choices); an action with pages that follow a next link gets
  ``x-ms-pageable``; an action on an optional path part (``[/groups/{group_id}]``) becomes
  both operations, and the document says which part is optional (``x-connectorkit``) so that
  an import makes one action of them again;
- each connection of a kind Power Platform offers (API key, basic, OAuth 2.0 authorization
  code; Microsoft Entra ID as identity provider ``aad``, sign-in URLs with placeholders as
  ``oauth2generic``) becomes a security definition and a set of connection parameters.

What a custom connector cannot express — batch pushes, hooks, calls of several requests, a
body the inputs do not map onto property by property, connections without a user's sign-in —
is listed with a count in the report, never dropped in silence.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectorkit.authoring.powerplatform._import import DEFINITION, PROPERTIES

if TYPE_CHECKING:
    from pathlib import Path

    from connectorkit.pack._definitions import ActionDef, ConnectionDef, Pack
    from connectorkit.types._input import InputDef

__all__ = ["ExportReport", "export_power_platform"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_OPTIONAL = re.compile(r"^\[([^\]]+)\](.*)$")
_REDIRECT = "https://global.consent.azure-apim.net/redirect"
_ENTRA_HOSTS = ("login.microsoftonline.", "login.chinacloudapi.", "login.partner.microsoftonline.")
_HOST_SLASHES = 2  # https://host/permission: a scope under a resource URL
_VISIBILITY = {"important": "important", "advanced": "advanced", "internal": "internal"}


@dataclass(slots=True)
class ExportReport:
    """What an export wrote, and what it could not (counted by reason)."""

    actions: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)
    not_exported: Counter[str] = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as the command prints it."""
        made = f"  {len(self.actions)} action(s) as {len(self.operations)} operation(s)"
        out = [f"{made}, connections: {', '.join(self.connections) or 'none'}"]
        out += [
            f"  not exported: {why} ({n}): "
            + ", ".join(k for k, r in sorted(self.skipped.items()) if r == why)
            for why, n in sorted(self.not_exported.items())
        ]
        out += [f"  note: {note}" for note in dict.fromkeys(self.notes)]
        return out


def export_power_platform(pack: Pack, target: Path) -> ExportReport:
    """Write ``pack`` as a custom connector's two files into the folder ``target``."""
    report = ExportReport()
    swagger, properties = _build(pack, report)
    target.mkdir(parents=True, exist_ok=True)
    for name, document in ((DEFINITION, swagger), (PROPERTIES, properties)):
        (target / name).write_text(
            json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return report


def _build(pack: Pack, report: ExportReport) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two documents of ``pack`` (no file written)."""
    default = pack.connections[pack.default_connection]
    base = _base_url(pack, default)
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"connection '{default.key}': base_url {base!r} is not an http(s) URL once its "
            "defaults are filled in; give base_url a default"
        )
    swagger: dict[str, Any] = {
        "swagger": "2.0",
        "info": {
            "title": pack.label,
            "description": " ".join(pack.description.split()),
            "version": pack.version or "1.0",
        },
        "host": parts.netloc,
        "basePath": parts.path.rstrip("/") or "/",
        "schemes": [parts.scheme],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {},
        "definitions": {},
        "parameters": {},
        "responses": {},
    }
    prefixes: dict[str, str] = {}
    operation_ids = {key: _operation_id(key) for key in pack.actions}
    # The choices of an operation inside the optional part come from the lister's twin there.
    grouped_ids = {
        key: operation_ids[key] + "InGroup"
        for key, action in pack.actions.items()
        if _OPTIONAL.match(action.request.path)
    }
    for key in sorted(pack.actions):
        action = pack.actions[key]
        why = _unexpressible(action)
        if why is not None:
            report.not_exported[why] += 1
            report.skipped[key] = why
            continue
        report.actions.append(key)
        for path, op, prefix in _operations(action, operation_ids, grouped_ids):
            swagger["paths"].setdefault(path, {})[action.request.method.lower()] = op
            report.operations.append(op["operationId"])
            if prefix is not None:
                prefixes[prefix[0]] = prefix[1]
    if prefixes:
        swagger["x-connectorkit"] = {
            "optional_prefixes": [{"path": p, "input": i} for p, i in sorted(prefixes.items())]
        }
    security, parameter_sets = _connections(pack, report)
    if security:
        swagger["securityDefinitions"] = security
        swagger["security"] = [{name: []} for name in security][:1]
    props: dict[str, Any] = {"iconBrandColor": "#007ee5", "capabilities": []}
    if len(parameter_sets) == 1:
        props["connectionParameters"] = parameter_sets[0][2]
    elif parameter_sets:
        props["connectionParameterSets"] = {
            "uiDefinition": {"displayName": "Authentication type", "description": "How to connect"},
            "values": [
                {
                    "name": name,
                    "uiDefinition": {"displayName": label, "description": label},
                    "parameters": params,
                }
                for name, label, params in parameter_sets
            ],
        }
    else:
        props["connectionParameters"] = {}
    props["publisher"] = pack.label
    props["stackOwner"] = pack.label
    return swagger, {"properties": props}


def _defaults(pack: Pack, connection: ConnectionDef) -> dict[str, Any]:
    """The connection's default values, with what the chosen value sets bring added."""
    defaults: dict[str, Any] = {v.key: v.default for v in connection.values if v.has_default}
    for selector, options in pack.value_sets.items():
        chosen = defaults.get(selector)
        if chosen is not None and str(chosen) in options:
            for name, value in options[str(chosen)].items():
                defaults.setdefault(name, value)
    return defaults


def _base_url(pack: Pack, connection: ConnectionDef) -> str:
    """The connection's ``base_url`` with its placeholders filled from defaults and value sets."""
    defaults = _defaults(pack, connection)
    return _fill(str(defaults.get("base_url") or ""), defaults)


def _fill(template: str, values: dict[str, Any]) -> str:
    """``template`` with each ``{name}`` that ``values`` knows filled in (repeatedly)."""
    for _ in range(5):
        filled = _PLACEHOLDER.sub(
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
        )
        if filled == template:
            break
        template = filled
    return template


def _operation_id(key: str) -> str:
    """``list_groups`` → ``ListGroups``: the importer names the action back from it."""
    return "".join(word[:1].upper() + word[1:] for word in key.split("_"))


def _unexpressible(action: ActionDef) -> str | None:  # noqa: C901, PLR0911 - one answer per reason
    """Why a custom connector's operation cannot stand for ``action`` (None: it can)."""
    request = action.request
    steps = action.multistep
    if steps is not None and (
        steps.pages is None
        or any((steps.long_running, steps.upload, steps.chunks, steps.stage, steps.multipart))
        or steps.content is not None
        or steps.file_result
    ):
        return "several requests (long-running, uploads, files)"
    if request.batch is not None:
        return "batch pushes"
    if request.hook is not None:
        return "a hook (code) builds the request"
    if request.each is not None:
        return "one request per item (each)"
    if action.service is not None:
        return "another service's base URL"
    keys = {i.key for i in action.inputs}
    for where, values in (("query", request.query), ("headers", request.headers)):
        for value in values.values():
            if not _fits(value, keys):
                return f"{where} values that are not one input each"
    if request.has_body and not _fits_body(request.body, keys):
        return "a body the inputs do not map onto property by property"
    path = _OPTIONAL.sub(r"\1\2", request.path)
    if "[" in path or any(name not in keys for name in _PLACEHOLDER.findall(path)):
        return "a path with parts that are not inputs"
    return None


def _fits(value: Any, keys: set[str]) -> bool:
    match = _WHOLE.match(value) if isinstance(value, str) else None
    return match is not None and match.group(1) in keys


def _fits_body(body: Any, keys: set[str]) -> bool:
    if isinstance(body, dict):
        return all(_fits(v, keys) for v in body.values())
    return _fits(body, keys)


def _operations(
    action: ActionDef, ids: dict[str, str], grouped_ids: dict[str, str]
) -> list[tuple[str, dict[str, Any], tuple[str, str] | None]]:
    """The operations of ``action``: one, or two for an optional path part."""
    request = action.request
    optional = _OPTIONAL.match(request.path)
    if optional is None:
        return [(request.path, _operation(action, request.path, ids[action.key], ids), None)]
    prefix, rest = optional.group(1), optional.group(2)
    names = _PLACEHOLDER.findall(prefix)
    scope = names[0] if names else ""
    plain = _operation(action, rest, ids[action.key], ids, leave_out=scope)
    grouped = _operation(action, prefix + rest, grouped_ids[action.key], {**ids, **grouped_ids})
    return [(rest, plain, None), (prefix + rest, grouped, (prefix, scope))]


def _operation(
    action: ActionDef, path: str, operation_id: str, ids: dict[str, str], leave_out: str = ""
) -> dict[str, Any]:
    request = action.request
    by_key = {i.key: i for i in action.inputs if not i.call_input}
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": action.label,
        "description": " ".join(action.description.split()),
    }
    if action.group:
        op["tags"] = [action.group]
    if action.importance in _VISIBILITY:
        op["x-ms-visibility"] = _VISIBILITY[action.importance]
    params: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # input key -> the parameter's name (for dynamic values)
    params += [
        _parameter(by_key[key], key, "path", ids, names, required=True)
        for key in _PLACEHOLDER.findall(path)
    ]
    for where, values in (("query", request.query), ("header", request.headers)):
        for name, value in values.items():
            key = _WHOLE.match(str(value)).group(1)  # type: ignore[union-attr] # checked
            if key == leave_out or key not in by_key:
                continue
            params.append(_parameter(by_key[key], name, where, ids, names))
    if request.has_body:
        params.append(_body(request.body, by_key, ids, names))
    for param in params:
        _link(param, names)
    if params:
        op["parameters"] = params
    op["responses"] = {"200": _response(action)}
    pages = action.multistep.pages if action.multistep is not None else None
    if pages is not None and pages.next_url:
        op["x-ms-pageable"] = {"nextLinkName": pages.next_url}
    return op


def _parameter(
    spec: InputDef,
    name: str,
    where: str,
    ids: dict[str, str],
    names: dict[str, str],
    *,
    required: bool = False,
) -> dict[str, Any]:
    names[spec.key] = name
    param: dict[str, Any] = {"name": name, "in": where, "required": required or spec.required}
    schema = _schema(spec, ids)
    if schema.get("type") in (None, "object"):
        schema["type"] = "string"  # a path, query or header value is text
        schema.pop("properties", None)
    param.update(schema)
    if param.get("type") == "array":
        param.setdefault("items", {"type": "string"})
        param.setdefault("collectionFormat", "csv")
    param["description"] = param.pop("description", "") or spec.label
    return param


def _body(
    body: Any, by_key: dict[str, InputDef], ids: dict[str, str], names: dict[str, str]
) -> dict[str, Any]:
    whole = _WHOLE.match(body) if isinstance(body, str) else None
    if whole is not None:
        spec = by_key[whole.group(1)]
        names[spec.key] = spec.key
        whole_schema = _schema(spec, ids)
        return {
            "name": "body",
            "in": "body",
            "required": spec.required,
            "description": whole_schema.pop("description", spec.label),
            "schema": whole_schema,
        }
    properties: dict[str, Any] = {}
    required: list[str] = []
    for prop, template in body.items():
        spec = by_key[_WHOLE.match(template).group(1)]  # type: ignore[union-attr] # checked
        names[spec.key] = f"body/{prop}"
        properties[prop] = _schema(spec, ids)
        if spec.required:
            required.append(prop)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"name": "body", "in": "body", "required": bool(required), "schema": schema}


def _schema(spec: InputDef, ids: dict[str, str]) -> dict[str, Any]:  # noqa: C901 - per keyword
    """An input as a swagger schema with the designer's extensions."""
    schema: dict[str, Any] = {}
    if spec.type in ("string", "integer", "number", "boolean", "array", "object"):
        schema["type"] = spec.type
    elif spec.type == "file":
        schema.update(type="string", format="byte")
    elif spec.type == "key_value":
        schema.update(type="object", additionalProperties={"type": "string"})
    for name, keyword in (
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("min_length", "minLength" if spec.type != "array" else "minItems"),
        ("max_length", "maxLength" if spec.type != "array" else "maxItems"),
        ("pattern", "pattern"),
        ("format", "format"),
        ("default", "default"),
    ):
        value = getattr(spec, name)
        if value is not None:
            schema[keyword] = value
    if spec.enum is not None:
        schema["enum"] = list(spec.enum)
    if spec.type == "array":
        schema["items"] = _plain(spec.items) if spec.items else {}
    schema["description"] = " ".join(spec.comments.split())
    schema["x-ms-summary"] = spec.label
    if spec.secret:
        schema["format"] = "password"
    if spec.importance in _VISIBILITY:
        schema["x-ms-visibility"] = _VISIBILITY[spec.importance]
    if spec.choices is not None and str(spec.choices.get("action")) in ids:
        schema["x-ms-dynamic-values"] = _dynamic_values(spec.choices, ids)
    return schema


def _dynamic_values(choices: Mapping[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """An input's ``choices`` as ``x-ms-dynamic-values`` (its parameters linked later)."""
    values: dict[str, Any] = {
        "operationId": ids[str(choices["action"])],
        "value-path": str(choices.get("value") or "id"),
    }
    if choices.get("items"):
        values["value-collection"] = str(choices["items"]).replace(".", "/")
    if choices.get("label"):
        values["value-title"] = str(choices["label"])
    if choices.get("inputs"):
        values["parameters"] = dict(_plain(choices["inputs"]))
    return values


def _link(param: dict[str, Any], names: dict[str, str]) -> None:
    """A dynamic value's parameters: ``{group_id}`` → a reference to that parameter."""
    schema = param.get("schema") or {}
    for holder in (param, schema, *(schema.get("properties") or {}).values()):
        values = holder.get("x-ms-dynamic-values") if isinstance(holder, dict) else None
        if not isinstance(values, dict) or "parameters" not in values:
            continue
        linked: dict[str, Any] = {}
        for name, template in values["parameters"].items():
            whole = _WHOLE.match(template) if isinstance(template, str) else None
            if whole is None:
                linked[name] = {"value": template}
            elif whole.group(1) in names:
                linked[name] = {"parameter": names[whole.group(1)]}
        values["parameters"] = linked


def _response(action: ActionDef) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": "OK"}
    if isinstance(action.returns, dict):
        answer["schema"] = _plain(action.returns)
    return answer


def _plain(value: Any) -> Any:
    """Read-only mappings and tuples as JSON's dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _connections(
    pack: Pack, report: ExportReport
) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    """Security definitions and connection parameter sets, the default connection first."""
    others = sorted(k for k in pack.connections if k != pack.default_connection)
    order = [pack.default_connection, *others]
    security: dict[str, Any] = {}
    sets: list[tuple[str, str, dict[str, Any]]] = []
    for key in order:
        connection = pack.connections[key]
        made = _connection(pack, connection)
        if made is None:
            why = f"connection kind {connection.type}" + (
                f" ({connection.grant})" if connection.grant else ""
            )
            report.not_exported[why] += 1
            report.skipped[f"connections/{key}"] = why
            continue
        definition, params = made
        security.setdefault(key, definition)
        sets.append((key, connection.label, params))
        report.connections.append(key)
    return security, sets


def _ui(label: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "displayName": label,
        "description": " ".join(description.split()) or label,
        "tooltip": label,
        "constraints": {"required": "true" if required else "false"},
    }


def _connection(
    pack: Pack, connection: ConnectionDef
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    values = {v.key: v for v in connection.values}
    if connection.type == "api_key" and connection.api_key is not None:
        key = connection.api_key
        where = "query" if key.location == "query" else "header"
        name = next(iter(_PLACEHOLDER.findall(key.value)), "api_key")
        spec = values.get(name)
        label = spec.label if spec else "API Key"
        return (
            {"type": "apiKey", "in": where, "name": key.name},
            {
                name: {
                    "type": "securestring",
                    "uiDefinition": _ui(label, spec.comments if spec else label),
                }
            },
        )
    if connection.type == "basic":
        user, password = values.get("username"), values.get("password")
        return (
            {"type": "basic"},
            {"username": _secure(user, "User Name"), "password": _secure(password, "Password")},
        )
    if connection.type == "oauth2" and connection.grant == "authorization_code":
        return _oauth(pack, connection)
    return None


def _secure(spec: InputDef | None, label: str) -> dict[str, Any]:
    return {
        "type": "securestring",
        "uiDefinition": _ui(spec.label if spec else label, spec.comments if spec else ""),
    }


def _oauth(pack: Pack, connection: ConnectionDef) -> tuple[dict[str, Any], dict[str, Any]]:
    defaults = _defaults(pack, connection)
    tenant = defaults.pop("tenant_id", None)
    authorize = _fill(str(defaults.get("authorize_url") or ""), defaults)
    token = _fill(str(defaults.get("token_url") or ""), defaults)
    scopes = _fill(str(defaults.get("scopes") or ""), defaults).split()
    definition: dict[str, Any] = {
        "type": "oauth2",
        "flow": "accessCode",
        "authorizationUrl": _fill(authorize, {"tenant_id": tenant or "common"}),
        "tokenUrl": _fill(token, {"tenant_id": tenant or "common"}),
        "scopes": {},
    }
    settings: dict[str, Any] = {
        "clientId": "",
        "scopes": scopes,
        "redirectMode": "Global",
        "redirectUrl": _REDIRECT,
        "properties": {"IsFirstParty": "False"},
    }
    entra = re.match(r"^(https://[^/]+)/\{tenant_id\}/oauth2/v2\.0/authorize$", authorize)
    if entra is not None and entra.group(1).startswith(tuple("https://" + h for h in _ENTRA_HOSTS)):
        resource = next(
            (s.rsplit("/", 1)[0] for s in scopes if "://" in s and s.count("/") > _HOST_SLASHES), ""
        )
        settings["identityProvider"] = "aad"
        settings["customParameters"] = {
            "loginUri": {"value": entra.group(1)},
            "tenantId": {"value": tenant or "common"},
            "resourceUri": {"value": resource},
        }
        settings["properties"]["AzureActiveDirectoryResourceId"] = resource
    elif _PLACEHOLDER.search(authorize + token):
        settings["identityProvider"] = "oauth2generic"
        settings["customParameters"] = {
            "authorizationUrlTemplate": {"value": _template(authorize)},
            "tokenUrlTemplate": {"value": _template(token)},
            "refreshUrlTemplate": {"value": _template(token)},
        }
    else:
        settings["identityProvider"] = "oauth2"
        settings["customParameters"] = {
            "authorizationUrl": {"value": authorize},
            "tokenUrl": {"value": token},
            "refreshUrl": {"value": token},
        }
    return definition, {"token": {"type": "oauthSetting", "oAuthSettings": settings}}


def _template(url: str) -> str:
    """A pack's ``{tenant_id}`` as Power Platform's ``{TenantId}`` placeholder."""
    return _PLACEHOLDER.sub(
        lambda m: "{" + "".join(w[:1].upper() + w[1:] for w in m.group(1).split("_")) + "}", url
    )
