"""Hooks: requests built in Python where YAML would be contorted, registered by name.

An action names its hook with ``request: {hook: NAME}``. A hook declares the inputs it reads
(with their types) and what it returns; the pack checker refuses an action that declares an
input the hook does not read (or of another type), or carries request or result blocks the hook
would ignore.
The one built-in hook is ``raw_request``: any method and path under ``base_url``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from connectorkit.core._errors import InvalidInput
from connectorkit.core._json import NOT_JSON, loads_service
from connectorkit.core._request import Openable, RequestSpec, url_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

__all__ = [
    "Hook",
    "build_raw_request",
    "checked_headers",
    "hook_named",
    "hook_names",
    "pairs",
    "register_hook",
    "shape_raw_response",
]


@dataclass(frozen=True, slots=True)
class Hook:
    """A named request builder and result shaper.

    ``reads``: each input the hook reads, with its input type. ``returns``: what its result is,
    in words (for docs). ``build(inputs, base_url)`` makes the request; ``shape(response,
    inputs)`` makes the result. The action's ``request`` holds nothing but ``hook``, and it
    declares no ``result``: the hook decides both.
    """

    name: str
    reads: Mapping[str, str]
    returns: str
    build: Callable[[Mapping[str, Any], str], RequestSpec]
    shape: Callable[[httpx.Response, Mapping[str, Any]], Any]


_registry: dict[str, Hook] = {}
_registry_lock = threading.Lock()


def register_hook(hook: Hook) -> None:
    """Make ``hook`` available to actions as ``request: {hook: <hook.name>}``."""
    with _registry_lock:
        if hook.name in _registry and _registry[hook.name] is not hook:
            raise ValueError(f"a hook named '{hook.name}' is already registered")
        _registry[hook.name] = hook


def hook_named(name: str) -> Hook | None:
    """The hook registered as ``name``, if any."""
    return _registry.get(name)


def hook_names() -> list[str]:
    """The names of every registered hook, sorted."""
    return sorted(_registry)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def pairs(value: Any) -> list[tuple[str, str]]:
    """A key/value input (object, or list of ``{key, value}``) as a list of text pairs."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), _text(v)) for k, v in value.items()]
    return [(str(item["key"]), _text(item.get("value"))) for item in value]


# RFC 9110 5.1 and 5.5: a field name is a token; a value is visible ASCII, spaces and tabs
# (obsolete non-ASCII octets are refused: httpx could not encode them, and no service needs them).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def checked_headers(headers: list[tuple[str, str]], field: str) -> list[tuple[str, str]]:
    """``headers`` if every name and value can travel in HTTP/1.1; else ``invalid_input``.

    A CR or LF in a value would split the header (request smuggling), a non-ASCII character
    cannot be encoded: both are refused here, before anything is sent.
    """
    details: list[dict[str, Any]] = []
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name):
            details.append(
                {
                    "field": f"{field}.{name}",
                    "message": "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)",
                }
            )
        elif not _HEADER_VALUE.fullmatch(value):
            details.append(
                {
                    "field": f"{field}.{name}",
                    "message": "must be printable ASCII text without line breaks",
                }
            )
    if details:
        raise InvalidInput(
            f"{field}: {', '.join(d['field'] for d in details)} cannot be sent as HTTP headers",
            details=details,
        )
    return headers


