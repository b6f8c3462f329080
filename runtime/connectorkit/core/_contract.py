"""The request contract: typed structures that decode and check a request in one pass.

``invoke`` and ``serve`` decode a request's text straight into :class:`Request` (msgspec checks
each field's type as it parses); a Python caller's mapping is converted into the same structure
(:func:`request_from`). The published JSON Schema, ``schemas/request.schema.json``, is generated
from these structures (:func:`request_schema`; a test fails when the file differs), and a request
they refuse is explained field by field by the same types (:func:`request_problems`): the check,
its messages and the schema cannot drift apart.

Each field's message for a caller is in its ``Meta(extra={"problem": ...})``; ``{kind}`` in it
is replaced by what the caller sent ("an array", "null").
"""

# No ``from __future__ import annotations`` here: msgspec reads these structures' annotations to
# decode, and annotations kept as text would each be compiled and evaluated at every start-up.
import contextlib
import functools
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from connectorkit.core._errors import InvalidConnection, InvalidInput, InvalidRequest
from connectorkit.core._json import unrepresentable

__all__ = [
    "Choices",
    "Connection",
    "LazyRequest",
    "Request",
    "Token",
    "not_json",
    "reading_request_text",
    "realize",
    "refuse",
    "refuse_unrepresentable",
    "request_from",
    "request_problems",
    "request_schema",
]

_STRING = "must be a string"
_HANDLE = "must be an operation handle (op_…)"


