"""The stdin/stdout protocol: requests in, one JSON envelope out per request, exit codes."""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import select
import stat
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from connectorkit._bind import bind_action
from connectorkit.call._entry import Delivery, call, envelope, internal_error
from connectorkit.core._contract import (
    LazyRequest,
    Request,
    not_json,
    reading_request_text,
    realize,
    refuse,
    refuse_unrepresentable,
)
from connectorkit.core._errors import EXIT_CODES, ConnectorError, InternalError, InvalidRequest
from connectorkit.core._json import NOT_JSON, encode, loads_exact, suspicious, unrepresentable
from connectorkit.core._redact import holds_secret, mask_value

if TYPE_CHECKING:
    import queue
    from collections.abc import Callable, Mapping
    from concurrent.futures import Future
    from typing import IO, TextIO

    from connectorkit.bulk._rowsource import TextRows
    from connectorkit.call._run import Runner
    from connectorkit.pack._definitions import Pack

    # One line of serve's output, and the polls it answers (settled once it is written).
    _Line = tuple[bytes, Delivery]

__all__ = [
    "EXIT_STDOUT_CLOSED",
    "Opener",
    "StreamClosed",
    "Taken",
    "answer",
    "decode_request",
    "dump_response",
    "exit_code",
    "invoke",
    "print_response",
    "read_request",
    "realized",
    "respond",
    "respond_delivered",
    "serve",
    "take_request",
]

log = logging.getLogger("connectorkit")

# A request's text decoded straight into the contract's structure: checked as it is parsed.
_DECODER = msgspec.json.Decoder(Request)
_LAZY = msgspec.json.Decoder(LazyRequest)


