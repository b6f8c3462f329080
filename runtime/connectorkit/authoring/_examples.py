"""Run an action in-process against a stand-in service and see the exact request it sends.

The examples of an action file (inputs → the request they must produce → a sample response) are
checked here, by ``validate`` and by the pytest plugin's conformance suite: the action really runs
(bind, render, send through the runtime's HTTP client), only the network is replaced.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectorkit.call._run import Runner
from connectorkit.protocol._protocol import handle

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from connectorkit.core._errors import Problem
    from connectorkit.pack._definitions import ActionDef, Pack

__all__ = [
    "EXAMPLE_BASE_URL",
    "NO_BODY",
    "Call",
    "SentRequest",
    "example_connection",
    "example_mismatches",
    "example_problems",
    "request_mismatches",
    "run_in_process",
    "sample_inputs",
]

EXAMPLE_BASE_URL = "https://service.example/api"
_TOKEN = "example-access-token"  # noqa: S105 - a stand-in the stand-in service accepts
NO_BODY: Any = object()


@dataclass(frozen=True, slots=True)
class SentRequest:
    """A request as the service saw it; ``path`` is below the connection's base_url, escaped."""

    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    content: bytes

    @property
    def has_body(self) -> bool:
        """Whether anything was sent as the body."""
        return bool(self.content)

    def expect(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = NO_BODY,
    ) -> None:
        """Fail (AssertionError) unless this is exactly that request.

        ``query`` must be every parameter sent (default: none); ``headers`` only those named;
        ``body`` the JSON sent (default: no body at all).
        """
        expected: dict[str, Any] = {"method": method, "path": path, "query": dict(query or {})}
        if headers:
            expected["headers"] = dict(headers)
        if body is not NO_BODY:
            expected["body"] = body
        problems = request_mismatches(self, expected, said="expected")
        if problems:
            raise AssertionError(f"{self.describe()}: " + "; ".join(problems))

    def describe(self) -> str:
        """One line: ``POST /datasets?x=1 {"name": …}``."""
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        body = "" if not self.has_body else " " + json.dumps(self.body, ensure_ascii=False)[:300]
        return f"{self.method} {self.path}{'?' + query if query else ''}{body}"


@dataclass(slots=True)
class Call:
    """One in-process run: the response envelope and every request sent to the service."""

    response: dict[str, Any]
    requests: list[SentRequest] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the action succeeded."""
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        """The action's result (``None`` when it failed)."""
        return self.response.get("result")

    @property
    def request(self) -> SentRequest:
        """The one request sent (the last, if there were several)."""
        if not self.requests:
            raise AssertionError(f"no request was sent; the response was {self.response}")
        return self.requests[-1]


def example_connection(pack: Pack, base_url: str = EXAMPLE_BASE_URL) -> dict[str, Any]:
    """A connection of the pack's default kind with stand-in values and a valid token."""
    definition = pack.connections[pack.default_connection]
    values: dict[str, Any] = {"base_url": base_url}
    for value in definition.values:
        if value.required and value.default is None and value.key not in values:
            values[value.key] = f"example-{value.key.replace('_', '-')}"
    return {
        "key": definition.key,
        "values": values,
        "token": {
            "access_token": _TOKEN,
            "refresh_token": "example-refresh-token",
            "expires_at": int(time.time()) + 3600,
            "token_type": "Bearer",
        },
    }


def _sent(request: httpx.Request, base_path: str) -> SentRequest:
    raw = request.url.raw_path.decode("ascii")
    path = raw.split("?", 1)[0]
    path = path[len(base_path) :] if base_path and path.startswith(base_path) else path
    query: dict[str, Any] = {}
    for name, value in parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True):
        if name in query:
            query[name] = (
                [*query[name], value] if isinstance(query[name], list) else [query[name], value]
            )
        else:
            query[name] = value
    content = request.read()
    body: Any = NO_BODY
    if content:
        try:
            body = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", "replace")
    return SentRequest(
        method=request.method,
        path=path or "/",
        query=query,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        content=content,
    )


