"""The stdin/stdout protocol: requests in, one JSON envelope out per request, exit codes."""

from __future__ import annotations

import gc
import json
import logging
import os
import queue
import select
import stat
import sys
import threading
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import (
    EXIT_CODES,
    ConnectorError,
    InternalError,
    InvalidConnection,
    InvalidInput,
    InvalidRequest,
)
from connectorkit.core._json import (
    NOT_JSON,
    PLAIN_INPUTS,
    dumps,
    loads_exact,
    suspicious,
    unrepresentable,
)
from connectorkit.core._redact import forget_secrets, mask, remember_secrets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from concurrent.futures import Future
    from typing import IO, TextIO

    from connectorkit._bind import BoundConnection
    from connectorkit.call._run import Outcome, Runner
    from connectorkit.pack._definitions import Pack

__all__ = [
    "EXIT_STDOUT_CLOSED",
    "StreamClosed",
    "Taken",
    "answer",
    "check_request",
    "decode_request",
    "dump_response",
    "handle",
    "invoke",
    "parse_request",
    "print_response",
    "read_request",
    "request_id",
    "respond",
    "serve",
    "take_request",
]

log = logging.getLogger("connectorkit")

_REQUEST_KEYS = frozenset({"id", "action", "inputs", "connection", "resume", "cancel", "choices"})
# A request that goes on with (or cancels) an operation handle instead of naming an action.
_HANDLE_KEYS = ("resume", "cancel")
_CONNECTION_KEYS = frozenset({"key", "values", "token", "name"})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_request(text: str | bytes) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Decode one request into a JSON object, and where it holds what JSON cannot carry.

    msgspec reads it first (:func:`loads_exact`); a document it refuses is read here by the
    standard library as before, which names the mistake or finds what JSON cannot carry.
    """
    data = loads_exact(text)
    found: list[tuple[str, str]] = []
    if data is NOT_JSON:
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                f"the request is not UTF-8 text: {exc.reason} at byte {exc.start}"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(f"the request is not valid JSON: {exc}") from None
        found = unrepresentable(data) if suspicious(text) else []
    if not isinstance(data, dict):
        raise InvalidRequest(f"the request must be a JSON object, not {_kind(data)}")
    return data, found


def request_id(data: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(usable, id)``: an id is echoed only when the response schema allows it."""
    if "id" not in data:
        return False, None
    value = data["id"]
    if value is None or (isinstance(value, str) and not unrepresentable(value)):
        return True, value
    if isinstance(value, int) and not isinstance(value, bool):
        return True, value
    if isinstance(value, float) and not unrepresentable(value):
        return True, value
    return False, None


def check_request(data: dict[str, Any], bad_values: list[tuple[str, str]]) -> dict[str, Any]:
    """Check a decoded request's shape (not the inputs: bind does that); returns it."""
    problems = [
        {
            "field": k,
            "message": "is not a request field "
            "(id, action, inputs, connection, resume, cancel, choices)",
        }
        for k in data
        if k not in _REQUEST_KEYS
    ]
    if "id" in data and not request_id(data)[0]:
        problems.append({"field": "id", "message": "must be a string or a finite number"})
    if "choices" in data:
        problems += _choices_problems(data)
    handles = [k for k in _HANDLE_KEYS if k in data]
    problems.extend(
        {"field": key, "message": "must be an operation handle (op_…)"}
        for key in handles
        if not isinstance(data[key], str) or not data[key]
    )
    if len(handles) > 1:
        problems.append({"field": "cancel", "message": "give either resume or cancel"})
    action = data.get("action")
    # A handle names its action, and so does a choices request.
    named = (handles or "choices" in data) and action is None
    if not named and (not isinstance(action, str) or not action):
        problems.append({"field": "action", "message": "must be the name of an action"})
    if not isinstance(data.get("inputs", {}), dict):
        problems.append(
            {"field": "inputs", "message": f"must be an object, not {_kind(data['inputs'])}"}
        )
    problems += _connection_problems(data.get("connection"))
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidRequest(f"the request has the wrong shape: {fields}", details=problems)
    _refuse_unrepresentable(bad_values)
    return data