def decode_request(text: str | bytes) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Decode one request into a JSON object, and where it holds what JSON cannot carry.

    The way a request the contract's decoder refused is read again, to say why: msgspec reads it
    first (:func:`loads_exact`); a document it refuses is read here by the standard library as
    before, which names the mistake or finds what JSON cannot carry.
    """
    data = loads_exact(text)
    found: list[tuple[str, str]] = []
    if data is NOT_JSON:
        with reading_request_text():
            data = json.loads(text, parse_constant=not_json)
        found = unrepresentable(data) if suspicious(text) else []
    if not isinstance(data, dict):
        raise InvalidRequest(f"the request must be a JSON object, not {_kind(data)}")
    return data, found


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


class Taken:
    """One request read and decoded (or why it could not be), before any pack is needed.

    ``invoke`` decodes first and drops the request's text at once, so a big push does not carry
    its text while it runs; the pack and the HTTP stack are loaded after the decoding, so the
    peak of a big request is its text, its rows and little else. ``decoded`` is what could be
    read of a refused request (its ``id`` and ``action`` are echoed). ``text``: kept for a
    :data:`LazyRequest`, whose inputs are decoded once the pack is loaded.
    """

    __slots__ = ("decoded", "error", "request", "text")

    def __init__(
        self,
        request: Request | None,
        decoded: Mapping[str, Any] | None = None,
        error: Exception | None = None,
        text: str | bytes | None = None,
    ) -> None:
        self.request: Any = request
        self.decoded = decoded
        self.error = error
        self.text = text


def take_request(text: str | bytes, *, lazy: bool = False) -> Taken:
    """Decode one request text into the contract's structure; never raises.

    A text the decoder refuses is read again to say why (every field named), and a failure is
    kept for :func:`answer`. ``lazy``: the inputs are left as text (:data:`LazyRequest`) until
    :func:`realized` decodes them, a push's rows a block at a time as they are checked.
    """
    typed = loads_exact(text, _LAZY if lazy else _DECODER)
    if typed is not NOT_JSON:
        return Taken(typed, text=text if lazy else None)
    try:
        data, found = decode_request(text)
    except Exception as exc:  # noqa: BLE001 - answered by `answer`, in the envelope
        return Taken(None, {}, exc)
    try:
        refuse(data)
        refuse_unrepresentable(found)
        # Only Python's json reads it (a byte order mark, UTF-16): taken as it reads it.
        return Taken(msgspec.convert(data, Request), data)
    except Exception as exc:  # noqa: BLE001 - answered by `answer`, in the envelope
        return Taken(None, data, exc)


def respond(
    pack: Pack | ConnectorError,
    runner: Runner,
    text: str | bytes,
    *,
    sink: Callable[[bytes], None] | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """The whole pipeline for one request text: the envelope and the exit code. Never raises.

    ``sink`` and ``watch``: see :func:`answer`.
    """
    return answer(pack, runner, take_request(text), sink=sink, watch=watch)


def respond_delivered(
    pack: Pack,
    runner: Runner,
    text: str | bytes,
    deliver: Callable[[dict[str, Any]], bool],
) -> tuple[dict[str, Any], int]:
    """As :func:`respond`, the answer handed to ``deliver`` before the polls it answers settle.

    ``deliver`` shows or writes the answer and says whether it got out: only then does a
    poll's subscription move on (``connectorkit watch`` prints the events first).
    """
    with Delivery() as delivery:
        response, code = respond(pack, runner, text)
    delivery.settle(lambda: deliver(response))
    return response, code


def realized(taken: Taken, pack: Pack | ConnectorError) -> tuple[Taken, TextRows | None]:
    """A lazily decoded request with its inputs decoded, and a push's rows; never raises.

    The rows of a push stay text, to be decoded a block at a time as they are checked.
    """
    lazy = taken.request
    if taken.error is not None or lazy is None or isinstance(lazy, Request):
        return taken, None
    action = None if isinstance(pack, ConnectorError) else pack.actions.get(lazy.action)
    batch = action.request.batch if action is not None else None
    name = batch.input if batch is not None else None
    given = lazy.inputs or {}  # (UNSET: none given)
    keep = name if name is not None and _rows_text(given.get(name)) else None
    try:
        request, text = realize(lazy, keep)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        # An input msgspec cannot read: the whole text read again, the way that explains it.
        return take_request(taken.text or b""), None
    if text is None or keep is None or action is None or isinstance(pack, ConnectorError):
        return Taken(request), None
    from connectorkit.bulk._rowsource import TextRows  # noqa: PLC0415 - pushes only

    def refused(rows: Any) -> None:
        # Not an array of objects after all: binding names the problem, as for any request.
        bind_action(pack, action.key, {**request.given_inputs, keep: rows})

    return Taken(request), TextRows(text, keep, refused)


def _rows_text(raw: Any) -> bool:
    """Whether an input's JSON text is an array with something in it."""
    return raw is not None and _ARRAY.match(memoryview(raw)) is not None


_ARRAY = re.compile(rb"\[\s*[^\s\]]")


