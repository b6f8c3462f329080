"""Serving an emulator's ASGI app over real loopback HTTP with uvicorn.

In a background thread (`serve_in_thread`, for tests) or in the foreground until SIGINT or
SIGTERM (`serve_until_signal`, for the command line). `close` is the app's own "stop now",
called on the server's event loop so that requests sleeping in the app end at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    import uvicorn

__all__ = ["bind", "serve_in_thread", "serve_until_signal"]

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (0: a free port)."""
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


def _server(app: Any, certfile: str | None) -> uvicorn.Server:
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
        ssl_certfile=certfile,
    )
    return _Server(config)


@contextlib.contextmanager
def serve_in_thread(
    app: Any, sock: socket.socket, close: Callable[[], None], *, certfile: str | None = None
) -> Iterator[int]:
    """Serve `app` on `sock` in a thread; yields the port once connections are accepted.

    On exit the server stops, the thread is joined and the socket closed.
    """
    server = _server(app, certfile)
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
    try:
        if not server.started:
            raise RuntimeError("the emulator did not start") from (failure[0] if failure else None)
        yield int(sock.getsockname()[1])
    finally:
        if loop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(close)
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
    if thread.is_alive():
        raise RuntimeError("the emulator thread did not stop")


def serve_until_signal(
    app: Any,
    sock: socket.socket,
    close: Callable[[], None],
    on_ready: Callable[[int], None],
    *,
    certfile: str | None = None,
) -> None:
    """Serve `app` on `sock` in the foreground until SIGINT or SIGTERM.

    `on_ready` gets the port once the server accepts connections.
    """
    server = _server(app, certfile)

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            close()
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
            on_ready(int(sock.getsockname()[1]))
        await task

    try:
        asyncio.run(main())
    finally:
        sock.close()
