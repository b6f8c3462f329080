"""The studio's HTTP face: a plain ASGI app serving the page, its assets and a small JSON API.

    GET  /                 the page            GET  /api/catalog      describe + presets
    GET  /static/NAME      its script/styles   GET  /api/version      fingerprints: pack, stored
    POST /api/run          start a run         GET  /api/runs/ID      a run, as far as it got
    POST /api/choices      an input's choices (or shape) through the chosen connection

It answers only requests addressed to a loopback name (so a web page elsewhere cannot reach it
through DNS rebinding) and starts runs only from a same-origin JSON POST.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectorkit.studio._recipes import (
    invoke_recipe,
    masked_connection,
    run_recipe,
    token_values,
)
from connectorkit.studio._runs import Run, masked

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from connectorkit.pack._definitions import Pack
    from connectorkit.studio._emulator_choice import Preset
    from connectorkit.studio._runs import RunBook
    from connectorkit.studio._stored_choice import StoredPresets
    from connectorkit.studio._watch import PackView

    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
    Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

__all__ = ["StudioApp"]

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_ASSET_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_MAX_BODY_BYTES = 64 * 1024 * 1024
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
# The page's own script and styles, nothing inline, nothing from elsewhere.
_CSP = b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'"


def _assets() -> dict[str, bytes]:
    folder = resources.files("connectorkit.studio") / "static"
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and any(item.name.endswith(ext) for ext in _ASSET_TYPES)
    }


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StudioApp:
    """The ASGI application; one per studio process."""

    def __init__(
        self,
        view: PackView,
        book: RunBook,
        presets: list[Preset],
        stored: StoredPresets | None = None,
    ) -> None:
        self.view = view
        self.book = book
        self.fixed = presets
        # Stored connections come and go while the studio runs: listed anew on each catalog.
        self.stored = stored
        self.assets = _assets()

    def presets(self, pack: Pack | None) -> list[Preset]:
        """The ready connections: the emulator's, then the stored ones."""
        stored = self.stored.presets(pack) if self.stored and pack is not None else []
        return [*self.fixed, *stored]

    def preset(self, pack: Pack, preset_id: str) -> Preset | None:
        """The ready connection ``preset_id``; a stored one is read alone, not with the rest."""
        name = preset_id.removeprefix("stored:")
        if self.stored is not None and name != preset_id:
            return self.stored.preset(pack, name)
        return next((p for p in self.fixed if p.id == preset_id), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        try:
            status, content_type, body = await self._route(method, path, headers, receive)
        except _HttpError as exc:
            status, content_type, body = (
                exc.status,
                "application/json",
                _json({"error": exc.message}),
            )
        extra = [(b"content-security-policy", _CSP)] if content_type.startswith("text/html") else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *_SECURITY_HEADERS,
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _route(  # noqa: PLR0911 - one answer per route
        self, method: str, path: str, headers: dict[str, str], receive: Receive
    ) -> tuple[int, str, bytes]:
        if _hostname(headers.get("host", "")) not in _LOOPBACK_NAMES:
            raise _HttpError(403, "studio answers only on a loopback address")
        if method == "GET" and path in {"/", "/index.html"}:
            return self._asset("index.html")
        if method == "GET" and path.startswith("/static/"):
            return self._asset(path.removeprefix("/static/"))
        if method == "GET" and path == "/api/catalog":
            return 200, "application/json", _json(self.catalog())
        if method == "GET" and path == "/api/version":
            version, _, _, error = self.view.current()
            connections = "" if self.stored is None else self.stored.fingerprint()
            return (
                200,
                "application/json",
                _json({"version": version, "ok": error is None, "connections": connections}),
            )
        if method == "GET" and path.startswith("/api/runs/"):
            run = self.book.get(path.removeprefix("/api/runs/"))
            if run is None:
                raise _HttpError(404, "no such run (only the latest ones are kept)")
            return 200, "application/json", _json(run.to_json())
        if method == "POST" and path == "/api/run":
            _same_origin(headers)
            body = await _read_json(receive)
            run = self.start(body)
            return 202, "application/json", _json({"id": run.id})
        if method == "POST" and path == "/api/choices":
            _same_origin(headers)
            body = await _read_json(receive)
            return 200, "application/json", _json(await self.choices(body))
        raise _HttpError(404 if method in {"GET", "POST"} else 405, f"no {method} {path} here")

    def _asset(self, name: str) -> tuple[int, str, bytes]:
        content = self.assets.get(name)
        if content is None:
            raise _HttpError(404, f"no asset {name}")
        suffix = name[name.rfind(".") :]
        return 200, _ASSET_TYPES[suffix], content

    def _resumed(self, body: dict[str, Any]) -> dict[str, Any]:
        """A page's request to wait for an operation: its action, and waiting as inputs."""
        action = _resumed_action(self.book.runner, str(body["resume"]))
        return {**body, "action": action, "inputs": {"wait": True}}

    def catalog(self) -> dict[str, Any]:
        """The page's starting point: the catalog (or why the pack does not load), presets."""
        version, pack, catalog, error = self.view.current()
        return {
            "version": version,
            "pack": str(self.view.root),
            "catalog": catalog,
            "error": error,
            "presets": [p.public() for p in self.presets(pack)],
            "connections": "" if self.stored is None else self.stored.fingerprint(),
        }

    async def choices(self, body: Any) -> dict[str, Any]:
        """The choices of one input (or its shape), asked through the chosen connection.

        The page gets ``ok`` and ``result`` or ``error``, every secret masked, never a token.
        """
        import asyncio  # noqa: PLC0415

        from connectorkit import invoke  # noqa: PLC0415 - the runtime loads on the first ask

        _, pack, catalog, error = self.view.current()
        if pack is None or catalog is None:
            raise _HttpError(409, f"the pack does not load: {(error or {}).get('message')}")
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            raise _HttpError(400, 'expected {"action": …, "input": …, "inputs": {…}, …}')
        connection, _, secrets, _ = self._connection(pack, body.get("connection"))
        ask = {
            k: body[k]
            for k in ("action", "input", "inputs", "search", "continuation", "refresh")
            if body.get(k) is not None
        }
        request = {"choices": ask, "connection": connection}
        response = await asyncio.to_thread(invoke, request, pack=pack, runner=self.book.runner)
        secrets = [*secrets, *token_values(response.get("token"))]
        out = {"ok": bool(response.get("ok"))}
        out.update({k: response[k] for k in ("result", "error", "meta") if k in response})
        return dict(masked(out, secrets))

    def _connection(
        self, pack: Pack, chosen: Any
    ) -> tuple[dict[str, Any], set[str], list[str], str]:
        """The page's choice of connection, as a request carries it.

        Also its secret keys and values (to mask), and what the recipes call it.
        """
        chosen = chosen if isinstance(chosen, dict) else {}
        preset = None
        if "preset" in chosen:
            preset = self.preset(pack, str(chosen["preset"]))
            if preset is None:
                raise _HttpError(
                    409,
                    f"the connection {chosen['preset']!r} is no longer offered (a stored "
                    "connection removed meanwhile?): choose another",
                )
        if preset is not None:
            return preset.connection(), set(preset.secret), preset.secrets(), preset.reference
        connection = {k: v for k, v in chosen.items() if k in {"key", "values", "token"}}
        secret = _secret_keys(pack, connection)
        return connection, secret, _secret_values(connection, secret), "connection.json"

    def start(self, body: Any) -> Run:
        """Turn the page's run (or poll) request into a contract request and start it."""
        from connectorkit import invoke  # noqa: PLC0415 - the runtime loads on the first run

        _, pack, catalog, error = self.view.current()
        if pack is None or catalog is None:
            raise _HttpError(409, f"the pack does not load: {(error or {}).get('message')}")
        if isinstance(body, dict) and isinstance(body.get("resume"), str):
            body = self._resumed(body)
        polled = isinstance(body, dict) and isinstance(body.get("trigger"), str)
        named = "trigger" if polled else "action"
        if not isinstance(body, dict) or not isinstance(body.get(named), str):
            raise _HttpError(400, 'expected {"action": …, "inputs": {…}, "connection": {…}}')
        if polled and not isinstance(body.get("subscription"), str):
            raise _HttpError(400, 'a poll names its "subscription" too')
        inputs = body.get("inputs", {})
        connection, secret, secrets, reference = self._connection(pack, body.get("connection"))
        action = body[named]
        request: dict[str, Any] = {"id": self.book.next_id(), named: action}
        if polled:
            request["subscription"] = body["subscription"]
        request |= {"inputs": inputs, "connection": connection}
        handle = body.get("resume")
        if isinstance(handle, str):  # go on with an operation instead of starting the action
            request = {"id": request["id"], "resume": handle, **request}
            del request["action"]
        given = inputs if isinstance(inputs, dict) else {}
        command = (
            ("watch", ("--subscription", str(body["subscription"]))) if polled else ("run", ())
        )

        def recipes() -> dict[str, str]:
            again = (
                f"connectorkit operations wait {handle} --connection {reference}"
                if isinstance(handle, str)
                else run_recipe(action, given, reference, command=command[0], options=command[1])
            )
            return {
                "invoke": invoke_recipe(request, secret),
                "command": "connectorkit operations"
                if isinstance(handle, str)
                else f"connectorkit {command[0]}",
                "run": again,
                # A stored connection is named, not written out: there is no file to show.
                "connection": ""
                if "name" in connection
                else json.dumps(masked_connection(connection, secret), indent=2),
                "connection_file": reference,
            }

        run = Run(
            id=request["id"],
            action=action,
            request=request,
            secrets=secrets,
            make_recipes=recipes,
        )
        return self.book.start(pack, run, invoke)


def _resumed_action(runner: Any, handle: str) -> str:
    """The action an operation handle belongs to (from the state store)."""
    record = runner.operations.get(handle)
    if record is None:
        raise _HttpError(404, f"no operation {handle!r} in the state store")
    return str(record["action"])


def _secret_keys(pack: Pack, connection: dict[str, Any]) -> set[str]:
    key = connection.get("key")
    keys = pack.secret_keys(key if isinstance(key, str) else None)
    if keys is not None:
        return set(keys)
    # A key the pack lacks is refused by the runtime; meanwhile no value of it is shown.
    values = connection.get("values")
    return set(values) if isinstance(values, dict) else set()


def _secret_values(connection: dict[str, Any], secret: set[str]) -> list[str]:
    values = connection.get("values")
    found = (
        [str(v) for k, v in values.items() if k in secret and v] if isinstance(values, dict) else []
    )
    return found + token_values(connection.get("token"))


def _hostname(host: str) -> str:
    return (urlsplit(f"//{host}").hostname or "").lower()


def _same_origin(headers: dict[str, str]) -> None:
    """A run starts only from the page itself: a JSON POST whose Origin is this server."""
    if not headers.get("content-type", "").startswith("application/json"):
        raise _HttpError(415, "send the run as application/json")
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        raise _HttpError(403, "runs start only from the studio page itself")


async def _read_json(receive: Receive) -> Any:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise _HttpError(413, "the run request is too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        return json.loads(b"".join(chunks))
    except ValueError as exc:
        raise _HttpError(400, f"the run request is not JSON: {exc}") from None


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str).encode()
