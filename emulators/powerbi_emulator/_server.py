"""Serving the emulator over real loopback HTTP with uvicorn.

In a background thread (`running`, for tests) or in the foreground until a signal (the
command line).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import httpx

from powerbi_emulator._app import EmulatorApp
from powerbi_emulator._cloud import CLOUDS
from powerbi_emulator._config import EmulatorConfig, FaultSpec

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Generator, Iterator, Mapping, Sequence

    import uvicorn

    from powerbi_emulator._tls import TlsFiles

__all__ = ["EmulatorHandle", "endpoints", "running", "serve_forever"]

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def endpoints(
    host: str, port: int, app: EmulatorApp, tls: TlsFiles | None = None
) -> dict[str, str]:
    """The URLs a client needs, as the command prints them.

    Beside the sign-in and API URLs: where managed identities and the test issuer answer,
    with the App Service identity header and the CI request token they want.
    """
    config = app.config
    host_part = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls else 'http'}://{host_part}:{port}"
    tenant = config.tenant
    cloud = CLOUDS[config.cloud]
    urls = {
        "url": url,
        "base_url": f"{url}/v1.0/myorg",
        "token_url": f"{url}/{tenant}/oauth2/v2.0/token",
        "authorize_url": f"{url}/{tenant}/oauth2/v2.0/authorize",
        "authority": f"{url}/{tenant}",
        "tenant": tenant,
        **cloud.to_json(),
    }
    if tls is not None:
        urls["ca_file"] = str(tls.ca_file)
    return urls | app.state.identity_endpoints(url)


def _bind(host: str, port: int) -> socket.socket:
    address = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every small response waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _server(app: EmulatorApp, tls: TlsFiles | None = None) -> uvicorn.Server:
    import uvicorn  # noqa: PLC0415 - only serving needs the server

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # The caller owns signal handling (uvicorn would re-raise SIGTERM on exit).
            yield

    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="off",
        loop="asyncio",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
        ssl_certfile=str(tls.server_pem) if tls else None,
    )
    return _Server(config)


class EmulatorHandle:
    """A running emulator: its endpoints, and helpers over its `/_emulator/` control API."""

    def __init__(
        self, urls: Mapping[str, str], config: EmulatorConfig, tls: TlsFiles | None = None
    ) -> None:
        self.url = urls["url"]
        self.base_url = urls["base_url"]
        self.token_url = urls["token_url"]
        self.authorize_url = urls["authorize_url"]
        self.tenant = urls["tenant"]
        self.urls = dict(urls)
        self.config = config
        self.ca_file = str(tls.ca_file) if tls else None
        verify: ssl.SSLContext | bool = tls.client_context() if tls else True
        self._http = httpx.Client(
            base_url=f"{self.url}/_emulator", timeout=10.0, trust_env=False, verify=verify
        )

    @property
    def client_id(self) -> str:
        """The first configured client's id (`connectorkit-demo` by default)."""
        return self.config.clients[0].client_id

    @property
    def client_secret(self) -> str | None:
        """The first configured client's secret (`demo-secret` by default)."""
        return self.config.clients[0].client_secret

    def endpoints(self) -> dict[str, str]:
        """The endpoints as the command prints them."""
        return dict(self.urls)

    def _call(self, method: str, path: str, body: Mapping[str, object] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def set_fault(
        self, spec: FaultSpec | Mapping[str, object] | None = None, **fields: object
    ) -> dict[str, Any]:
        """Register a fault: a FaultSpec, its JSON form, or keyword fields.

        Returns the registered fault with its `id`.
        """
        data = spec.to_json() if isinstance(spec, FaultSpec) else dict(spec or {})
        return cast("dict[str, Any]", self._call("POST", "/faults", {**data, **fields}))

    def faults(self) -> list[dict[str, Any]]:
        """The registered faults with their `fired` counts."""
        return cast("list[dict[str, Any]]", self._call("GET", "/faults")["value"])

    def remove_fault(self, fault_id: str) -> None:
        """Unregister one fault."""
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        """Unregister every fault."""
        self._call("DELETE", "/faults")

    def state(self) -> dict[str, Any]:
        """What is stored (datasets, tables, row counts), token counts, faults, clock."""
        return cast("dict[str, Any]", self._call("GET", "/state"))

    def requests(self, *, since: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        """The request log: method, path, query, JSON body, status, fault.

        `kind` selects `api` or `identity` requests. Tokens, secrets and codes are never in it.
        """
        params: dict[str, str | int] = {"since": since}
        if kind is not None:
            params["kind"] = kind
        response = self._http.get("/requests", params=params)
        response.raise_for_status()
        return cast("list[dict[str, Any]]", response.json()["value"])

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "/requests")

    def reset(self, *, tokens: bool = False) -> None:
        """Go back to the seed data, with no faults and an empty log.

        Tokens survive unless `tokens` is true.
        """
        self._call("POST", "/reset", {"tokens": tokens})

    def issue_token(
        self,
        *,
        principal: str = "user",
        client_id: str | None = None,
        scope: str | None = None,
        lifetime: float | None = None,
    ) -> dict[str, Any]:
        """A token response as the token endpoint would give, without an OAuth flow.

        `principal` "user" gives a delegated token (with a refresh token when the scope has
        `offline_access`, the default); "app" a service principal's. `lifetime` is in
        emulated seconds.
        """
        options = {"client_id": client_id, "scope": scope, "lifetime": lifetime}
        body = {"principal": principal} | {k: v for k, v in options.items() if v is not None}
        return cast("dict[str, Any]", self._call("POST", "/tokens", body))

    def expire_tokens(self, access_token: str | None = None) -> int:
        """Expire one access token (or all); the API then answers 403 TokenExpired."""
        body = {} if access_token is None else {"access_token": access_token}
        return cast("int", self._call("POST", "/tokens/expire", body)["expired"])

    def revoke_refresh_tokens(self, refresh_token: str | None = None) -> int:
        """Revoke one refresh token (or all); redeeming it then fails with invalid_grant."""
        body = {} if refresh_token is None else {"refresh_token": refresh_token}
        return cast("int", self._call("POST", "/tokens/revoke", body)["revoked"])

    def advance_clock(self, seconds: float) -> float:
        """Move the emulated clock forward; returns the new emulated epoch time."""
        return cast("float", self._call("POST", "/clock", {"advance": seconds})["epoch"])

    def add_certificate(self, client_id: str, certificate_pem: str) -> dict[str, Any]:
        """Register a certificate on an app; returns its thumbprints (`x5t`, `x5t#S256`)."""
        path = f"/apps/{quote(client_id, safe='')}/certificates"
        return cast("dict[str, Any]", self._call("POST", path, {"certificate": certificate_pem}))

    def add_federated_credential(
        self,
        client_id: str,
        subject: str,
        *,
        issuer: str | None = None,
        audiences: Sequence[str] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Trust `issuer`'s tokens for `subject` as the app's credential (None: the test issuer)."""
        fields = {"issuer": issuer, "audiences": list(audiences or []) or None, "name": name}
        body = {"subject": subject} | {k: v for k, v in fields.items() if v is not None}
        path = f"/apps/{quote(client_id, safe='')}/federated-credentials"
        return cast("dict[str, Any]", self._call("POST", path, body))

    def apps(self) -> list[dict[str, Any]]:
        """Every app registration with its certificates and federated credentials."""
        return cast("list[dict[str, Any]]", self._call("GET", "/apps")["value"])

    def managed_identities(self) -> list[dict[str, Any]]:
        """The host's managed identities, system-assigned first."""
        return cast("list[dict[str, Any]]", self._call("GET", "/managed-identities")["value"])

    def issuer_token(
        self, *, subject: str | None = None, audience: str | None = None, expires_in: int = 300
    ) -> str:
        """A token of the test issuer (a negative `expires_in` gives an expired one)."""
        fields = {"subject": subject, "audience": audience}
        body = {"expires_in": expires_in} | {k: v for k, v in fields.items() if v is not None}
        return cast("str", self._call("POST", "/issuer/token", body)["value"])

    def flows(self) -> dict[str, Any]:
        """The flows' settings, what they hold, and the hourly limits used."""
        return cast("dict[str, Any]", self._call("GET", "/flows"))

    def set_flows(
        self, settings: Mapping[str, Mapping[str, object]] | None = None, **flows: Any
    ) -> dict[str, Any]:
        """Change flow settings, e.g. `set_flows(exports={"seconds": 60, "fail": 1})`."""
        body = {**(settings or {}), **flows}
        return cast("dict[str, Any]", self._call("POST", "/flows", body))

    def rows(self, dataset_id: str, table_name: str) -> list[dict[str, Any]]:
        """The rows stored in a table, oldest first."""
        path = f"/datasets/{dataset_id}/tables/{quote(table_name, safe='')}/rows"
        return cast("list[dict[str, Any]]", self._call("GET", path)["value"])

    def close(self) -> None:
        """Release the control client."""
        self._http.close()


@contextlib.contextmanager
def running(config: EmulatorConfig | None = None, **options: Any) -> Iterator[EmulatorHandle]:
    """Run an emulator on a free loopback port in a background thread.

    `options` are EmulatorConfig fields (e.g. `time_scale=60`, `latency_ms=50`); they
    override `config`. The server accepts connections when the handle is yielded and is
    stopped, thread joined and socket closed, on exit.
    """
    config = dataclasses.replace(config or EmulatorConfig(), **options)
    app = EmulatorApp(config)
    folder = tempfile.TemporaryDirectory(prefix="powerbi-emulator-") if config.tls else None
    tls = _tls_files(folder, config)
    sock = _bind(config.host, config.port)
    server = _server(app, tls)
    loop: asyncio.AbstractEventLoop | None = None
    failure: list[BaseException] = []

    async def serve() -> None:
        nonlocal loop
        loop = asyncio.get_running_loop()
        await server.serve(sockets=[sock])

    def target() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="connectorkit-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    handle: EmulatorHandle | None = None
    try:
        if not server.started:
            raise RuntimeError("the emulator did not start") from (failure[0] if failure else None)
        handle = EmulatorHandle(
            endpoints(config.host, sock.getsockname()[1], app, tls), config, tls
        )
        yield handle
    finally:
        if handle is not None:
            handle.close()
        if loop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(app.close)
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        if folder is not None:
            folder.cleanup()
    if thread.is_alive():
        raise RuntimeError("the emulator thread did not stop")


def serve_forever(config: EmulatorConfig, on_ready: Callable[[dict[str, str]], None]) -> None:
    """Serve in the foreground until SIGINT or SIGTERM.

    `on_ready` gets the endpoints once the server accepts connections.
    """
    app = EmulatorApp(config)
    folder = tempfile.TemporaryDirectory(prefix="powerbi-emulator-") if config.tls else None
    tls = _tls_files(folder, config)
    sock = _bind(config.host, config.port)
    server = _server(app, tls)

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            app.close()
            server.should_exit = True

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on POSIX
                signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.005)
        if server.started:
            on_ready(endpoints(config.host, sock.getsockname()[1], app, tls))
        await task

    try:
        asyncio.run(main())
    finally:
        sock.close()
        if folder is not None:
            folder.cleanup()


def _tls_files(
    folder: tempfile.TemporaryDirectory[str] | None, config: EmulatorConfig
) -> TlsFiles | None:
    if folder is None:
        return None
    from powerbi_emulator._tls import make_tls_files  # noqa: PLC0415 - only with --tls

    return make_tls_files(Path(folder.name), config.host)
