"""The one in-process entry point: a request in, its response envelope out.

Every front end calls :func:`call`: ``invoke`` and ``serve`` with a request decoded from text,
and ``run``, ``check``, ``push``, the studio, the examples runner and the Python API with one
they built. Nothing is encoded to JSON to be parsed again on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Self

from msgspec import UNSET, UnsetType

from connectorkit._bind import bind_action, bind_connection
from connectorkit.core._contract import Choices, Request, request_from
from connectorkit.core._errors import ConnectorError, InternalError, InvalidRequest
from connectorkit.core._json import PLAIN_INPUTS, encode, unrepresentable
from connectorkit.core._redact import (
    forget_secrets,
    holds_secret,
    mask,
    mask_value,
    remember_secrets,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from connectorkit._bind import BoundConnection
    from connectorkit.call._run import Outcome, Runner
    from connectorkit.pack._definitions import Pack

__all__ = ["Delivery", "call", "envelope", "internal_error", "request_id"]

log = logging.getLogger("connectorkit")


def call(
    request: Request | Mapping[str, Any],
    pack: Pack,
    runner: Runner,
    *,
    rows: Iterable[Any] | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
    emit: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Check, bind and run one request; its response envelope. Never raises.

    ``request`` is the contract's :class:`Request` as ``invoke`` and ``serve`` decode it from
    text, or a mapping of the same shape a Python caller built (checked as its text would be).
    ``rows`` (``connectorkit push``): a batch action's elements read from a file, standing in
    for its batch input; ``watch`` receives the call's progress; ``emit`` the items a paged call
    streams (``stream``). A request with ``resume`` or ``cancel`` goes on with, or cancels, an
    operation handle; one with ``choices`` asks for an input's choices.
    """
    decoded = isinstance(request, Request)
    try:
        typed = request if isinstance(request, Request) else request_from(request)
    except ConnectorError as exc:
        return envelope(request, error=exc)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: an envelope, always
        return envelope(request, error=internal_error(exc))
    # Decoded from JSON text: plain JSON values only, so a check may skip proving that of a
    # million rows. A Python caller's values are proved.
    plain = PLAIN_INPUTS.set(decoded)
    try:
        return _handle(typed, pack, runner, rows=rows, watch=watch, emit=emit)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: an envelope, always
        return envelope(typed, error=internal_error(exc))
    finally:
        PLAIN_INPUTS.reset(plain)


def _handle(
    request: Request,
    pack: Pack,
    runner: Runner,
    *,
    rows: Iterable[Any] | None,
    watch: Callable[[Mapping[str, Any]], None] | None,
    emit: Callable[[Any], None] | None,
) -> dict[str, Any]:
    """What the request asks: an operation handle, choices, a poll or (here) an action."""
    if request.handle is not None:
        return _handle_operation(request, pack, runner, watch)
    if not isinstance(request.choices, UnsetType):
        return _handle_choices(request, request.choices, pack, runner)
    if not isinstance(request.trigger, UnsetType):
        return _handle_poll(request, request.trigger, pack, runner)
    action = str(request.action)  # a request without a handle names its action
    try:
        inputs = request.given_inputs
        if rows is not None and action in pack.actions:
            batch = pack.actions[action].request.batch
            if batch is not None:  # one stand-in element: binding checks the other inputs
                inputs = {**inputs, batch.input: [{}]}
        bound = bind_action(pack, action, inputs)
        connection = _connection(request, pack, runner)
    except ConnectorError as exc:
        return envelope(request, error=exc)
    remember_secrets(connection.secrets)
    try:
        outcome = runner.run(
            bound, connection, pack.budgets, rows=rows, watch=watch, pack=pack, emit=emit
        )
        return _answered(request, action, outcome)
    except Exception as exc:  # noqa: BLE001 - a defect: logged while its secrets are still known
        return envelope(request, error=internal_error(exc))
    finally:
        forget_secrets(connection.secrets)


