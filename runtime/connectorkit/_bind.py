"""Bind: join an action's definition with the caller's inputs, and a connection with its values."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from connectorkit.core._errors import InvalidConnection, InvalidInput, UnknownAction
from connectorkit.core._request import url_problem
from connectorkit.core._template import placeholders, render_value
from connectorkit.pack._value_sets import preset_values
from connectorkit.types._compile import Validator, compile_spec, spec_of
from connectorkit.types._issues import dotted, for_caller

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit.pack._definitions import (
        ActionDef,
        ConnectionDef,
        ErrorHint,
        Pack,
        Quirks,
        ServiceDef,
    )
    from connectorkit.pack._triggers import TriggerDef
    from connectorkit.types._input import InputDef

__all__ = [
    "BoundAction",
    "BoundConnection",
    "BoundTrigger",
    "CallOptions",
    "bind_action",
    "bind_connection",
    "bind_trigger",
    "default_builders",
]

# An action or a trigger definition, looked up by key.
_D = TypeVar("_D")


class CallOptions(msgspec.Struct, frozen=True):
    """The retry, timeout and debug controls every action accepts."""

    timeout_ms: int | None = None
    max_retry_count: int = 0
    retry_delay_ms: int = 0
    use_exponential_backoff: bool = False
    retry_on_all_errors: bool = False
    debug_request: bool = False
    # None: the process's bound (see _bounds).
    max_retry_wait_ms: int | None = None
    max_response_bytes: int | None = None

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> CallOptions:
        """Read the call inputs by name (absent ones keep the defaults above)."""
        timeout = inputs.get("timeout")
        wait = inputs.get("max_retry_wait_ms")
        size = inputs.get("max_response_bytes")
        return cls(
            max_retry_wait_ms=int(wait) if wait is not None else None,
            max_response_bytes=int(size) if size else None,
            timeout_ms=int(timeout) if timeout else None,
            max_retry_count=int(inputs.get("max_retry_count") or 0),
            retry_delay_ms=int(inputs.get("retry_delay_ms") or 0),
            use_exponential_backoff=bool(inputs.get("use_exponential_backoff")),
            retry_on_all_errors=bool(inputs.get("retry_on_all_errors")),
            debug_request=bool(inputs.get("debug_request")),
        )


class BoundAction(msgspec.Struct, frozen=True):
    """An action with validated inputs (defaults applied; absent optional inputs left out)."""

    definition: ActionDef
    inputs: Mapping[str, Any]
    options: CallOptions


class BoundTrigger(msgspec.Struct, frozen=True):
    """A trigger with validated inputs (defaults applied; absent optional inputs left out)."""

    definition: TriggerDef
    inputs: Mapping[str, Any]
    options: CallOptions


class BoundConnection(msgspec.Struct, frozen=True):
    """A connection with every value (defaults applied, templates rendered) and its token."""

    definition: ConnectionDef
    values: Mapping[str, Any]
    token: Mapping[str, Any] | None
    secrets: frozenset[str]
    quirks: Quirks
    hints: tuple[ErrorHint, ...] = ()
    stored: str | None = None  # the name of a stored connection: its tokens live in the store
    # The pack's other services (connector.yaml ``services``), addressed by name.
    services: Mapping[str, ServiceDef] = msgspec.field(default_factory=dict)
    # Set on a connection made for a service: the scope its tokens are asked for.
    service_scope: str | None = None
    service: str | None = None

    @property
    def base_url(self) -> str:
        """The service root every action path is relative to."""
        return str(self.values["base_url"]).rstrip("/")

    def for_service(self, name: str) -> BoundConnection:
        """The connection as service ``name`` sees it: the service's base URL and token scope.

        The same credentials sign in; a token for the service's scope is asked for apart from
        the connection's own (a user's refresh token is redeemed for it), and is never handed
        back as the connection's token.
        """
        service = self.services.get(name)
        if service is None:
            raise InvalidConnection(
                f"the pack declares no service '{name}'",
                details=[{"field": "service", "message": "not in connector.yaml services"}],
            )
        base_url = self._service_value(service, "base_url", service.base_url)
        problem = url_problem(base_url)
        if problem is not None:
            raise InvalidConnection(
                f"the base URL of service '{name}' ({base_url}) {problem}",
                details=[{"field": f"services.{name}.base_url", "message": problem}],
            )
        scope = (
            self._service_value(service, "scope", service.scope)
            if service.scope is not None
            else None
        )
        return msgspec.structs.replace(
            self,
            values={**self.values, "base_url": base_url},
            service_scope=scope,
            service=name,
        )

    def _service_value(self, service: ServiceDef, field: str, template: str) -> str:
        rendered = render_value(template, self.values)
        if isinstance(rendered, str) and rendered:
            return rendered
        needs = sorted(n for n in placeholders(template) if not self.values.get(n))
        raise InvalidConnection(
            f"connection '{self.definition.key}' has no {', '.join(needs) or 'value'}, which the "
            f"{field} of service '{service.key}' ({template}) needs",
            details=[
                {"field": f"connection.values.{n}", "message": f"needed by service {service.key}"}
                for n in needs
            ],
        )


class _Field(msgspec.Struct, frozen=True):
    """One input, compiled: its validator, default and whether a call must give it."""

    key: str
    validator: Validator
    default: Any
    required: bool


_compiled: dict[int, tuple[object, tuple[_Field, ...], frozenset[str]]] = {}
_compiled_lock = threading.Lock()


def _fields(
    definitions: tuple[InputDef, ...], owner: object
) -> tuple[tuple[_Field, ...], frozenset[str]]:
    """The compiled inputs of an action or connection (and their keys); compiled once."""
    cached = _compiled.get(id(owner))
    if cached is not None and cached[0] is owner:
        return cached[1], cached[2]
    fields = tuple(
        _Field(d.key, compile_spec(spec_of(d), lazy=True), d.default, d.required)
        for d in definitions
    )
    keys = frozenset(f.key for f in fields)
    with _compiled_lock:
        _compiled[id(owner)] = (owner, fields, keys)
    return fields, keys


def _validate(
    label: str,
    definitions: tuple[InputDef, ...],
    owner: object,
    raw: Mapping[str, Any],
    error: type[InvalidInput | InvalidConnection],
    *,
    partial: bool = False,
) -> dict[str, Any]:
    fields, keys = _fields(definitions, owner)
    details: list[dict[str, Any]] = []
    if not raw.keys() <= keys:
        known = sorted(keys)
        for key in raw:
            if key not in known:
                close = _close_match(key, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                details.append({"field": key, "message": f"is not an input of {label}{hint}"})
    values: dict[str, Any] = {}
    for field in fields:
        value = raw.get(field.key)
        if value is None:  # null counts as not given
            if field.default is not None:
                # A list or mapping default is copied: a call must not change the definition.
                default = field.default
                values[field.key] = (
                    copy.deepcopy(default) if isinstance(default, list | dict) else default
                )
            elif field.required and not partial:
                details.append({"field": field.key, "message": "is required"})
            continue
        issues = field.validator.check(value)
        if issues:
            details += [
                {"field": dotted((field.key, *issue.at)), "message": for_caller(issue)}
                for issue in issues
            ]
        else:
            values[field.key] = field.validator.normalize(value)
    if details:
        names = ", ".join(dict.fromkeys(d["field"] for d in details))
        raise error(f"{label}: invalid {names}", details=details)
    return values


def default_builders(definition: ConnectionDef) -> dict[str, tuple[str, ...]]:
    """Required values that fill other values' defaults: key -> the values they fill.

    Such a value is needed only while one of those defaults is used: a caller who gives every
    value it fills (e.g. ``token_url`` instead of ``tenant_id``) need not give it.
    """
    built: dict[str, list[str]] = {}
    for value in definition.values:
        if isinstance(value.default, str):
            for name in sorted(placeholders(value.default)):
                built.setdefault(name, []).append(value.key)
    return {v.key: tuple(built[v.key]) for v in definition.values if v.required and v.key in built}


def _connection_values(definition: ConnectionDef, given: Mapping[str, Any]) -> dict[str, Any]:
    """The validated values (defaults applied, not yet rendered); fields named in full."""
    builders = default_builders(definition)
    try:
        try:
            values = _validate(
                f"connection '{definition.key}'",
                _relaxed(definition),
                definition,
                given,
                InvalidConnection,
            )
        except InvalidConnection as exc:
            # Name a missing default-filling value alongside the other problems.
            exc.details = (exc.details or []) + _builder_problems(builders, given, given)
            raise
        _require_builders(definition.key, builders, given, values)
    except InvalidConnection as exc:
        for detail in exc.details or []:
            detail["field"] = f"connection.values.{detail['field']}"
        raise
    return values


_relaxed_values: dict[int, tuple[object, tuple[InputDef, ...]]] = {}


def _relaxed(definition: ConnectionDef) -> tuple[InputDef, ...]:
    """The connection's values, where one that only builds defaults is checked separately."""
    cached = _relaxed_values.get(id(definition))
    if cached is not None and cached[0] is definition:
        return cached[1]
    builders = default_builders(definition)
    relaxed = tuple(
        msgspec.structs.replace(v, required=False) if v.key in builders else v
        for v in definition.values
    )
    with _compiled_lock:
        _relaxed_values[id(definition)] = (definition, relaxed)
    return relaxed


