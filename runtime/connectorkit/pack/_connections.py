"""A connection's YAML, as typed definitions: its kind and the settings that kind reads.

The schema (``connection.schema.json``) has checked the shape; this only builds the
immutable definitions, with the defaults each kind documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from connectorkit.pack._definitions import (
    ApiKeyDef,
    AssertionSourceDef,
    ClientAssertionDef,
    ConnectionDef,
    ManagedIdentityDef,
    MetadataEndpointDef,
)

if TYPE_CHECKING:
    from pathlib import Path

    from connectorkit.types._input import InputDef

__all__ = ["connection_from"]

SourceKind = Literal["value", "file", "env", "file_env", "request"]
_SOURCE_KINDS: tuple[SourceKind, ...] = ("value", "file", "env", "file_env", "request")


def connection_from(
    data: dict[str, Any], path: Path, values: tuple[InputDef, ...]
) -> ConnectionDef:
    """The definition of one ``connections/*.yaml`` document (already schema-checked)."""
    api_key = data.get("api_key")
    assertion = data.get("client_assertion")
    managed = data.get("managed_identity")
    return ConnectionDef(
        key=data["key"],
        label=data["label"],
        description=data["description"],
        type=data.get("type", "oauth2"),
        grant=data.get("grant"),
        token_endpoint_auth_method=data.get("token_endpoint_auth_method", "client_secret_post"),
        values=values,
        file=path,
        refresh_scope=data.get("refresh_scope", "omit"),
        headers=tuple((str(k), str(v)) for k, v in (data.get("headers") or {}).items()),
        api_key=_api_key(api_key) if api_key else None,
        client_assertion=_client_assertion(assertion) if assertion is not None else None,
        managed_identity=_managed_identity(managed) if managed else None,
    )


def _api_key(spec: dict[str, Any]) -> ApiKeyDef:
    return ApiKeyDef(
        location=spec.get("in", "header"),
        name=spec["name"],
        prefix=spec.get("prefix", ""),
        value=spec.get("value", "{api_key}"),
    )


def _client_assertion(spec: dict[str, Any]) -> ClientAssertionDef:
    defaults = ClientAssertionDef()
    thumbprints = spec.get("thumbprint", list(defaults.thumbprints))
    if isinstance(thumbprints, str):
        thumbprints = [thumbprints]
    return ClientAssertionDef(
        algorithm=spec.get("algorithm", defaults.algorithm),
        thumbprints=tuple(thumbprints),
        audience=spec.get("audience", defaults.audience),
        lifetime_s=spec.get("lifetime", defaults.lifetime_s),
        federated=tuple(_source(s) for s in spec.get("federated") or []),
    )


def _source(spec: dict[str, Any]) -> AssertionSourceDef:
    """One ``federated`` entry: a mapping with exactly one of the source kinds as its key."""
    kind: SourceKind = next(k for k in _SOURCE_KINDS if k in spec)
    if kind == "request":
        request = spec["request"]
        return AssertionSourceDef(
            kind="request",
            url_env=request["url_env"],
            token_env=request["token_env"],
            audience=request.get("audience", ""),
        )
    return AssertionSourceDef(kind=kind, source=spec[kind])


def _managed_identity(spec: dict[str, Any]) -> ManagedIdentityDef:
    defaults = ManagedIdentityDef(endpoints=())
    return ManagedIdentityDef(
        endpoints=tuple(
            MetadataEndpointDef(
                protocol=e["protocol"],
                url=e.get("url", ""),
                url_env=e.get("url_env", ""),
                secret_env=e.get("secret_env", ""),
            )
            for e in spec["endpoints"]
        ),
        resource=spec.get("resource", defaults.resource),
        client_id=spec.get("client_id", defaults.client_id),
    )