def _handle_operation(
    request: Request,
    pack: Pack,
    runner: Runner,
    watch: Callable[[Mapping[str, Any]], None] | None,
) -> dict[str, Any]:
    """Go on with (``resume``) or cancel an operation handle kept in the state store."""
    verb = "cancel" if request.cancel is not UNSET else "resume"
    handle = str(request.handle)
    action: str | None = request.action if request.action is not UNSET else None
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
        action = str(record["action"])
        if action not in pack.actions or pack.actions[action].multistep is None:
            raise InvalidRequest(
                f"the operation {handle} is of '{action}', which this pack does not follow",
                details=[{"field": verb, "message": "belongs to another pack"}],
            )
        # The handle's inputs, with what this call says (wait, timeout, save_to …) on top.
        bound = bind_action(pack, action, {**record["inputs"], **request.given_inputs})
        connection = _connection(request, pack, runner)
    except ConnectorError as exc:
        return envelope(request, error=exc, action=action)
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
        return envelope(request, error=internal_error(exc), action=action)
    finally:
        forget_secrets(connection.secrets)


def _handle_choices(request: Request, ask: Choices, pack: Pack, runner: Runner) -> dict[str, Any]:
    """The choices of one input (or the shape of its value), from the service."""
    from connectorkit.call._choices import run_choices  # noqa: PLC0415 - only for choices

    asked = {f: v for f in ask.__struct_fields__ if (v := getattr(ask, f)) is not None}
    connection = None
    try:
        connection = _connection(request, pack, runner)
        remember_secrets(connection.secrets)
        outcome = run_choices(pack, runner, asked, connection)
        return _answered(request, ask.action, outcome)
    except ConnectorError as exc:
        return envelope(request, error=exc, action=ask.action)
    except Exception as exc:  # noqa: BLE001 - a defect: logged while its secrets are still known
        return envelope(request, error=internal_error(exc), action=ask.action)
    finally:
        if connection is not None:
            forget_secrets(connection.secrets)


def _handle_poll(request: Request, trigger: str, pack: Pack, runner: Runner) -> dict[str, Any]:
    """Poll a trigger's subscription; its position advances once the answer is out."""
    from connectorkit._bind import bind_trigger  # noqa: PLC0415 - only polls load triggers
    from connectorkit.call._poll import run_poll  # noqa: PLC0415

    try:
        bound = bind_trigger(pack, trigger, request.given_inputs)
        connection = _connection(request, pack, runner)
    except ConnectorError as exc:
        return envelope(request, error=exc)
    remember_secrets(connection.secrets)
    try:
        outcome, settle = run_poll(
            runner,
            pack,
            bound,
            connection,
            str(request.subscription),
            request.cursor if isinstance(request.cursor, str) else None,
        )
    except Exception as exc:  # noqa: BLE001 - a defect: logged while its secrets are still known
        return envelope(request, error=internal_error(exc))
    finally:
        forget_secrets(connection.secrets)
    try:
        response = _answered(request, None, outcome)
    except Exception:
        settle(False)  # noqa: FBT003 - no answer goes out
        raise
    _settle_later(settle)
    return response


# The polls answered in this context: their positions advance once the front end wrote them.
_UNSETTLED: ContextVar[list[Callable[[bool], None]] | None] = ContextVar(
    "connectorkit_unsettled", default=None
)


def _settle_later(settle: Callable[[bool], None]) -> None:
    """Hand a poll's settle to the front end that writes its answer (none: settled now)."""
    pending = _UNSETTLED.get()
    if pending is None:
        settle(True)  # noqa: FBT003 - a caller in Python has the answer as it returns
    else:
        pending.append(settle)