class Token(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An OAuth 2.0 token as the platform stored it (from `connectorkit auth login` or an earlier response)."""  # noqa: E501 - the schema's description, one sentence

    access_token: Annotated[str | None, Meta(extra={"problem": _STRING})] = None
    refresh_token: Annotated[str | None, Meta(extra={"problem": _STRING})] = None
    expires_at: Annotated[
        int | float | None,
        Meta(
            description="Seconds since the epoch at which the access token expires.",
            extra={"problem": "must be seconds since the epoch"},
        ),
    ] = None
    token_type: Annotated[str | None, Meta(examples=["Bearer"], extra={"problem": _STRING})] = None
    scope: Annotated[str | None, Meta(extra={"problem": _STRING})] = None

    def as_dict(self) -> dict[str, Any]:
        """The fields given (not null), as the auth flow keeps a token."""
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not None}


class Connection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The connection to call the service with: its values and token, or a stored connection's name."""  # noqa: E501 - the schema's description, one sentence

    key: Annotated[
        str | None,
        Meta(
            description="A connection of the pack (oauth2, client_credentials); omitted: the "
            "pack's default connection.",
            extra={"problem": _STRING},
        ),
    ] = None
    values: Annotated[
        dict[str, Any] | None,
        Meta(
            description="The connection's values by key; each omitted one takes the default the "
            "pack declares. Binding checks each against the connection's definition.",
            extra={"problem": "must be an object"},
        ),
    ] = None
    token: Annotated[Token | None, Meta(extra={"problem": "must be an object"})] = None
    name: Annotated[
        str | None,
        Meta(
            description="A connection kept in the state store under this name (`connectorkit "
            "connections`): its key, values and newest token come from there, and `values` "
            "given here override stored ones.",
            extra={"problem": _STRING},
        ),
    ] = None

    def as_dict(self) -> dict[str, Any]:
        """The fields given (not null), as binding reads a connection."""
        out: dict[str, Any] = {}
        if self.key is not None:
            out["key"] = self.key
        if self.values is not None:
            out["values"] = self.values
        if self.token is not None:
            out["token"] = self.token.as_dict()
        if self.name is not None:
            out["name"] = self.name
        return out


class Choices(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Ask for the choices of one input of an action (or the shape of its value), given the inputs filled in so far: the service is asked through the connection, as the input's choices say."""  # noqa: E501 - the schema's description, one sentence

    action: Annotated[
        str,
        Meta(
            min_length=1,
            description="The action whose form is being filled in.",
            extra={"problem": "must name an action"},
        ),
    ]
    input: Annotated[
        str,
        Meta(
            min_length=1,
            description="The input whose choices are wanted.",
            extra={"problem": "must name an input"},
        ),
    ]
    inputs: Annotated[
        dict[str, Any],
        Meta(
            description="The inputs given so far (those the choices depend on: the workspace "
            "chosen, the dataset).",
            extra={"problem": "must be an object"},
        ),
    ] = {}
    search: Annotated[
        str | None,
        Meta(
            description="Text typed: the choices whose label or value holds it (or, where the "
            "service filters, those it finds).",
            extra={"problem": _STRING},
        ),
    ] = None
    continuation: Annotated[
        str | None,
        Meta(
            description="The continuation of an earlier answer: the next choices.",
            extra={"problem": _STRING},
        ),
    ] = None
    refresh: Annotated[
        bool | None,
        Meta(
            description="true: ask the service even when an answer of the last minute is kept.",
            extra={"problem": "must be true or false"},
        ),
    ] = None


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One request to `connectorkit invoke` (stdin) or one line to `connectorkit serve`."""

    id: (
        Annotated[
            str | int | float | None,
            Meta(
                description="Optional; echoed back in the response so a caller can match the two.",
                extra={"problem": "must be a string or a finite number", "finite": True},
            ),
        ]
        | UnsetType
    ) = UNSET
    action: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="The key of an action of the pack, e.g. create_rows; with resume or "
                "cancel it may be left out (the handle names it).",
                extra={"problem": "must be the name of an action"},
            ),
        ]
        | UnsetType
    ) = UNSET
    inputs: (
        Annotated[
            dict[str, Any],
            Meta(
                description="The action's inputs by key; omitted inputs take their defaults.",
                extra={"problem": "must be an object, not {kind}"},
            ),
        ]
        | UnsetType
    ) = UNSET
    connection: Annotated[Connection | None, Meta(extra={"problem": "must be an object"})] = None
    resume: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="An operation handle (op_…) a call returned with status running: go "
                "on with it (inputs may set wait, timeout, save_to); action may be left out.",
                extra={"problem": _HANDLE},
            ),
        ]
        | UnsetType
    ) = UNSET
    cancel: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="An operation handle to cancel at the service.",
                extra={"problem": _HANDLE},
            ),
        ]
        | UnsetType
    ) = UNSET
    choices: (
        Annotated[Choices, Meta(extra={"problem": "must be an object: {{action, input, inputs}}"})]
        | UnsetType
    ) = UNSET
    trigger: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="A poll: the key of a trigger of the pack; the answer holds the new "
                "events of the subscription.",
                extra={"problem": "must be the name of a trigger"},
            ),
        ]
        | UnsetType
    ) = UNSET
    subscription: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=200,
                description="With trigger: the platform's id of what it follows (this trigger "
                "with these inputs); its position is kept in the state store.",
                extra={"problem": "must be the subscription's id (your name for what you follow)"},
            ),
        ]
        | UnsetType
    ) = UNSET
    cursor: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="With trigger: poll from this earlier answer's cursor instead of "
                "where the subscription stands (an answer that was lost comes again).",
                extra={"problem": "must be the cursor of an earlier answer"},
            ),
        ]
        | UnsetType
    ) = UNSET

    def __post_init__(self) -> None:
        given = {name for name in _CHOICE if getattr(self, name) is not UNSET}
        for problem in _choice_problems(given):
            raise ValueError(f"{problem['field']}: {problem['message']}")

    @property
    def given_inputs(self) -> dict[str, Any]:
        """The inputs (none given: none)."""
        return self.inputs if not isinstance(self.inputs, UnsetType) else {}

    @property
    def handle(self) -> str | None:
        """The operation handle this request goes on with or cancels, if any."""
        for name in _HANDLES:
            value = getattr(self, name)
            if value is not UNSET:
                return str(value)
        return None


# Exactly one of these says what a request does: run an action, go on with (or cancel) the
# operation handle of an earlier one (an action named beside a handle must be its own), ask
# for an input's choices (which name their action and inputs themselves), or poll a trigger's
# subscription (its inputs are the trigger's).
_HANDLES = ("resume", "cancel")
_POLL = ("trigger", "subscription", "cursor")
_CHOICE = ("action", "inputs", *_HANDLES, "choices", *_POLL)


def _choice_problems(given: set[str]) -> list[dict[str, str]]:
    """What is wrong with the choice of what to do, from the fields a request gives."""
    if given & set(_POLL):
        return _poll_problems(given)
    if "choices" in given:
        problems = [
            {"field": key, "message": "is not a field of a choices request: put it in choices"}
            for key in ("action", "inputs")
            if key in given
        ]
        return problems + [
            {"field": key, "message": "cannot go with choices"} for key in _HANDLES if key in given
        ]
    handles = [name for name in _HANDLES if name in given]
    if len(handles) > 1:
        return [{"field": handles[-1], "message": "give either resume or cancel"}]
    if not handles and "action" not in given:
        return [{"field": "action", "message": "must be the name of an action"}]
    return []


def _poll_problems(given: set[str]) -> list[dict[str, str]]:
    """A poll names its trigger and subscription (and maybe a cursor), and no action."""
    problems = [
        {"field": "trigger", "message": f"must be the name of a trigger: {key} goes with one"}
        for key in ("subscription", "cursor")
        if key in given and "trigger" not in given
    ]
    if "trigger" in given and "subscription" not in given:
        problems.append(
            {
                "field": "subscription",
                "message": "must be the subscription's id (your name for what you follow)",
            }
        )
    return problems + [
        {"field": key, "message": "cannot go with trigger: a poll names no action"}
        for key in ("action", *_HANDLES, "choices")
        if key in given and "trigger" in given
    ]


def _choice_schema() -> list[dict[str, Any]]:
    """The choice above as JSON Schema (``oneOf``)."""
    others = ("choices", "trigger")
    choices = [
        {
            "required": ["action"],
            "not": {"anyOf": [{"required": [h]} for h in (*_HANDLES, *others)]},
        }
    ]
    for handle in _HANDLES:
        excluded = [{"required": [o]} for o in (*_HANDLES, *others) if o != handle]
        choices.append({"required": [handle], "not": {"anyOf": excluded}})
    excluded = [{"required": [k]} for k in ("action", "inputs", *_HANDLES, "trigger")]
    choices.append({"required": ["choices"], "not": {"anyOf": excluded}})
    excluded = [{"required": [k]} for k in ("action", *_HANDLES, "choices")]
    choices.append({"required": ["trigger", "subscription"], "not": {"anyOf": excluded}})
    return choices


def _lazy() -> type[msgspec.Struct]:
    """:class:`Request` with each input left as its JSON text (the same rules otherwise)."""
    hints = typing.get_type_hints(Request, include_extras=True)
    fields: list[tuple[str, Any, Any]] = []
    for field in msgspec.structs.fields(Request):
        kind = dict[str, msgspec.Raw] | UnsetType if field.name == "inputs" else hints[field.name]
        if field.required:
            fields.append((field.name, kind, msgspec.NODEFAULT))
        elif field.default_factory is not msgspec.NODEFAULT:
            fields.append((field.name, kind, msgspec.field(default_factory=field.default_factory)))
        else:
            fields.append((field.name, kind, field.default))
    return msgspec.defstruct(
        "LazyRequest", fields, kw_only=True, forbid_unknown_fields=True, module=__name__
    )


# A request whose inputs are decoded once its action is known: ``invoke`` leaves a push's rows
# as text there, and decodes them a block at a time as it checks them.
LazyRequest = _lazy()


def realize(lazy: Any, keep: str | None = None) -> tuple[Request, msgspec.Raw | None]:
    """The :class:`Request` of a :data:`LazyRequest`, its inputs decoded but ``keep``.

    ``keep`` (the batch input of a push) stays JSON text, returned beside the request. Raises
    msgspec's ``DecodeError`` (or ``ValueError``) for an input msgspec cannot read: the text
    is then read again whole, the way that explains it.
    """
    given = lazy.inputs if not isinstance(lazy.inputs, UnsetType) else None
    request = Request(
        id=lazy.id,
        action=lazy.action,
        inputs=UNSET
        if given is None
        else {k: msgspec.json.decode(v) for k, v in given.items() if k != keep},
        connection=lazy.connection,
        resume=lazy.resume,
        cancel=lazy.cancel,
        choices=lazy.choices,
        trigger=lazy.trigger,
        subscription=lazy.subscription,
        cursor=lazy.cursor,
    )
    return request, given.get(keep) if given is not None and keep is not None else None


# -- a Python caller's request ---------------------------------------------------------------


def request_from(data: Mapping[str, Any]) -> Request:
    """A request a Python caller built (a mapping), checked as a request's text would be.

    Its values are kept as they are (a check of them proves their types); text or numbers JSON
    cannot carry (a lone surrogate, NaN) are refused by the field that holds them, as in text.
    """
    if not isinstance(data, dict):
        data = dict(data)
    try:
        request = msgspec.convert(data, Request)
    except msgspec.ValidationError:
        refuse(data)
        raise  # pragma: no cover - refuse() raises for whatever convert refused
    refuse_unrepresentable(unrepresentable(data))
    return request


def refuse(data: dict[str, Any]) -> None:
    """Raise the ``invalid_request`` naming every field of ``data`` the contract refuses."""
    problems = request_problems(data)
    if not problems:  # the types refused it, their explanation found nothing: say what msgspec said
        try:
            msgspec.convert(data, Request)
        except msgspec.ValidationError as exc:
            problems = [{"field": "request", "message": str(exc)}]
        else:
            return
    fields = ", ".join(p["field"] for p in problems)
    raise InvalidRequest(f"the request has the wrong shape: {fields}", details=problems)


def not_json(name: str) -> Any:
    """``parse_constant`` for the standard library's ``json``: NaN and Infinity are refused."""
    raise ValueError(f"{name} is not valid JSON")


@contextlib.contextmanager
def reading_request_text() -> Iterator[None]:
    """Around the standard library reading a request's text: its refusal, an ``invalid_request``.

    For a text the fast decoder refused, read again to name the mistake, or to find what JSON
    cannot carry. A context, not a function: ``json.loads`` stays in its caller's frame, so a
    document is refused for its nesting at the same depth as before.
    """
    try:
        yield
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"the request is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the request is not valid JSON: {exc}") from None


def refuse_unrepresentable(found: list[tuple[str, str]]) -> None:
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


# -- explaining a refusal ----------------------------------------------------------------------


def request_problems(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every field of a decoded request object the contract refuses, in the contract's order."""
    return _problems(Request, data, "")


@functools.cache
def _fields(struct: type[msgspec.Struct]) -> tuple[tuple[str, Any, bool, dict[str, Any]], ...]:
    """``(name, type, required, extra)`` of each field of ``struct``, in declared order."""
    hints = typing.get_type_hints(struct, include_extras=True)
    out = []
    for field in msgspec.structs.fields(struct):
        kind = hints[field.name]
        extra: dict[str, Any] = {}
        for part in (kind, *typing.get_args(kind)):
            for meta in getattr(part, "__metadata__", ()):
                if isinstance(meta, Meta) and meta.extra:
                    extra.update(meta.extra)
        out.append((field.name, kind, field.required, extra))
    return tuple(out)


def _struct_in(kind: Any) -> type[msgspec.Struct] | None:
    """The structure a field holds (``Connection | None`` holds a Connection), if any."""
    stack = [kind]
    while stack:
        part = stack.pop()
        if isinstance(part, type) and issubclass(part, msgspec.Struct):
            return part
        stack.extend(typing.get_args(part))
    return None


def _problems(
    struct: type[msgspec.Struct], data: Mapping[str, Any], at: str
) -> list[dict[str, str]]:
    fields = _fields(struct)
    names = [name for name, *_ in fields]
    problems: list[dict[str, str]] = []
    if struct.__struct_config__.forbid_unknown_fields:
        unknown = _UNKNOWN.get(struct, "is not a field ({names})").format(names=", ".join(names))
        problems += [
            {"field": at + str(key), "message": unknown} for key in data if key not in names
        ]
    for name, kind, required, extra in fields:
        if name not in data:
            if required:
                problems.append({"field": at + name, "message": _message(extra, None)})
            continue
        value = data[name]
        try:
            msgspec.convert(value, kind)
        except msgspec.ValidationError:
            inner = _struct_in(kind)
            found = _problems(inner, value, f"{at}{name}.") if inner and type(value) is dict else []
            problems += found or [{"field": at + name, "message": _message(extra, value)}]
            continue
        if extra.get("finite") and unrepresentable(value):
            problems.append({"field": at + name, "message": _message(extra, value)})
    if struct is Request:
        reported = {p["field"] for p in problems}
        problems += [
            p for p in _choice_problems(set(data) & set(_CHOICE)) if p["field"] not in reported
        ]
    return problems


# What a field a structure does not have is called, by structure.
_UNKNOWN = {
    Request: "is not a request field ({names})",
    Connection: "is not a connection field ({names})",
    Choices: "is not a field of choices ({names})",
}


def _message(extra: Mapping[str, Any], value: Any) -> str:
    return str(extra.get("problem", "is not valid here")).format(kind=_kind(value))


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


# -- the published schema ----------------------------------------------------------------------


def request_schema() -> dict[str, Any]:
    """The JSON Schema of a request, as ``schemas/request.schema.json`` publishes it."""
    (top,), components = msgspec.json.schema_components([Request], ref_template="#/$defs/{name}")
    renamed = {name: name.lower() for name in components}
    root = components.pop(top["$ref"].rsplit("/", 1)[1])
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "connectorkit invoke request",
        **{k: v for k, v in root.items() if k != "title"},
        "oneOf": _choice_schema(),
        "dependentRequired": {"subscription": ["trigger"], "cursor": ["trigger"]},
        "$defs": {renamed[name]: body for name, body in components.items()},
    }
    linked: dict[str, Any] = _with_refs(schema, renamed)
    return linked


def _with_refs(value: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            name = value["$ref"].rsplit("/", 1)[1]
            return {**value, "$ref": f"#/$defs/{renamed[name]}"}
        return {k: _with_refs(v, renamed) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_refs(v, renamed) for v in value]
    return value