def answer(
    pack: Pack | ConnectorError,
    runner: Runner | None,
    taken: Taken,
    *,
    rows: TextRows | None = None,
    sink: Callable[[bytes], None] | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """Run a decoded request: the envelope and the exit code. Never raises.

    ``pack`` is the error of a pack that would not load: every request is answered with it.
    ``rows``: a push's rows left as text by :func:`realized`. ``sink``: where the lines of a
    paged call's streamed items go (``stream: true``), each as it arrives, before the response.
    ``watch``: told how the call goes (an operation's polls, pages read).
    """
    request = taken.request
    if request is None or taken.error is not None:
        error = taken.error if isinstance(taken.error, ConnectorError) else None
        if error is None:
            error = internal_error(taken.error or ValueError("no request"))
        response = envelope(taken.decoded, error=error)
    elif isinstance(pack, ConnectorError) or runner is None:
        response = envelope(request, error=pack if isinstance(pack, ConnectorError) else None)
    else:
        emit = _item_emitter(request, sink) if sink is not None else None
        response = call(request, pack, runner, rows=rows, watch=watch, emit=emit)
    return response, exit_code(response)


class StreamClosed(ConnectorError):
    """Nobody reads the streamed items any more (stdout was closed): the call stops."""


def _item_emitter(request: Request, sink: Callable[[bytes], None]) -> Callable[[Any], None]:
    """What writes one streamed item of ``request``: a line ``{"id": …, "item": …}``.

    A secret of the call that the service echoed in an item is masked, as in a result.
    """
    head: dict[str, Any] = {} if request.id is msgspec.UNSET else {"id": request.id}

    def emit(item: Any) -> None:
        line = _line({**head, "item": item})
        if holds_secret(line):
            line = _line({**head, "item": mask_value(item)})
        sink(line)

    return emit


def exit_code(response: Mapping[str, Any]) -> int:
    """The process's exit code for a response envelope."""
    if response.get("ok"):
        return 0
    return EXIT_CODES.get(response["error"]["type"], InternalError.exit_code)


def _line(response: Mapping[str, Any]) -> bytes:
    return encode(response) + b"\n"


# Exit code of a worker whose stdout reader went away, as for a process killed by SIGPIPE.
EXIT_STDOUT_CLOSED = 141


def dump_response(response: Mapping[str, Any]) -> str:
    """The envelope exactly as invoke writes it, for the other front ends (``run --json``)."""
    return _line(response).decode()


def _write(stdout: TextIO, data: bytes) -> None:
    """Write ``data`` (UTF-8) and flush: straight to the bytes beneath a text stream if any."""
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:
        stdout.write(data.decode())
        stdout.flush()
        return
    stdout.flush()  # whatever was written as text goes first
    buffer.write(data)
    buffer.flush()


def _write_item(stdout: TextIO, data: bytes) -> None:
    """Write a streamed item's line, unflushed.

    It goes out as the buffer fills, and with the response after it (a flush per item would be
    a system call per item).
    """
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:
        stdout.write(data.decode())
    else:
        buffer.write(data)


def print_response(response: Mapping[str, Any], stdout: TextIO | None = None) -> int:
    """Write ``response`` as one line of strict JSON; its exit code."""
    _write(stdout if stdout is not None else sys.stdout, _line(response))
    return exit_code(response)


def read_request(stdin: IO[str] | IO[bytes]) -> Taken:
    """Read and decode ``invoke``'s one request; its text is not kept."""
    text = stdin.read()
    if not text or text.isspace():  # (not strip(): that would copy a big request)
        return Taken(None, {}, InvalidRequest("no request on stdin: send one JSON object"))
    return take_request(text, lazy=True)


# What a front end gives invoke and serve: a function making the pack and the runner. A pack
# that will not load raises its error there, and every request is answered with it.
Opener: TypeAlias = "Callable[[], tuple[Pack, Runner]]"


def _open(opener: Opener) -> tuple[Pack | ConnectorError, Runner | None]:
    try:
        return opener()
    except ConnectorError as exc:
        return exc, None


def invoke(
    opener: Opener,
    stdin: IO[str] | IO[bytes],
    stdout: TextIO,
    *,
    keep: list[Any] | None = None,
) -> int:
    """Read one request from ``stdin``, write one response to ``stdout``; the exit code.

    ``opener`` is called once the request is decoded, so a big request is parsed before the
    pack and the HTTP stack are loaded. ``keep``: the decoded request is put there instead of
    being freed here, for a process that ends without freeing anything (a million rows take a
    third of a second to free); the garbage collector then stops scanning it too (it can hold no
    garbage: it lives until the end).
    """
    collecting = keep is not None and gc.isenabled()
    if collecting:
        gc.disable()  # nothing to collect while it is built, nor after (it stays)
    taken = read_request(stdin)
    if keep is not None:
        keep.append(taken)
        gc.freeze()
    if collecting:
        gc.enable()
    pack, runner = _open(opener)
    taken, rows = realized(taken, pack)
    gone = False

    def sink(line: bytes) -> None:
        nonlocal gone
        try:
            _write_item(stdout, line)
        except (BrokenPipeError, ValueError):  # ValueError: a closed stream
            gone = True
            raise StreamClosed("stdout was closed while items were streamed") from None

    with Delivery() as delivery:
        response, code = answer(pack, runner, taken, rows=rows, sink=sink)
    del taken
    if gone:
        delivery.settle(lambda: False)
        return EXIT_STDOUT_CLOSED

    def write() -> bool:
        try:
            _write(stdout, _line(response))
        except (BrokenPipeError, ValueError):  # nobody reads stdout any more (ValueError: closed)
            return False
        return True

    return code if delivery.settle(write) else EXIT_STDOUT_CLOSED


def _answer(
    pack: Pack | ConnectorError,
    runner: Runner | None,
    line: str | bytes,
    sink: Callable[[bytes], None] | None = None,
) -> _Line:
    """One line of ``serve``'s output for one line of input, and the polls it answers.

    A paged call's streamed items go to ``sink`` as they come, before this line.
    """
    delivery = Delivery()
    try:
        with delivery:
            return _line(answer(pack, runner, take_request(line), sink=sink)[0]), delivery
    except Exception as exc:  # noqa: BLE001 - answer never raises; this is the last guard
        log.error("internal error while answering a line: %s", type(exc).__name__)  # noqa: TRY400
        error = InternalError(f"internal error ({type(exc).__name__}); see stderr with --verbose")
        return _line(envelope(None, error=error)), delivery


def _watch_reader(stdout: TextIO, gone: threading.Event, finished: threading.Event) -> None:
    """Set ``gone`` as soon as the reader of a pipe on ``stdout`` closes it, even while idle."""
    try:
        fd = stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        poller = select.poll()
        poller.register(fd, 0)  # no events asked for: POLLERR/POLLHUP are always reported
    except (OSError, ValueError, AttributeError):
        return  # not a real pipe (a test's StringIO, a file): a failed write will tell instead

    def wait() -> None:
        while not finished.is_set():
            if any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(500)):
                gone.set()
                finished.set()

    threading.Thread(target=wait, name="connectorkit-stdout-watch", daemon=True).start()