def run_in_process(
    pack: Pack,
    action: str,
    inputs: Mapping[str, Any],
    *,
    response: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    httpx_mock: Any = None,
) -> Call:
    """Run ``action`` with ``inputs``; the service answers every request with ``response``.

    ``response`` is ``{"status", "headers", "body"}`` (default: 200, no body). Token requests
    (a client_credentials connection) are answered with a stand-in token. With ``httpx_mock``
    (pytest-httpx's fixture) the answers are registered there instead of a mock transport.
    """
    answer = dict(response or {})
    chosen = dict(connection or example_connection(pack))
    base = str((chosen.get("values") or {}).get("base_url") or EXAMPLE_BASE_URL)
    base_path = urlsplit(base).path.rstrip("/")
    seen: list[SentRequest] = []

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token") and not request.url.path.startswith(base_path):
            return httpx.Response(
                200, json={"access_token": _TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            )
        seen.append(_sent(request, base_path))
        status = int(answer.get("status", 200))
        headers = dict(answer.get("headers") or {})
        if "body" in answer:
            body = answer["body"]
            if isinstance(body, str) and not headers.get("Content-Type", "").endswith("json"):
                return httpx.Response(status, headers=headers, content=body.encode())
            return httpx.Response(status, headers=headers, json=body)
        return httpx.Response(status, headers=headers)

    # An example is hermetic: its tokens, budgets and push jobs live and die with it, never in
    # the user's state store (a job id kept there would turn the example into a resume).
    if httpx_mock is not None:
        httpx_mock.add_callback(serve, is_reusable=True, is_optional=True)
        runner = Runner(sleep=lambda _: None, state_url="memory://")
    else:
        client = httpx.Client(transport=httpx.MockTransport(serve))
        runner = Runner(http=client, sleep=lambda _: None, state_url="memory://")
    try:
        envelope = handle(
            pack, runner, {"action": action, "inputs": dict(inputs), "connection": chosen}
        )
    finally:
        runner.close()
    return Call(response=json.loads(json.dumps(envelope, default=str)), requests=seen)


def example_mismatches(pack: Pack, action: ActionDef, example: Mapping[str, Any]) -> list[str]:
    """What differs between an example and what the action really does (empty: it matches).

    An example shows one request and its answer: an action that would go on (poll its
    operation, follow its pages) is run without doing so, unless the example says otherwise.
    """
    inputs = dict(example.get("inputs") or {})
    multistep = action.multistep
    if multistep is not None and multistep.long_running is not None:
        inputs.setdefault("wait", False)
    if multistep is not None and multistep.pages is not None:
        inputs.setdefault("all_pages", False)
    call = run_in_process(pack, action.key, inputs, response=example.get("response"))
    if not call.ok:
        error = call.response.get("error") or {}
        detail = "; ".join(
            f"{d.get('field')}: {d.get('message')}" for d in error.get("details") or []
        )
        return [f"the call failed: {error.get('type')}: {error.get('message')} {detail}".strip()]
    if not call.requests:
        return ["no request was sent"]
    problems = request_mismatches(call.request, example["request"])
    if "result" in example and call.result != example["result"]:
        problems.append(
            f"result is {json.dumps(call.result)[:300]}, "
            f"the example says {json.dumps(example['result'])[:300]}"
        )
    return problems


def request_mismatches(
    sent: SentRequest, expected: Mapping[str, Any], *, said: str = "the example says"
) -> list[str]:
    """Each way ``sent`` differs from an example's ``request`` (method, path, query, body...)."""
    problems: list[str] = []
    if sent.method != expected.get("method"):
        problems.append(f"method is {sent.method}, {said} {expected.get('method')}")
    if sent.path != expected.get("path"):
        problems.append(f"path is {sent.path}, {said} {expected.get('path')}")
    want_query = dict(expected.get("query") or {})
    if sent.query != want_query:
        problems.append(f"query is {sent.query}, {said} {want_query}")
    for name, value in (expected.get("headers") or {}).items():
        if sent.headers.get(name.lower()) != value:
            problems.append(
                f"header {name} is {sent.headers.get(name.lower())!r}, {said} {value!r}"
            )
    if "body" in expected:
        if not sent.has_body:
            problems.append(f"no body was sent, {said} {json.dumps(expected['body'])[:300]}")
        elif sent.body != expected["body"]:
            problems.append(
                f"body is {json.dumps(sent.body)[:300]}, "
                f"{said} {json.dumps(expected['body'])[:300]}"
            )
    elif sent.has_body:
        problems.append(f"a body was sent ({sent.content[:200]!r}), {said} none")
    return problems


# -- inputs for a request when an action has no example ---------------------------------------


def sample_inputs(action: ActionDef, *, optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Values for every required input (and those named in ``optional``) that bind."""
    values: dict[str, Any] = {}
    for item in action.inputs:
        if (item.required or item.key in optional) and item.default is None:
            values[item.key] = _sample(
                item.type,
                {
                    "enum": item.enum,
                    "minimum": item.minimum,
                    "min_length": item.min_length,
                    "max_length": item.max_length,
                    "format": item.format,
                    "items": item.items,
                },
            )
    return values


_UUID = "5f0a3a4e-8c1d-4b7e-9a2f-3c4d5e6f7a8b"


def _sample(kind: str, spec: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one answer per type
    enum = spec.get("enum")
    if enum:
        return next(iter(enum))
    if kind == "string":
        fmt = spec.get("format")
        if fmt == "uuid":
            return _UUID
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        text = "sample"
        low = spec.get("min_length") or 0
        high = spec.get("max_length")
        text = text.ljust(int(low), "x")
        return text[: int(high)] if high is not None else text
    if kind in {"integer", "number"}:
        low = spec.get("minimum")
        return int(low) if low is not None else 1
    if kind == "boolean":
        return True
    if kind == "array":
        items = spec.get("items") or {}
        count = max(1, int(spec.get("min_length") or 0))
        return [_element(items) for _ in range(count)]
    return {}


def _element(schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: _element(properties.get(name) or {"type": "string"})
            for name in schema.get("required") or []
        }
    return _sample(
        str(kind),
        {
            "enum": schema.get("enum"),
            "minimum": schema.get("minimum"),
            "min_length": schema.get("minLength"),
            "max_length": schema.get("maxLength"),
            "items": schema.get("items"),
        },
    )


def example_problems(pack: Pack) -> list[Problem]:
    """Every example that does not do what it shows, with its file and line."""
    from connectorkit.core._errors import Problem  # noqa: PLC0415

    found: list[Problem] = []
    for action in sorted(pack.actions.values(), key=lambda a: a.key):
        if not action.examples:
            continue
        try:
            file = action.file.relative_to(pack.root).as_posix()
        except ValueError:
            file = action.file.as_posix()
        lines = _example_lines(action.file)
        for index, example in enumerate(action.examples):
            line = lines[index] if index < len(lines) else None
            found += [
                Problem(file, line, f"examples[{index}]", message)
                for message in example_mismatches(pack, action, example)
            ]
    return found


def _example_lines(path: Path) -> list[int]:
    """The line each example of an action file starts on."""
    import yaml  # noqa: PLC0415

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    examples = next((v for k, v in node.value if k.value == "examples"), None)
    if not isinstance(examples, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in examples.value]
