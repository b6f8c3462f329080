"""The choices of one input, or the shape of its value, asked of the service.

A designer fills in an action's form: a workspace picked from the service's list, then a dataset
of that workspace, then a table of it, whose columns shape the rows. A ``choices`` request names
the action, the input and the inputs given so far; the listing action the input's ``choices``
(or ``dynamic_schema``) names is run over the request's connection, and its answer is turned
into ``[{value, label}]`` (or a JSON Schema). Answers are kept briefly per connection, so a form
that asks again as a designer types does not ask the service again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from connectorkit._bind import bind_action
from connectorkit.call._run import Outcome
from connectorkit.core._errors import HttpError, InvalidInput, InvalidRequest
from connectorkit.core._template import ABSENT, placeholders, render_value
from connectorkit.operations._scope import field_at
from connectorkit.pack._choices import choices_of, schema_source_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectorkit._bind import BoundConnection
    from connectorkit.call._run import Runner
    from connectorkit.pack._choices import ChoicesDef, SchemaSourceDef
    from connectorkit.pack._definitions import ActionDef, Pack

__all__ = ["CACHE_SECONDS", "ask_problems", "run_choices"]

# How long an answer is reused for the same connection and inputs: long enough for a designer
# typing into a search box, short enough that a workspace made a minute ago shows up.
CACHE_SECONDS = 60.0
_MAX_CACHED = 256
_ASK_KEYS = {"action", "input", "inputs", "search", "continuation"}
_SKIP = "skip:"


def ask_problems(ask: Any) -> list[dict[str, str]]:
    """What is wrong with the shape of a request's ``choices`` object (fields as paths)."""
    if not isinstance(ask, dict):
        return [{"field": "choices", "message": "must be an object: {action, input, inputs}"}]
    problems = [
        {"field": f"choices.{k}", "message": "is not a field of choices (" + _FIELDS + ")"}
        for k in ask
        if k not in _ASK_KEYS
    ]
    problems += [
        {"field": f"choices.{name}", "message": f"must name an {name}"}
        for name in ("action", "input")
        if not isinstance(ask.get(name), str) or not ask[name]
    ]
    if not isinstance(ask.get("inputs", {}), dict):
        problems.append({"field": "choices.inputs", "message": "must be an object"})
    problems += [
        {"field": f"choices.{name}", "message": "must be a string"}
        for name in ("search", "continuation")
        if ask.get(name) is not None and not isinstance(ask[name], str)
    ]
    return problems


_FIELDS = "action, input, inputs, search, continuation"