# How many streamed items a request may have waiting for the writer (a request that streams
# while an earlier one is still answering waits for its turn; memory stays bounded).
_STREAM_BUFFER = 1024
# A request's streamed item lines, then None: the end of its items.
_Items: TypeAlias = "queue.Queue[bytes | None]"


class _Worker:
    """The threads of ``serve``: a reader, the pool that answers, a writer that keeps the order."""

    def __init__(
        self,
        answer: Callable[[str | bytes, Callable[[bytes], None]], _Line],
        stdin: IO[str] | IO[bytes],
        stdout: TextIO,
        concurrency: int,
    ) -> None:
        import queue  # noqa: PLC0415 - only serve
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only serve

        self.answer = answer
        self.stdin = stdin
        self.stdout = stdout
        self.concurrency = concurrency
        self.gone = threading.Event()  # stdout's reader went away
        self.finished = threading.Event()  # every answer written, or gone
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="connectorkit")
        # Each line's answer, with the channel its streamed items come through first.
        self.pending: queue.Queue[tuple[Future[_Line], _Items] | None] = queue.Queue(
            maxsize=concurrency * 4
        )
        self.queue = queue

    def run(self) -> int:
        _watch_reader(self.stdout, self.gone, self.finished)
        # Reading runs on a daemon thread, so a stdin that never ends cannot keep a worker whose
        # stdout is gone alive: this thread only waits for "all written" or "nobody listens".
        if self.concurrency == 1:
            self._start(self.answer_inline, "reader")
        else:
            self._start(self.write, "writer")
            self._start(self.read, "reader")
        self.finished.wait()
        if self.gone.is_set():
            self.pool.shutdown(wait=False, cancel_futures=True)
            return EXIT_STDOUT_CLOSED
        self.pool.shutdown(wait=True)
        return 0

    @staticmethod
    def _start(target: Callable[[], None], name: str) -> None:
        threading.Thread(target=target, name=f"connectorkit-{name}", daemon=True).start()

    def emit(self, answered: _Line) -> bool:
        """Write one answer (then settle its polls); ``False`` when nobody reads stdout."""
        line, delivery = answered

        def write() -> bool:
            try:
                _write(self.stdout, line)
            except (OSError, ValueError):  # a broken pipe, or a closed stream
                self.gone.set()
                self.finished.set()
                return False
            return True

        return delivery.settle(write)

    def write_item(self, line: bytes) -> None:
        """Write one streamed item's line (flushed as the buffer fills, and with the answer)."""
        try:
            _write_item(self.stdout, line)
        except (OSError, ValueError):
            self.gone.set()
            self.finished.set()
            raise StreamClosed("stdout was closed while items were streamed") from None

    def answer_inline(self) -> None:
        """Concurrency 1: answer on the reading thread, which saves two hand-offs a request."""
        try:
            for line in self.stdin:
                if self.gone.is_set():
                    return
                if line.strip() and not self.emit(self.answer(line, self.write_item)):
                    return
        finally:
            self.finished.set()

    def read(self) -> None:
        """Hand each line to the pool, queueing its future in input order."""
        try:
            for line in self.stdin:
                if self.gone.is_set():
                    return
                if line.strip():
                    items: _Items = self.queue.Queue(maxsize=_STREAM_BUFFER)
                    self.put((self.pool.submit(self.produce, line, items), items))
        finally:
            self.put(None)

    def produce(self, line: str | bytes, items: _Items) -> _Line:
        """Answer ``line`` on a pool thread, its streamed items going through ``items``."""

        def sink(data: bytes) -> None:
            if not self.offer(items, data):
                raise StreamClosed("stdout was closed while items were streamed")

        try:
            return self.answer(line, sink)
        finally:
            self.offer(items, None)

    def offer(self, items: _Items, data: bytes | None) -> bool:
        """Pass ``data`` to the writer, waiting for room while somebody reads stdout."""
        while not self.gone.is_set():
            try:
                items.put(data, timeout=0.5)
            except self.queue.Full:
                continue
            return True
        return False

    def put(self, item: tuple[Future[_Line], _Items] | None) -> None:
        """Queue ``item``, waiting for room only as long as somebody reads stdout."""
        while not self.gone.is_set():
            try:
                self.pending.put(item, timeout=0.5)
            except self.queue.Full:
                continue
            return

    def write(self) -> None:
        """Write the answers in the order of their lines, each after its streamed items."""
        try:
            while (entry := self.pending.get()) is not None:
                future, items = entry
                while (data := items.get()) is not None:
                    try:
                        self.write_item(data)
                    except StreamClosed:
                        return
                if not self.emit(future.result()):
                    return
        finally:
            self.finished.set()


def serve(
    opener: Opener,
    stdin: IO[str] | IO[bytes],
    stdout: TextIO,
    *,
    concurrency: int = 4,
    freeze: bool = False,
) -> int:
    """One request per line in, one response per line out, in the same order, until EOF.

    Up to ``concurrency`` requests run at once (sharing the HTTP client and the token cache); a
    slow request holds back the responses after it, so a platform can match lines by position.
    Every non-blank line gets exactly one answer. When the reader of stdout goes away the worker
    stops at once and returns :data:`EXIT_STDOUT_CLOSED` (0 at the end of stdin otherwise).
    ``freeze`` (a process that is a worker and nothing else): after the first answer, what the
    process holds is moved out of the garbage collector's sight.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be 1 or more")
    pack, runner = _open(opener)
    first = threading.Event()

    def answer_line(line: str | bytes, sink: Callable[[bytes], None]) -> _Line:
        answered = _answer(pack, runner, line, sink)
        if freeze and not first.is_set():
            # What the first call loaded (modules, the client, compiled checks) lives as long as
            # the worker: out of the collector's sight, its full passes stay short.
            first.set()
            gc.freeze()
        return answered

    return _Worker(answer_line, stdin, stdout, concurrency).run()