def _require_builders(
    label: str,
    builders: Mapping[str, tuple[str, ...]],
    given: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    """A value that fills defaults is required unless every value it fills was given."""
    details = _builder_problems(builders, given, values)
    if details:
        fields = ", ".join(d["field"] for d in details)
        raise InvalidConnection(f"connection '{label}': invalid {fields}", details=details)


def _builder_problems(
    builders: Mapping[str, tuple[str, ...]],
    given: Mapping[str, Any],
    values: Mapping[str, Any],
) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    for key, built in builders.items():
        if values.get(key) is None and any(given.get(b) in (None, "") for b in built):
            needed = [b for b in built if given.get(b) in (None, "")]
            details.append(
                {
                    "field": key,
                    "message": f"is required (it fills the default of {', '.join(needed)}; "
                    f"giving {' and '.join(needed)} instead also works)",
                }
            )
    return details


def _named(pack: Pack, defined: Mapping[str, _D], key: Any, what: str) -> _D:
    """The pack's action (or trigger) ``key``; :class:`UnknownAction` naming the nearest one."""
    found = defined.get(key) if isinstance(key, str) else None
    if found is None:
        close = _close_match(str(key), sorted(defined), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        # The pack's actions are many (describe lists them): the nearest one, not all of them.
        said = f"did you mean '{close[0]}'?" if close else f"not one of the pack's {what}s"
        raise UnknownAction(
            f"the pack '{pack.key}' has no {what} '{key}'{hint}",
            details=[{"field": what, "message": said}],
        )
    return found


def bind_action(
    pack: Pack, key: Any, inputs: Mapping[str, Any], *, partial: bool = False
) -> BoundAction:
    """Look up ``key`` and validate ``inputs`` against its definition.

    ``partial``: only the inputs given are checked (a form half filled in, as choices see it);
    a required input may be missing.
    """
    action = _named(pack, pack.actions, key, "action")
    values = _validate(
        f"action '{action.key}'", action.inputs, action, inputs, InvalidInput, partial=partial
    )
    return BoundAction(definition=action, inputs=values, options=CallOptions.from_inputs(values))


def bind_trigger(pack: Pack, key: Any, inputs: Mapping[str, Any]) -> BoundTrigger:
    """Look up the trigger ``key`` and validate ``inputs`` against its definition."""
    trigger = _named(pack, pack.triggers, key, "trigger")
    label = f"trigger '{trigger.key}'"
    values = _validate(label, trigger.inputs, trigger, inputs, InvalidInput)
    return BoundTrigger(definition=trigger, inputs=values, options=CallOptions.from_inputs(values))


# serve's calls over one connection each bring the same connection again: its binding (checks,
# defaults, value sets, templates) is kept, keyed by the pack and the connection's content.
_MAX_BOUND = 256
_bound: OrderedDict[tuple[int, bytes], tuple[Pack, BoundConnection]] = OrderedDict()


def bind_connection(pack: Pack, raw: Mapping[str, Any] | None) -> BoundConnection:
    """Choose the connection, validate its values, apply defaults and render their templates.

    The result depends only on ``pack`` and the content of ``raw``, so a binding of the same
    content is reused (it is immutable; a connection that does not bind is checked each time).
    """
    raw = raw or {}
    try:
        # MessagePack tells apart what binding does (1, 1.0 and true; NaN and null; key order
        # only costs a miss), and is the cheapest encoding at hand.
        key: tuple[int, bytes] | None = (id(pack), msgspec.msgpack.encode(raw))
    except (TypeError, ValueError, OverflowError):  # not JSON content: bound every time
        key = None
    if key is not None:
        with _compiled_lock:
            cached = _bound.get(key)
            if cached is not None and cached[0] is pack:
                _bound.move_to_end(key)
                return cached[1]
    bound = _bind_connection(pack, raw)
    if key is not None:
        with _compiled_lock:
            _bound[key] = (pack, bound)
            while len(_bound) > _MAX_BOUND:
                _bound.popitem(last=False)
    return bound


def _bind_connection(pack: Pack, raw: Mapping[str, Any]) -> BoundConnection:
    key = raw.get("key") or pack.default_connection
    definition = pack.connections.get(key) if isinstance(key, str) else None
    if definition is None:
        raise InvalidConnection(
            f"the pack '{pack.key}' has no connection '{key}'",
            details=[
                {"field": "connection.key", "message": f"one of: {', '.join(pack.connections)}"}
            ],
        )
    given = raw.get("values") or {}
    values = _connection_values(definition, given)
    # A value set (the cloud) supplies what the caller did not give; then a default may name
    # other values ("{tenant_id}"); what the caller gave is taken literally.
    values.update(preset_values(pack.value_sets, values, given))
    missing: list[dict[str, Any]] = []
    for value_def in definition.values:
        if value_def.key not in given and isinstance(values.get(value_def.key), str):
            rendered = render_value(values[value_def.key], values)
            if not isinstance(rendered, str):
                needs = sorted(n for n in placeholders(values[value_def.key]) if not values.get(n))
                why = f"is missing, and its default needs {_names(needs, pack, values)}"
                missing.append({"field": f"connection.values.{value_def.key}", "message": why})
                continue
            values[value_def.key] = rendered
    if missing:
        fields = ", ".join(d["field"].rsplit(".", 1)[1] for d in missing)
        raise InvalidConnection(
            f"connection '{definition.key}' has no {fields}: {missing[0]['message']}",
            details=missing,
        )
    _check_urls(definition, values)
    token = raw.get("token")
    secrets = {str(values[k]) for k in definition.secret_keys if values.get(k)}
    # A password inside a URL value (https://user:pass@host/...) is a secret too.
    for value in values.values():
        if isinstance(value, str) and "@" in value:
            secrets |= _url_passwords(value)
    if isinstance(token, dict):
        secrets |= {str(token[k]) for k in ("access_token", "refresh_token") if token.get(k)}
    stored = raw.get("name")
    return BoundConnection(
        definition=definition,
        values=values,
        token=token,
        secrets=frozenset(secrets),
        quirks=pack.quirks,
        hints=pack.error_hints,
        stored=stored if isinstance(stored, str) else None,
        services=pack.services,
    )


def _check_urls(definition: ConnectionDef, values: Mapping[str, Any]) -> None:
    """Every URL value must be one that can be sent to: named here, not failed on at send."""
    details = [
        {"field": f"connection.values.{v.key}", "message": problem}
        for v in definition.values
        if (v.format == "uri" or v.key.endswith("_url"))
        and isinstance(values.get(v.key), str)
        and values[v.key]
        and (problem := url_problem(values[v.key])) is not None
    ]
    if details:
        first = details[0]
        raise InvalidConnection(
            f"connection value '{first['field'].rsplit('.', 1)[1]}' {first['message']}",
            details=details,
        )


def _names(needs: list[str], pack: Pack, values: Mapping[str, Any]) -> str:
    """``a, b``, saying which value set left them out (``cloud`` is ``custom``)."""
    text = ", ".join(needs)
    for selector, options in pack.value_sets.items():
        chosen = values.get(selector)
        given = options.get(chosen) if isinstance(chosen, str) else None
        if given is not None and any(
            n in o and n not in given for o in options.values() for n in needs
        ):
            return f"{text} ('{selector}' is '{chosen}', which does not give them)"
    return text


def _url_passwords(url: str) -> set[str]:
    """The password of a URL's userinfo, as written and decoded (none: empty)."""
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415 - rare: only URLs with userinfo

    try:
        password = urlsplit(url).password
    except ValueError:
        return set()
    return {password, unquote(password)} if password else set()


def _close_match(word: str, known: list[str], n: int = 1) -> list[str]:
    """``difflib.get_close_matches``, imported only when a name is wrong."""
    import difflib  # noqa: PLC0415 - only for a mistake

    return difflib.get_close_matches(word, known, n=n)