class Delivery:
    """The polls a front end's answer holds: settled once it knows the answer got out.

    ``with Delivery() as delivery:`` around :func:`call`, then ``delivery.settle(written)``: a
    poll's subscription moves on only when its answer was written (a lost answer comes again).
    """

    __slots__ = ("_reset", "pending")

    def __init__(self) -> None:
        self.pending: list[Callable[[bool], None]] = []
        self._reset: Token[list[Callable[[bool], None]] | None] | None = None

    def __enter__(self) -> Self:
        self._reset = _UNSETTLED.set(self.pending)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reset is not None:
            _UNSETTLED.reset(self._reset)

    def settle(self, written: Callable[[], bool]) -> bool:
        """Write the answer (``written`` says whether it got out), then settle its polls."""
        delivered = False
        try:
            delivered = written()
        finally:
            for settle in self.pending:
                settle(delivered)
            self.pending.clear()
        return delivered


def _answered(request: Request, action: str | None, outcome: Outcome) -> dict[str, Any]:
    """The envelope of a call that ran; a token it obtained is masked from now on."""
    if outcome.token:
        remember_secrets(
            str(outcome.token[k]) for k in ("access_token", "refresh_token") if outcome.token.get(k)
        )
    return envelope(
        request,
        result=_unechoed(outcome.result),
        error=outcome.error,
        token=outcome.token,
        meta=outcome.meta,
        action=action,
    )


def _unechoed(result: Any) -> Any:
    """``result`` with any secret of the call the service echoed in it masked.

    A service may send back what it was given (a token in an error-ish body, a key in a
    "request" field). The result is encoded once to look (a scan of bytes); only a result that
    holds a secret is walked and masked.
    """
    if result is None or isinstance(result, (bool, int, float)):
        return result
    if not holds_secret(encode(result)):
        return result
    return mask_value(result)


def _connection(request: Request, pack: Pack, runner: Runner) -> BoundConnection:
    """The request's connection bound: given in full, or a stored one named."""
    given = request.connection
    raw = given.as_dict() if given is not None else None
    if given is not None and given.name is not None:
        from connectorkit.call._named import resolve_stored  # noqa: PLC0415 - only when named

        raw = resolve_stored(runner.state, raw or {})
    return bind_connection(pack, raw)


def internal_error(exc: BaseException) -> InternalError:
    """Log a defect (masked; the traceback only with --verbose) and the error that reports it."""
    log.error(
        "internal error: %s: %s",
        type(exc).__name__,
        mask(str(exc)),
        exc_info=log.isEnabledFor(logging.DEBUG),
    )
    return InternalError(f"internal error ({type(exc).__name__}); see stderr with --verbose")


def envelope(
    request: Request | Mapping[str, Any] | None,
    *,
    result: Any = None,
    error: ConnectorError | None = None,
    token: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    """The response envelope of ``request`` (typed, or as decoded when it was refused).

    ``action``: the action that ran, when the request named it by an operation handle.
    """
    out, named, trigger = _named(request, action)
    out["ok"] = error is None
    if isinstance(named, str):
        out["action"] = named
    if isinstance(trigger, str):
        out["trigger"] = trigger
    if error is None:
        out["result"] = result
    else:
        out["error"] = mask_value(error.to_dict())
    if token:
        out["token"] = dict(token)
    if meta is not None:
        out["meta"] = dict(meta)
    return out


def _named(
    request: Request | Mapping[str, Any] | None, action: str | None
) -> tuple[dict[str, Any], Any, Any]:
    """The start of an envelope (its ``id``), the action it names and the trigger it polls."""
    out: dict[str, Any] = {}
    named: Any = action
    trigger: Any = None
    if isinstance(request, Request):
        if request.id is not UNSET:  # null included: it is echoed too
            out["id"] = request.id
        named = named or request.action
        if named is UNSET and not isinstance(request.choices, UnsetType):
            named = request.choices.action
        trigger = request.trigger
    elif isinstance(request, Mapping):
        usable, identifier = request_id(request)
        if usable:
            out["id"] = identifier
        named = named or request.get("action")
        trigger = request.get("trigger")
    return out, named, trigger


def request_id(data: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(usable, id)`` of a decoded request object: echoed only when the response allows it."""
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