def _choices_problems(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A choices request names its action and inputs inside ``choices``, and nothing else."""
    from connectorkit.call._choices import ask_problems  # noqa: PLC0415 - only for choices

    problems = ask_problems(data["choices"])
    problems += [
        {"field": key, "message": "is not a field of a choices request: put it in choices"}
        for key in ("action", "inputs")
        if key in data
    ]
    problems += [
        {"field": key, "message": "cannot go with choices"} for key in _HANDLE_KEYS if key in data
    ]
    return problems


def _refuse_unrepresentable(found: list[tuple[str, str]]) -> None:
    """Text or numbers that cannot travel as JSON: the field that holds them is refused."""
    if not found:
        return
    for prefix, error in (("inputs.", InvalidInput), ("connection.", InvalidConnection)):
        details = [
            {"field": path.removeprefix(prefix if error is InvalidInput else ""), "message": why}
            for path, why in found
            if path.startswith(prefix)
        ]
        if details:
            fields = ", ".join(dict.fromkeys(d["field"] for d in details))
            raise error(f"invalid {fields}: {details[0]['message']}", details=details)
    details = [{"field": path, "message": why} for path, why in found]
    raise InvalidRequest(f"the request has the wrong shape: {details[0]['field']}", details=details)


def parse_request(text: str | bytes) -> dict[str, Any]:
    """Decode one request and check its shape (not the inputs: bind does that)."""
    return check_request(*decode_request(text))


def _connection_problems(connection: Any) -> list[dict[str, Any]]:
    if connection is None:
        return []
    if not isinstance(connection, dict):
        return [{"field": "connection", "message": "must be an object"}]
    problems = [
        {
            "field": f"connection.{k}",
            "message": "is not a connection field (key, values, token, name)",
        }
        for k in connection
        if k not in _CONNECTION_KEYS
    ]
    for name, kinds in (("key", (str,)), ("values", (dict,)), ("token", (dict,)), ("name", (str,))):
        value = connection.get(name)
        if value is not None and not isinstance(value, kinds):
            what = "a string" if kinds == (str,) else "an object"
            problems.append({"field": f"connection.{name}", "message": f"must be {what}"})
    token = connection.get("token")
    if isinstance(token, dict):
        problems += _token_problems(token)
    return problems


def _token_problems(token: Mapping[str, Any]) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    for name in ("access_token", "refresh_token", "token_type", "scope"):
        value = token.get(name)
        if value is not None and not isinstance(value, str):
            problems.append({"field": f"connection.token.{name}", "message": "must be a string"})
    expires_at = token.get("expires_at")
    if expires_at is not None and (
        isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))
    ):
        problems.append(
            {"field": "connection.token.expires_at", "message": "must be seconds since the epoch"}
        )
    return problems


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def handle(
    pack: Pack,
    runner: Runner,
    request: Mapping[str, Any],
    *,
    rows: Iterable[Any] | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
    emit: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Bind and run one parsed request; the response envelope (never raises ConnectorError).

    ``rows`` (``connectorkit push``): a batch action's elements read from a file, standing in
    for its batch input; ``watch`` receives the call's progress; ``emit`` the items a paged
    call streams (``stream``). A request with ``resume`` or ``cancel`` goes on with, or
    cancels, an operation handle.
    """
    from connectorkit._bind import bind_action  # noqa: PLC0415 - not for a bad envelope

    if any(request.get(k) for k in _HANDLE_KEYS):
        return _handle_operation(pack, runner, request, watch=watch)
    if "choices" in request:
        return _handle_choices(pack, runner, request)
    action = request.get("action")
    connection = None
    try:
        inputs = request.get("inputs") or {}
        if rows is not None and isinstance(action, str) and action in pack.actions:
            batch = pack.actions[action].request.batch
            if batch is not None:  # one stand-in element: binding checks the other inputs
                inputs = {**inputs, batch.input: [{}]}
        bound = bind_action(pack, action, inputs)
        connection = _connection(pack, runner, request)
    except ConnectorError as exc:
        return _envelope(request, action, error=exc)
    remember_secrets(connection.secrets)
    try:
        outcome = runner.run(
            bound, connection, pack.budgets, rows=rows, watch=watch, pack=pack, emit=emit
        )
        return _answered(request, action, outcome)
    except Exception as exc:  # noqa: BLE001 - a defect: logged while its secrets are still known
        return _envelope(request, action, error=_internal(exc))
    finally:
        forget_secrets(connection.secrets)


def _connection(pack: Pack, runner: Runner, request: Mapping[str, Any]) -> BoundConnection:
    """The request's connection, bound; a stored one is read from the state store first."""
    from connectorkit._bind import bind_connection  # noqa: PLC0415 - not for a bad envelope

    raw = request.get("connection")
    if raw is not None and raw.get("name") is not None:
        from connectorkit.call._named import resolve_stored  # noqa: PLC0415 - only when named

        raw = resolve_stored(runner.state, raw)
    return bind_connection(pack, raw)


def _handle_choices(pack: Pack, runner: Runner, request: Mapping[str, Any]) -> dict[str, Any]:
    """The choices of one input (or the shape of its value), from the service."""
    from connectorkit.call._choices import run_choices  # noqa: PLC0415 - only for choices

    ask = request["choices"]
    action = ask.get("action")
    connection = None
    try:
        connection = _connection(pack, runner, request)
        remember_secrets(connection.secrets)
        outcome = run_choices(pack, runner, ask, connection)
        return _answered(request, action, outcome)
    except ConnectorError as exc:
        return _envelope(request, action, error=exc)
    except Exception as exc:  # noqa: BLE001 - a defect: logged while its secrets are still known
        return _envelope(request, action, error=_internal(exc))
    finally:
        if connection is not None:
            forget_secrets(connection.secrets)


def _handle_operation(
    pack: Pack,
    runner: Runner,
    request: Mapping[str, Any],
    *,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Go on with (``resume``) or cancel an operation handle kept in the state store."""
    from connectorkit._bind import bind_action  # noqa: PLC0415

    verb = "cancel" if request.get("cancel") else "resume"
    handle = str(request[verb])
    action = request.get("action")
    connection = None
    try:
        record = runner.operations.get(handle)
        if record is None:
            raise InvalidRequest(
                f"no operation {handle!r} in the state store ({runner.state.store.url}): it "
                "was started with another store, or it ended more than a week ago",
                details=[{"field": verb, "message": "is not an operation handle of this store"}],
            )
        if action is not None and action != record["action"]:
            raise InvalidRequest(
                f"the operation {handle} belongs to '{record['action']}', not '{action}'",
                details=[{"field": "action", "message": f"must be {record['action']}"}],
            )
        action = record["action"]
        if action not in pack.actions or pack.actions[action].multistep is None:
            raise InvalidRequest(
                f"the operation {handle} is of '{action}', which this pack does not follow",
                details=[{"field": verb, "message": "belongs to another pack"}],
            )
        # The handle's inputs, with what this call says (wait, timeout, save_to …) on top.
        bound = bind_action(pack, action, {**record["inputs"], **(request.get("inputs") or {})})
        connection = _connection(pack, runner, request)
    except ConnectorError as exc:
        return _envelope(request, action, error=exc)
    remember_secrets(connection.secrets)
    try:
        outcome = runner.run(
            bound,
            connection,
            pack.budgets,
            pack=pack,
            watch=watch,
            resume=record,
            cancel=verb == "cancel",
        )
        return _answered(request, action, outcome)
    except Exception as exc:  # noqa: BLE001 - a defect: logged while its secrets are still known
        return _envelope(request, action, error=_internal(exc))
    finally:
        forget_secrets(connection.secrets)


def _answered(request: Mapping[str, Any], action: Any, outcome: Outcome) -> dict[str, Any]:
    """The envelope of a call that ran; a token it obtained is masked from now on."""
    if outcome.token:
        remember_secrets(
            str(outcome.token[k]) for k in ("access_token", "refresh_token") if outcome.token.get(k)
        )
    return _envelope(
        request,
        action,
        result=outcome.result,
        error=outcome.error,
        token=outcome.token,
        meta=outcome.meta,
    )


def _internal(exc: Exception) -> InternalError:
    """Log a defect (masked; the traceback only with --verbose) and the error that reports it."""
    log.error(
        "internal error: %s: %s",
        type(exc).__name__,
        mask(str(exc)),
        exc_info=log.isEnabledFor(logging.DEBUG),
    )
    return InternalError(f"internal error ({type(exc).__name__}); see stderr with --verbose")


def _envelope(
    request: Mapping[str, Any],
    action: Any,
    *,
    result: Any = None,
    error: ConnectorError | None = None,
    token: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    usable, identifier = request_id(request)
    if usable:
        out["id"] = identifier
    out["ok"] = error is None
    if isinstance(action, str):
        out["action"] = action
    if error is None:
        out["result"] = result
    else:
        out["error"] = _masked(error.to_dict())
    if token:
        out["token"] = dict(token)
    if meta is not None:
        out["meta"] = dict(meta)
    return out


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def respond(
    pack: Pack | ConnectorError,
    runner: Runner,
    text: str | bytes,
    *,
    sink: Callable[[str], None] | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """The whole pipeline for one request text: the envelope and the exit code. Never raises.

    ``sink``: where the lines of items a paged call streams go (``stream: true``), each
    ``{"id", "item"}`` as one line of strict JSON, before the envelope. ``watch``: told how
    the call goes (an operation's polls, pages read), for a person's progress line.
    """
    return answer(pack, runner, take_request(text), sink=sink, watch=watch)


class StreamClosed(ConnectorError):
    """Nobody reads the streamed items any more (stdout was closed): the call stops."""


def _item_emitter(
    request: Mapping[str, Any], sink: Callable[[str], None] | None
) -> Callable[[Any], None] | None:
    """What writes one streamed item of ``request`` as a line to ``sink``."""
    if sink is None:
        return None
    import msgspec  # noqa: PLC0415 - loaded already: requests are decoded with it

    usable, identifier = request_id(request)
    prefix: dict[str, Any] = {"id": identifier} if usable else {}
    encode = msgspec.json.Encoder().encode

    def emit(item: Any) -> None:
        line = {**prefix, "item": item}
        try:
            # An item was parsed as strict JSON, so it holds nothing JSON cannot carry; the
            # careful encoder is for what the fast one refuses.
            sink(encode(line).decode() + "\n")
        except (TypeError, ValueError):
            sink(_dump(line))

    return emit


class Taken:
    """One request read and decoded (or why it could not be), before any pack is needed.

    ``invoke`` decodes first and drops the request's text at once, so a big push does not carry
    its text while it runs; the pack and the HTTP stack are loaded after the decoding, so the
    peak of a big request is its text, its rows and little else.
    """

    __slots__ = ("bad_values", "error", "request")

    def __init__(
        self,
        request: dict[str, Any],
        bad_values: list[tuple[str, str]],
        error: Exception | None = None,
    ) -> None:
        self.request = request
        self.bad_values = bad_values
        self.error = error


def take_request(text: str | bytes) -> Taken:
    """Decode one request text; never raises (a failure is kept for :func:`answer`)."""
    try:
        return Taken(*decode_request(text))
    except Exception as exc:  # noqa: BLE001 - answered by `answer`, in the envelope
        return Taken({}, [], exc)


def _raise_if_failed(taken: Taken) -> None:
    if taken.error is not None:
        raise taken.error


def answer(
    pack: Pack | ConnectorError,
    runner: Runner,
    taken: Taken,
    *,
    sink: Callable[[str], None] | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """Check and run a decoded request: the envelope and the exit code. Never raises.

    ``sink`` receives the lines of streamed items, ``watch`` the progress (see :func:`respond`).
    """
    request = taken.request
    try:
        _raise_if_failed(taken)
        check_request(request, taken.bad_values)
        if isinstance(pack, ConnectorError):
            response = _envelope(request, _action_named(request), error=pack)
        else:
            plain = PLAIN_INPUTS.set(True)  # decoded from JSON text: plain JSON values only
            try:
                emit = _item_emitter(request, sink)
                response = handle(pack, runner, request, watch=watch, emit=emit)
            finally:
                PLAIN_INPUTS.reset(plain)
    except ConnectorError as exc:
        response = _envelope(request, _action_named(request), error=exc)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback on stdout
        response = _envelope(request, _action_named(request), error=_internal(exc))
    return response, _exit_code(response)


def _action_named(request: Mapping[str, Any]) -> Any:
    """The action a request names: its own, or the one its choices are of."""
    ask = request.get("choices")
    if "action" not in request and isinstance(ask, dict):
        return ask.get("action")
    return request.get("action")


def _exit_code(response: Mapping[str, Any]) -> int:
    if response.get("ok"):
        return 0
    return EXIT_CODES.get(response["error"]["type"], InternalError.exit_code)


def _dump(response: Mapping[str, Any]) -> str:
    return dumps(response) + "\n"


# Exit code of a worker whose stdout reader went away, as for a process killed by SIGPIPE.
EXIT_STDOUT_CLOSED = 141


# The envelope exactly as invoke writes it, for the other front ends (`connectorkit run --json`).
dump_response = _dump


def print_response(response: Mapping[str, Any], stdout: TextIO | None = None) -> int:
    """Write ``response`` as one line of strict JSON; its exit code."""
    out = stdout if stdout is not None else sys.stdout
    out.write(_dump(response))
    out.flush()
    return _exit_code(response)


def read_request(stdin: IO[str] | IO[bytes]) -> Taken:
    """Read and decode ``invoke``'s one request; its text is not kept."""
    text = stdin.read()
    if not text.strip():
        return Taken({}, [], InvalidRequest("no request on stdin: send one JSON object"))
    return take_request(text)


def invoke(
    pack: Pack | ConnectorError | Callable[[], tuple[Pack | ConnectorError, Runner]],
    runner: Runner | None,
    stdin: IO[str] | IO[bytes],
    stdout: TextIO,
    *,
    keep: list[Any] | None = None,
) -> int:
    """Read one request from ``stdin``, write one response to ``stdout``; the exit code.

    ``pack`` may be a function giving the pack and the runner (``runner`` is then None): it is
    called once the request is decoded, so a big request is parsed before they are loaded.
    ``keep``: the decoded request is put there instead of being freed here, for a process that
    ends without freeing anything (a million rows take a third of a second to free); the garbage
    collector then stops scanning it too (it can hold no garbage: it lives until the end).
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
    if callable(pack):
        pack, runner = pack()
    assert runner is not None  # noqa: S101 - given, or made with the pack
    gone = False

    def sink(line: str) -> None:
        nonlocal gone
        try:
            stdout.write(line)  # flushed when the buffer fills, and with the envelope
        except (BrokenPipeError, ValueError):
            gone = True
            raise StreamClosed("stdout was closed while items were streamed") from None

    response, code = answer(pack, runner, taken, sink=sink)
    del taken
    if gone:
        return EXIT_STDOUT_CLOSED
    try:
        stdout.write(_dump(response))
        stdout.flush()
    except (BrokenPipeError, ValueError):  # nobody reads stdout any more (ValueError: closed)
        return EXIT_STDOUT_CLOSED
    return code


def _answer(
    pack: Pack | ConnectorError,
    runner: Runner,
    line: str | bytes,
    sink: Callable[[str], None] | None = None,
) -> str:
    """One line of ``serve``'s output for one line of input; never raises.

    Streamed items go to ``sink`` as they come, before this line.
    """
    try:
        response, _ = respond(pack, runner, line, sink=sink)
        return _dump(response)
    except Exception as exc:  # noqa: BLE001 - respond never raises; this is the last guard
        log.error("internal error while answering a line: %s", type(exc).__name__)  # noqa: TRY400
        error = InternalError(f"internal error ({type(exc).__name__}); see stderr with --verbose")
        return _dump(_envelope({}, None, error=error))


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
_ITEMS_DONE = "\x00done"  # the end of a request's items (a JSON line never holds a NUL)


class _Worker:
    """The threads of ``serve``: a reader, the pool that answers, a writer that keeps the order."""

    def __init__(
        self,
        answer: Callable[[str | bytes, Callable[[str], None]], str],
        stdin: IO[str] | IO[bytes],
        stdout: TextIO,
        concurrency: int,
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only serve

        self.answer = answer
        self.stdin = stdin
        self.stdout = stdout
        self.concurrency = concurrency
        self.gone = threading.Event()  # stdout's reader went away
        self.finished = threading.Event()  # every answer written, or gone
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="connectorkit")
        # Each line's answer, with the channel its streamed items come through first.
        self.pending: queue.Queue[tuple[Future[str], queue.Queue[str]] | None] = queue.Queue(
            maxsize=concurrency * 4
        )

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

    def emit(self, text: str) -> bool:
        """Write one answer; ``False`` when nobody reads stdout any more."""
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except (OSError, ValueError):  # a broken pipe, or a closed stream
            self.gone.set()
            self.finished.set()
            return False
        return True

    def write_item(self, text: str) -> None:
        """Write one streamed item's line (flushed with the answer after it)."""
        try:
            self.stdout.write(text)
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
                    items: queue.Queue[str] = queue.Queue(maxsize=_STREAM_BUFFER)
                    self.put((self.pool.submit(self.produce, line, items), items))
        finally:
            self.put(None)

    def produce(self, line: str | bytes, items: queue.Queue[str]) -> str:
        """Answer ``line`` on a pool thread, its streamed items going through ``items``."""

        def sink(text: str) -> None:
            if not self.offer(items, text):
                raise StreamClosed("stdout was closed while items were streamed")

        try:
            return self.answer(line, sink)
        finally:
            self.offer(items, _ITEMS_DONE)

    def offer(self, items: queue.Queue[str], text: str) -> bool:
        """Pass ``text`` to the writer, waiting for room while somebody reads stdout."""
        while not self.gone.is_set():
            try:
                items.put(text, timeout=0.5)
            except queue.Full:
                continue
            return True
        return False

    def put(self, item: tuple[Future[str], queue.Queue[str]] | None) -> None:
        """Queue ``item``, waiting for room only as long as somebody reads stdout."""
        while not self.gone.is_set():
            try:
                self.pending.put(item, timeout=0.5)
            except queue.Full:
                continue
            return

    def write(self) -> None:
        """Write the answers in the order of their lines, each after its streamed items."""
        try:
            while (entry := self.pending.get()) is not None:
                future, items = entry
                while (text := items.get()) is not _ITEMS_DONE:
                    try:
                        self.write_item(text)
                    except StreamClosed:
                        return
                if not self.emit(future.result()):
                    return
        finally:
            self.finished.set()


def serve(
    pack: Pack | ConnectorError,
    runner: Runner,
    stdin: IO[str] | IO[bytes],
    stdout: TextIO,
    *,
    concurrency: int = 4,
) -> int:
    """One request per line in, one response per line out, in the same order, until EOF.

    Up to ``concurrency`` requests run at once (sharing the HTTP client and the token cache); a
    slow request holds back the responses after it, so a platform can match lines by position.
    Every non-blank line gets exactly one answer. When the reader of stdout goes away the worker
    stops at once and returns :data:`EXIT_STDOUT_CLOSED` (0 at the end of stdin otherwise).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be 1 or more")
    return _Worker(
        lambda line, sink: _answer(pack, runner, line, sink), stdin, stdout, concurrency
    ).run()
