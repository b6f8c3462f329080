"""Serving the Fabric emulator over real loopback HTTP: in a thread (tests) or until a signal."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from emulator_core._serving import bind, serve_in_thread, serve_until_signal
from fabric_emulator._app import FabricApp
from fabric_emulator._cloud import FABRIC_CLOUDS
from fabric_emulator._config import FabricConfig
from powerbi_emulator._server import EmulatorHandle

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from powerbi_emulator._tls import TlsFiles

__all__ = ["FabricHandle", "endpoints", "running", "serve_forever"]


def endpoints(host: str, port: int, app: FabricApp, tls: TlsFiles | None = None) -> dict[str, str]:
    """The URLs a client needs, as the command prints them (managed identity's too)."""
    config = app.config
    host_part = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls else 'http'}://{host_part}:{port}"
    tenant = config.shared.tenant
    urls = {
        "url": url,
        "base_url": f"{url}/v1",
        "onelake_url": f"{url}/onelake",
        "token_url": f"{url}/{tenant}/oauth2/v2.0/token",
        "authorize_url": f"{url}/{tenant}/oauth2/v2.0/authorize",
        "authority": f"{url}/{tenant}",
        "tenant": tenant,
        **FABRIC_CLOUDS[config.cloud].to_json(),
    }
    if tls is not None:
        urls["ca_file"] = str(tls.ca_file)
    return urls | app.state.shared.identity_endpoints(url)


class FabricHandle(EmulatorHandle):
    """A running Fabric emulator: its endpoints, and the control API's helpers.

    Faults, the request log, tokens, the clock and reset work as for the Power BI emulator.
    """

    def __init__(
        self, urls: dict[str, str], config: FabricConfig, tls: TlsFiles | None = None
    ) -> None:
        super().__init__(urls, config.identity, tls)
        self.onelake_url = urls["onelake_url"]
        self.fabric_config = config

    def table_rows(
        self, lakehouse_id: str, table: str, *, skip: int = 0, top: int = 100
    ) -> dict[str, Any]:
        """A lakehouse table's row count (`rows`) and rows (`value`), oldest first."""
        path = f"/lakehouses/{lakehouse_id}/tables/{quote(table, safe='')}/rows"
        response = self._http.get(path, params={"skip": skip, "top": top})
        response.raise_for_status()
        return cast("dict[str, Any]", response.json())


def _tls_files(stack: contextlib.ExitStack, config: FabricConfig) -> TlsFiles:
    from powerbi_emulator._tls import make_tls_files  # noqa: PLC0415 - only with TLS

    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="fabric-emulator-"))
    return make_tls_files(Path(folder), config.shared.host)


@contextlib.contextmanager
def running(config: FabricConfig | None = None, **options: Any) -> Iterator[FabricHandle]:
    """Run a Fabric emulator on a free loopback port in a background thread.

    `options` are Fabric's or the shared ones (`time_scale=60`, `page_size=2`); with `tls=True`
    it serves HTTPS (the handle's `ca_file` is the CA to trust). The server accepts connections
    when the handle is yielded and is stopped, its thread joined, on exit.
    """
    config = FabricConfig.of(config, **options)
    app = FabricApp(config)
    with contextlib.ExitStack() as stack:
        files = _tls_files(stack, config) if config.shared.tls else None
        certfile = str(files.server_pem) if files else None
        host = config.shared.host
        sock = bind(host, config.shared.port)
        port = stack.enter_context(serve_in_thread(app, sock, app.close, certfile=certfile))
        handle = FabricHandle(endpoints(host, port, app, files), config, files)
        stack.callback(handle.close)
        yield handle


def serve_forever(config: FabricConfig, on_ready: Callable[[dict[str, str]], None]) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; `on_ready` gets the endpoints."""
    app = FabricApp(config)
    with contextlib.ExitStack() as stack:
        files = _tls_files(stack, config) if config.shared.tls else None
        serve_until_signal(
            app,
            bind(config.shared.host, config.shared.port),
            app.close,
            lambda port: on_ready(endpoints(config.shared.host, port, app, files)),
            certfile=str(files.server_pem) if files else None,
        )