def _resolve_url(base_url: str, url: str) -> tuple[str, list[tuple[str, str]]]:
    """``url`` joined to ``base_url``; an absolute URL must share the base's origin."""
    if _CONTROL.search(url):
        raise InvalidInput(
            "url holds a control character (such as NUL, CR or LF)",
            details=[{"field": "url", "message": "must not hold control characters"}],
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced '[' in the host
        raise InvalidInput(
            f"url is not a valid URL: {exc}",
            details=[{"field": "url", "message": "is not a valid URL"}],
        ) from None
    base = urlsplit(base_url)
    if parts.scheme or parts.netloc:
        same_origin = (parts.scheme.lower(), parts.netloc.lower()) == (
            base.scheme.lower(),
            base.netloc.lower(),
        )
        if not same_origin:
            raise InvalidInput(
                "url must be a path under the connection's base_url; the token is only sent to "
                f"{base.scheme}://{base.netloc.rpartition('@')[2]}",
                details=[{"field": "url", "message": "must be a path such as /imports"}],
            )
        full = f"{parts.scheme}://{parts.netloc}{parts.path}"
    else:
        path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
        full = base_url.rstrip("/") + path

    problem = url_problem(full)
    if problem is not None:
        raise InvalidInput(
            f"url makes a URL that cannot be sent: it {problem}",
            details=[{"field": "url", "message": f"makes a URL that {problem}"}],
        )
    return full, parse_qsl(parts.query, keep_blank_values=True)


def _decode_files(
    inputs: Mapping[str, Any],
) -> list[tuple[str, tuple[str | None, bytes, str | None]]]:
    names = dict(pairs(inputs.get("file_data_file_names")))
    files: list[tuple[str, tuple[str | None, bytes, str | None]]] = []
    for key, encoded in pairs(inputs.get("file_data")):
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"file_data '{key}' is not valid base64",
                details=[{"field": f"file_data.{key}", "message": "must be base64-encoded"}],
            ) from None
        files.append((key, (names.get(key, key), content, "application/octet-stream")))
    unknown = sorted(set(names) - {k for k, _ in files})
    if unknown:
        raise InvalidInput(
            "file_data_file_names names files that are not in file_data",
            details=[
                {"field": f"file_data_file_names.{k}", "message": "has no matching file_data key"}
                for k in unknown
            ],
        )
    return files


def build_raw_request(inputs: Mapping[str, Any], base_url: str) -> RequestSpec:
    """The request a ``raw_request`` action sends, from its validated inputs."""
    url, url_query = _resolve_url(base_url, str(inputs.get("url") or "/"))
    spec = RequestSpec(
        method=str(inputs.get("method") or "GET").upper(),
        url=url,
        params=url_query + pairs(inputs.get("query_params")),
        headers=checked_headers(pairs(inputs.get("headers")), "headers"),
    )
    data = inputs.get("data")
    multipart = inputs.get("form_data") is not None or inputs.get("file_data") is not None
    if data is not None and multipart:
        raise InvalidInput(
            "data cannot be sent together with form_data/file_data",
            details=[{"field": "data", "message": "leave empty when sending a multipart form"}],
        )
    if multipart:
        # Form fields travel as nameless parts so that a form without files is still multipart.
        fields: list[tuple[str, tuple[str | None, bytes | Openable, str | None]]] = [
            (k, (None, v.encode(), None)) for k, v in pairs(inputs.get("form_data"))
        ]
        spec.files = [*fields, *_decode_files(inputs)]
    elif isinstance(data, str):
        spec.content = data.encode()
        if not any(k.lower() == "content-type" for k, _ in spec.headers):
            spec.headers.append(("Content-Type", "text/plain; charset=utf-8"))
    elif data is not None:
        spec.json = data
        spec.has_json = True
    return spec


def shape_raw_response(response: httpx.Response, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``{"status", "headers", "data"}``; binary data as base64 with ``"encoding": "base64"``."""
    response_type = str(inputs.get("response_type") or "json")
    out: dict[str, Any] = {"status": response.status_code, "headers": dict(response.headers)}
    if response_type == "binary":
        out["data"] = base64.b64encode(response.content).decode("ascii")
        out["encoding"] = "base64"
    elif response_type == "text":
        out["data"] = response.text
    elif not response.content:
        out["data"] = None
    elif (body := loads_service(response.content)) is not NOT_JSON:
        out["data"] = body
    else:
        # Asked for JSON but the service sent something else: give it as text, say so.
        out["data"] = response.text
        out["encoding"] = "text"
    return out


register_hook(
    Hook(
        name="raw_request",
        reads={
            "url": "string",
            "method": "string",
            "data": "json",
            "form_data": "key_value",
            "file_data": "key_value",
            "file_data_file_names": "key_value",
            "query_params": "key_value",
            "headers": "key_value",
            "response_type": "string",
        },
        returns='{"status", "headers", "data"} (binary data base64-encoded)',
        build=build_raw_request,
        shape=shape_raw_response,
    )
)
