"""The stdin/stdout protocol: requests in, one JSON envelope out per request, exit codes."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from connectorkit._errors import EXIT_CODES, ConnectorError, InternalError, InvalidRequest
from connectorkit._redact import forget_secrets, mask, remember_secrets

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO, TextIO

    from connectorkit._definitions import Pack
    from connectorkit._run import Runner

__all__ = ["dump_response", "handle", "invoke", "parse_request", "respond", "serve"]

log = logging.getLogger("connectorkit")

_REQUEST_KEYS = frozenset({"id", "action", "inputs", "connection"})
_CONNECTION_KEYS = frozenset({"key", "values", "token", "name"})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_request(text: str | bytes) -> dict[str, Any]:
    """Decode one request, checking the envelope's shape (not the inputs: bind does that)."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"the request is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the request is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"the request must be a JSON object, not {_kind(data)}")
    problems = [
        {"field": k, "message": "is not a request field (id, action, inputs, connection)"}
        for k in data
        if k not in _REQUEST_KEYS
    ]
    action = data.get("action")
    if not isinstance(action, str) or not action:
        problems.append({"field": "action", "message": "must be the name of an action"})
    if not isinstance(data.get("inputs", {}), dict):
        problems.append(
            {"field": "inputs", "message": f"must be an object, not {_kind(data['inputs'])}"}
        )
    problems += _connection_problems(data.get("connection"))
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidRequest(f"the request has the wrong shape: {fields}", details=problems)
    return data


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


def handle(pack: Pack, runner: Runner, request: Mapping[str, Any]) -> dict[str, Any]:
    """Bind and run one parsed request; the response envelope (never raises ConnectorError)."""
    from connectorkit._bind import bind_action, bind_connection  # noqa: PLC0415 - not for a bad envelope

    action = request.get("action")
    connection = None
    try:
        bound = bind_action(pack, action, request.get("inputs") or {})
        raw = request.get("connection")
        if raw is not None and raw.get("name") is not None:
            from connectorkit._stored import resolve_stored  # noqa: PLC0415 - only when named

            raw = resolve_stored(runner.state, raw)
        connection = bind_connection(pack, raw)
    except ConnectorError as exc:
        return _envelope(request, action, error=exc)
    remember_secrets(connection.secrets)
    try:
        outcome = runner.run(bound, connection, pack.budgets)
        if outcome.token:
            remember_secrets(
                str(outcome.token[k])
                for k in ("access_token", "refresh_token")
                if outcome.token.get(k)
            )
        return _envelope(
            request,
            action,
            result=outcome.result,
            error=outcome.error,
            token=outcome.token,
            meta=outcome.meta,
        )
    finally:
        forget_secrets(connection.secrets)


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
    if "id" in request:
        out["id"] = request["id"]
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
    pack: Pack | ConnectorError, runner: Runner, text: str | bytes
) -> tuple[dict[str, Any], int]:
    """The whole pipeline for one request text: the envelope and the exit code. Never raises."""
    request: dict[str, Any] = {}
    try:
        request = parse_request(text)
        response = (
            _envelope(request, request.get("action"), error=pack)
            if isinstance(pack, ConnectorError)
            else handle(pack, runner, request)
        )
    except ConnectorError as exc:
        response = _envelope(request, request.get("action"), error=exc)
    except Exception as exc:  # the last line of defence: never a traceback on stdout
        log.error(  # noqa: TRY400 - the traceback may hold secrets; shown only with --verbose
            "internal error: %s: %s",
            type(exc).__name__,
            mask(str(exc)),
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        error = InternalError(f"internal error ({type(exc).__name__}); see stderr with --verbose")
        response = _envelope(request, request.get("action"), error=error)
    return response, _exit_code(response)


def _exit_code(response: Mapping[str, Any]) -> int:
    if response.get("ok"):
        return 0
    return EXIT_CODES.get(response["error"]["type"], InternalError.exit_code)


def _dump(response: Mapping[str, Any]) -> str:
    return json.dumps(response, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


# The envelope exactly as invoke writes it, for the other front ends (`connectorkit run --json`).
dump_response = _dump


def invoke(
    pack: Pack | ConnectorError, runner: Runner, stdin: IO[str] | IO[bytes], stdout: TextIO
) -> int:
    """Read one request from ``stdin``, write one response to ``stdout``; the exit code."""
    text = stdin.read()
    if not text.strip():
        error = InvalidRequest("no request on stdin: send one JSON object")
        response = _envelope({}, None, error=error)
        code = error.exit_code
    else:
        response, code = respond(pack, runner, text)
    stdout.write(_dump(response))
    stdout.flush()
    return code


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
    """

    def one(line: str | bytes) -> str:
        response, _ = respond(pack, runner, line)
        return _dump(response)

    if concurrency <= 1:
        # One at a time needs no threads: answering inline saves two hand-offs per request.
        for line in stdin:
            if line.strip():
                stdout.write(one(line))
                stdout.flush()
        return 0

    import queue  # noqa: PLC0415 - only serve needs these
    import threading  # noqa: PLC0415
    from concurrent.futures import Future, ThreadPoolExecutor  # noqa: PLC0415

    pending: queue.Queue[Future[str] | None] = queue.Queue(maxsize=concurrency * 4)

    def write() -> None:
        while (future := pending.get()) is not None:
            stdout.write(future.result())
            stdout.flush()

    writer = threading.Thread(target=write, name="connectorkit-writer", daemon=True)
    writer.start()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="connectorkit") as pool:
        for line in stdin:
            if line.strip():
                pending.put(pool.submit(one, line))
        pending.put(None)
        writer.join()
    return 0