class _Cache:
    """Answers by connection and request, each kept for :data:`CACHE_SECONDS`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str, now: float) -> Any:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or now - entry[0] > CACHE_SECONDS:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, now: float, value: Any) -> None:
        with self.lock:
            self.entries[key] = (now, value)
            self.entries.move_to_end(key)
            while len(self.entries) > _MAX_CACHED:
                self.entries.popitem(last=False)


_caches: weakref.WeakKeyDictionary[Runner, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(runner: Runner) -> _Cache:
    with _caches_lock:
        cache = _caches.get(runner)
        if cache is None:
            cache = _caches[runner] = _Cache()
        return cache


def run_choices(
    pack: Pack, runner: Runner, ask: Mapping[str, Any], connection: BoundConnection
) -> Outcome:
    """Answer one ``choices`` request (its shape already checked by :func:`ask_problems`).

    The result is ``{"input", "choices": [{value, label}], "continuation"?}`` for an input with
    choices, ``{"input", "schema"}`` for one with a dynamic schema (both when it has both).
    """
    key, name = str(ask["action"]), str(ask["input"])
    filled = bind_action(pack, key, ask.get("inputs") or {}, partial=True)
    definition = filled.definition.input(name)
    if definition is None:
        raise InvalidRequest(
            f"the action '{key}' has no input '{name}'",
            details=[{"field": "choices.input", "message": f"is not an input of {key}"}],
        )
    choices, source = choices_of(definition), schema_source_of(definition)
    if choices is None and source is None:
        raise InvalidRequest(
            f"the input '{name}' of '{key}' has no choices: its value is typed, not picked",
            details=[{"field": "choices.input", "message": "declares no choices"}],
        )
    answer = _Answer(pack, runner, connection, filled.definition, filled.inputs, name)
    result: dict[str, Any] = {"input": name}
    if choices is not None:
        result.update(answer.choices(choices, ask.get("search"), ask.get("continuation")))
    if source is not None and answer.error is None:
        result["schema"] = answer.schema(source, array=definition.type == "array")
    return answer.outcome(key, result)


class _Answer:
    """The listing calls of one request, their tokens and counts added up."""

    def __init__(  # noqa: PLR0917 - what one request brings
        self,
        pack: Pack,
        runner: Runner,
        connection: BoundConnection,
        action: ActionDef,
        inputs: Mapping[str, Any],
        name: str,
    ) -> None:
        self.pack = pack
        self.runner = runner
        self.connection = connection
        self.action = action
        self.inputs = inputs
        self.name = name
        self.started = time.perf_counter()
        self.error: Any = None
        self.token: Mapping[str, Any] | None = None
        self.meta: dict[str, Any] = {"requests": 0, "retries": 0}
        self.cached = True

    def outcome(self, key: str, result: dict[str, Any]) -> Outcome:
        meta = {
            **self.meta,
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 1),
            "cached": self.cached,
        }
        if self.error is not None:
            return Outcome(action=key, error=self.error, token=self.token, meta=meta)
        return Outcome(action=key, result=result, token=self.token, meta=meta)

    def listing_inputs(self, source: ChoicesDef | SchemaSourceDef) -> dict[str, Any]:
        """The listing action's inputs from this form's; a missing one it needs is named."""
        listing = self.pack.actions.get(source.action)
        out: dict[str, Any] = {}
        for key, template in source.inputs.items():
            value = render_value(template, self.inputs)
            if value is not ABSENT:
                out[key] = value
                continue
            needed = listing is not None and (d := listing.input(key)) is not None and d.required
            if needed:
                missing = sorted(n for n in placeholders(template) if n not in self.inputs)
                labels = [self._label(n) for n in missing]
                raise InvalidInput(
                    f"the choices of '{self.name}' come from '{source.action}', which needs "
                    f"{' and '.join(labels)}: give {'them' if len(missing) > 1 else 'it'} first",
                    details=[
                        {"field": n, "message": f"is needed to list the choices of {self.name}"}
                        for n in missing
                    ],
                )
        return out

    def _label(self, key: str) -> str:
        definition = self.action.input(key)
        return f"{definition.label} ({key})" if definition is not None else key

    def run(self, action: str, inputs: dict[str, Any]) -> Any:
        """The listing action's result for ``inputs``: kept, or asked of the service."""
        cache = _cache_of(self.runner)
        key = _cache_key(self.pack, self.connection, action, inputs)
        now = self.runner.clock()
        found = cache.get(key, now)
        if found is not None:
            return found
        bound = bind_action(self.pack, action, inputs)
        outcome = self.runner.run(bound, self.connection, self.pack.budgets, pack=self.pack)
        self.cached = False
        self.token = outcome.token or self.token
        for count in ("requests", "retries"):
            self.meta[count] += int(outcome.meta.get(count, 0))
        if outcome.error is not None:
            self.error = outcome.error
            return None
        cache.put(key, now, outcome.result)
        return outcome.result

    def choices(
        self, choices: ChoicesDef, search: str | None, continuation: str | None
    ) -> dict[str, Any]:
        """``{"choices": [...]}``, and ``continuation`` when the service has more."""
        inputs = self.listing_inputs(choices)
        if search and choices.search is not None:
            inputs[choices.search.input] = choices.search.render(search)
        listing = self.pack.actions[choices.action]
        paged = listing.multistep is not None and listing.multistep.pages is not None
        skip = 0
        if paged:
            inputs.update(all_pages=True, max_items=choices.limit)
            if continuation:
                inputs["continuation"] = continuation
        elif continuation:
            skip = _skip_of(continuation)
        result = self.run(choices.action, inputs)
        if self.error is not None:
            return {}
        items = self.items(choices.action, result, choices.items)
        found = [
            {"value": value, "label": _text(field_at(item, choices.label or choices.value))}
            for item in items
            if (value := field_at(item, choices.value)) is not None
        ]
        if search and choices.search is None:
            word = search.casefold()
            found = [c for c in found if word in f"{c['label']} {_text(c['value'])}".casefold()]
        out: dict[str, Any] = {}
        if paged:
            out["choices"] = found
            if isinstance(result, dict) and result.get("continuation"):
                out["continuation"] = result["continuation"]
        else:
            out["choices"] = found[skip : skip + choices.limit]
            if len(found) > skip + choices.limit:
                out["continuation"] = f"{_SKIP}{skip + choices.limit}"
        return out

    def schema(self, source: SchemaSourceDef, *, array: bool) -> dict[str, Any] | None:
        """The JSON Schema of the input's value (of each element, for a list) from the answer."""
        result = self.run(source.action, self.listing_inputs(source))
        if self.error is not None:
            return None
        found: Any = result
        if source.items is not None:
            found = self.pick(source, self.items(source.action, result, source.items))
        at = field_at(found, source.at)
        if source.columns is not None:
            columns = at if isinstance(at, list) else []
            shape: dict[str, Any] = {
                "type": "object",
                "properties": {
                    str(column.get(source.columns.name)): {
                        "title": str(column.get(source.columns.name)),
                        **dict(source.columns.types.get(str(column.get(source.columns.type)), {})),
                    }
                    for column in columns
                    if isinstance(column, dict) and column.get(source.columns.name) is not None
                },
                "additionalProperties": False,
            }
        elif isinstance(at, dict):
            shape = at
        else:
            self.error = _unexpected(source.action, source.at or "the answer", "a JSON Schema")
            return None
        return {"type": "array", "items": shape} if array else shape

    def pick(self, source: SchemaSourceDef, items: list[Any]) -> Any:
        """The element whose fields equal ``match``, rendered over this form's inputs."""
        wanted = {k: render_value(v, self.inputs) for k, v in source.match.items()}
        for item in items:
            if all(
                v is not ABSENT and _text(field_at(item, k)) == _text(v) for k, v in wanted.items()
            ):
                return item
        given = sorted(n for v in source.match.values() for n in placeholders(v))
        shown = ", ".join(f"{n}={_text(self.inputs.get(n))}" for n in given) or "these inputs"
        raise InvalidInput(
            f"'{source.action}' lists nothing with {shown}: choose one it lists",
            details=[
                {"field": n, "message": f"is not among {source.action}'s answer"} for n in given
            ],
        )

    def items(self, action: str, result: Any, at: str) -> list[Any]:
        """The list at ``at`` in a listing's result; another shape is the service's mistake."""
        found = field_at(result, at)
        if isinstance(found, list):
            return found
        if found is None and isinstance(result, dict) and at and at not in result:
            return []  # an empty answer often leaves the list out
        raise _unexpected(action, at or "the answer", "a list")


def _unexpected(action: str, where: str, what: str) -> HttpError:
    return HttpError(
        f"the answer of '{action}' does not hold {what} at {where}, where its pack expects one",
        status=None,
        code="unexpected_answer",
    )


def _skip_of(continuation: str) -> int:
    text = continuation.removeprefix(_SKIP)
    if continuation.startswith(_SKIP) and text.isdigit():
        return int(text)
    raise InvalidRequest(
        "the continuation is not one an earlier answer of these choices gave",
        details=[{"field": "choices.continuation", "message": "is not a continuation of these"}],
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _cache_key(
    pack: Pack, connection: BoundConnection, action: str, inputs: Mapping[str, Any]
) -> str:
    """One key per pack, connection (its values and token, digested) and listing request."""
    parts = [
        str(pack.root),
        connection.definition.key,
        connection.stored,
        dict(connection.values),
        (connection.token or {}).get("access_token"),
        action,
        dict(inputs),
    ]
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
