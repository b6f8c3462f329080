"""The rules a pack keeps across its files and inside its templates, which JSON Schema cannot say.

The data may be malformed: each rule looks only at the parts that have the right shape and leaves
the rest to the schema pass, so that one mistake is reported once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.core._template import placeholders, template_strings
from connectorkit.pack._choices import source_problems
from connectorkit.pack._hooks import hook_named, hook_names
from connectorkit.pack._multistep import FILE_FACTS, multistep_from, operation_inputs
from connectorkit.pack._multistep_rules import multistep_problems
from connectorkit.types._compile import CONSTRAINTS, Where, definition_problems

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence

    from connectorkit.pack._read import Document

__all__ = ["Finding", "closest", "cross_check"]

RESULT_NAMES = ("$body", "$status")

_OPTIONAL_PART = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem inside one document, before its line is known.

    ``suggests`` (an unknown key's likely meaning) and ``missing`` (a required key that is absent)
    let the reporter drop a second note about the same typo.
    """

    at: Where
    message: str
    suggests: str | None = None
    missing: str | None = None


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be, if any is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def cross_check(
    documents: Sequence[Document], well_formed: Sequence[bool]
) -> Iterator[tuple[int, Finding]]:
    """Each finding with the index of the document it belongs to.

    ``well_formed[i]`` says that document ``i`` passed the schema: only then are its element
    schemas (``items``) trusted to check a default or example against.
    """
    pack = _PackView(documents, well_formed)
    for index, document in enumerate(documents):
        data, trusted = document.data, well_formed[index]
        if not isinstance(data, dict):
            continue  # the schema pass says what the file should hold
        if document.kind == "connector":
            findings = pack.connector(data, trusted)
        elif document.kind == "action":
            findings = pack.action(document.path.stem, data, trusted)
        elif document.kind == "trigger":
            findings = pack.trigger(document.path.stem, data, trusted)
        else:
            findings = pack.connection(document.path.stem, data, trusted)
        for finding in findings:
            yield index, finding


class _PackView:
    """What the files say about each other: shared inputs, call inputs, connection keys."""

    def __init__(self, documents: Sequence[Document], well_formed: Sequence[bool]) -> None:
        index = next(
            (
                i
                for i, d in enumerate(documents)
                if d.kind == "connector" and isinstance(d.data, dict)
            ),
            None,
        )
        connector = documents[index].data if index is not None else None
        self.has_connector = connector is not None
        self.shared_trusted = index is not None and well_formed[index]
        connector = connector or {}
        shared = connector.get("inputs")
        self.shared: dict[str, dict[str, Any]] = (
            {k: v for k, v in shared.items() if isinstance(v, dict)}
            if isinstance(shared, dict)
            else {}
        )
        self.call_inputs: dict[str, dict[str, Any]] = {}
        for _, key, spec in _call_entries(connector.get("call_inputs")):
            self.call_inputs.setdefault(key, spec)
        self.connections = [
            d.data["key"] for d in documents if d.kind == "connection" and _keyed(d.data)
        ]
        self.action_data: dict[str, dict[str, Any]] = {
            d.data["key"]: d.data for d in documents if d.kind == "action" and _keyed(d.data)
        }
        self.actions = list(self.action_data)
        # Each action's input keys: what another input's choices may give it. Known by file
        # name too: an action whose key is wrong is reported once, for itself.
        self.inputs_of: dict[str, frozenset[str] | None] = {}
        self.inputs_of.update(
            (name, self._input_keys(d.data))
            for d in documents
            if d.kind == "action" and _keyed(d.data)
            for name in (d.path.stem, d.data["key"])
        )
        self.root = documents[index].path.parent if index is not None else None
        # An action file that does not parse is there: its problem is reported once, for itself.
        for path in sorted((self.root / "actions").glob("*.yaml")) if self.root else ():
            self.inputs_of.setdefault(path.stem, None)
        services = connector.get("services")
        self.services = frozenset(services) if isinstance(services, dict) else frozenset()
        sets = connector.get("value_sets")
        self.value_sets: dict[str, dict[str, Any]] = (
            {k: v for k, v in sets.items() if isinstance(v, dict)} if isinstance(sets, dict) else {}
        )
        # For each set, the values of every connection that chooses by it: a set may give a
        # value only some of those connections have (an audience only federated ones read).
        self.set_targets: dict[str, set[str]] = {name: set() for name in self.value_sets}
        for document in documents:
            values = document.data.get("values") if isinstance(document.data, dict) else None
            if document.kind != "connection" or not isinstance(values, list):
                continue
            keys = {v["key"] for v in values if _keyed(v)}
            for name in keys & set(self.value_sets):
                self.set_targets[name] |= keys

    def _input_keys(self, data: Mapping[str, Any]) -> frozenset[str]:
        items = data.get("inputs")
        keys = {
            str(i.get("key") or i.get("use"))
            for i in (items if isinstance(items, list) else [])
            if isinstance(i, dict) and isinstance(i.get("key") or i.get("use"), str)
        }
        try:
            multistep = multistep_from(data)
            keys |= {i.key for i in operation_inputs(multistep)} if multistep.any else set()
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # a malformed block is the schema pass's to report
        return frozenset(keys | set(self.call_inputs))

    def sources(
        self, at: Where, spec: Mapping[str, Any], own: frozenset[str] | None
    ) -> Iterator[Finding]:
        """The ``choices`` and ``dynamic_schema`` of one input definition, across files."""
        for block in ("choices", "dynamic_schema"):
            if isinstance(spec.get(block), dict):
                for suffix, message in source_problems(spec[block], self.inputs_of, own):
                    yield Finding((*at, block, *suffix), message)

    def connector(self, data: dict[str, Any], trusted: bool) -> Iterator[Finding]:
        name = data.get("default_connection")
        if isinstance(name, str) and name not in self.connections:
            known = ", ".join(self.connections) or "none"
            yield Finding(
                ("default_connection",),
                f"'{name}' is not a connection of this pack (no connections/{name}.yaml was "
                f"loaded; known: {known})",
            )
        check = data.get("check")
        action = check.get("action") if isinstance(check, dict) else None
        # An action file that is there but broken is reported once, for itself.
        present = self.root is not None and (self.root / "actions" / f"{action}.yaml").is_file()
        if isinstance(action, str) and action not in self.actions and not present:
            near = closest(action, self.actions)
            yield Finding(
                ("check", "action"),
                f"'{action}' is not an action of this pack"
                + (f"; did you mean '{near}'?" if near else ""),
                suggests=near,
            )
        for key, spec in self.shared.items():
            for suffix, message in definition_problems(spec, check_elements=trusted):
                yield Finding(("inputs", key, *suffix), message)
            yield from self.sources(("inputs", key), spec, None)
        seen: set[str] = set()
        for index, key, spec in _call_entries(data.get("call_inputs")):
            if key in seen:
                yield Finding(("call_inputs", index, key), f"call input '{key}' is listed twice")
            seen.add(key)
            for suffix, message in definition_problems(spec, check_elements=trusted):
                yield Finding(("call_inputs", index, key, *suffix), message)

    def _declared(
        self, data: dict[str, Any], trusted: bool
    ) -> Generator[Finding, None, tuple[dict[str, dict[str, Any]], dict[str, int]]]:
        """Check a document's inputs; their full definitions by key, and where each is."""
        declared: dict[str, dict[str, Any]] = {}
        first_at: dict[str, int] = {}
        items = data.get("inputs")
        for index, item in enumerate(items if isinstance(items, list) else []):
            at: Where = ("inputs", index)
            resolved = yield from self._resolve(at, item, trusted)
            if resolved is None:
                continue
            key, spec = resolved
            if key in declared:
                yield Finding(at, f"'{key}' is declared twice (first at inputs[{first_at[key]}])")
                continue
            declared[key], first_at[key] = spec, index
            yield from self._redeclared_call_input(at, key, spec)
        keys = self.inputs_of.get(str(data.get("key")), frozenset()) or frozenset()
        for key, index in first_at.items():
            item = items[index] if isinstance(items, list) else {}
            # A shared input's blocks are checked once, in connector.yaml; overrides here.
            if "use" not in item or {"choices", "dynamic_schema"} & item.keys():
                yield from self.sources(("inputs", index), declared[key], keys)
        return declared, first_at

    def action(self, stem: str, data: dict[str, Any], trusted: bool) -> Iterator[Finding]:
        yield from _key_matches_file(stem, data)
        declared, first_at = yield from self._declared(data, trusted)
        available = {**self.call_inputs, **declared}
        request, result = data.get("request"), data.get("result")
        if isinstance(request, dict):
            yield from _request_problems(request, available)
            if trusted:  # else a malformed input would be reported twice
                own = {k: v for k, v in declared.items() if k not in self.call_inputs}
                yield from _ignored_blocks(request, data, own, first_at)
        if isinstance(result, dict):
            yield from _result_problems(result, available, _kept(data))
        for where, message in multistep_problems(data, available, self.actions):
            yield Finding(where, message)
        yield from self._services_named(data)

    def _services_named(self, data: Mapping[str, Any]) -> Iterator[Finding]:
        """Every ``service:`` of the action (its own, its request blocks') is in connector.yaml."""
        for at, name in _service_names(data, ()):
            if name not in self.services:
                listed = ", ".join(sorted(self.services)) or "none"
                hint = closest(name, self.services)
                said = f"; did you mean '{hint}'?" if hint else ""
                yield Finding(
                    at, f"'{name}' is not a service of connector.yaml (services: {listed}){said}"
                )

    def trigger(self, stem: str, data: dict[str, Any], trusted: bool) -> Iterator[Finding]:
        from connectorkit.pack._trigger_rules import trigger_problems  # noqa: PLC0415

        yield from _key_matches_file(stem, data)
        declared, _ = yield from self._declared(data, trusted)
        available = {**self.call_inputs, "since": {}, "max_events": {}, **declared}
        calls = self.call_inputs
        for where, message in trigger_problems(data, available, self.action_data, calls):
            yield Finding(where, message)

    def _resolve(
        self, at: Where, item: Any, trusted: bool
    ) -> Generator[Finding, None, tuple[str, dict[str, Any]] | None]:
        """Check one action input; return its key and full definition (None: too malformed)."""
        if not isinstance(item, dict):
            return None
        if "key" in item and "use" not in item:
            key = item["key"]
            if not isinstance(key, str):
                return None
            for suffix, message in definition_problems(item, check_elements=trusted):
                yield Finding((*at, *suffix), message)
            return key, item
        name = _used_name(item)
        if name is None:
            return None
        merged = self._use(name, item)
        if merged is not None:
            yield from self._use_problems(at, name, item, merged, trusted=trusted)
            return name, merged
        near = closest(name, self.shared)
        if self.has_connector and "use" in item:
            hint = f"; did you mean '{near}'?" if near else ""
            yield Finding((*at, "use"), f"'{name}' is not an input of connector.yaml{hint}")
        # Go on as if the likely input was meant, so that its uses are not reported as well.
        return near or name, {}

    def _use(self, name: str, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """The shared definition with the item's overrides (None: no such shared input)."""
        shared = self.shared.get(name)
        if shared is None:
            return None
        return {**shared, **{k: v for k, v in item.items() if k != "use"}}

    def _use_problems(
        self,
        at: Where,
        name: str,
        item: Mapping[str, Any],
        merged: Mapping[str, Any],
        *,
        trusted: bool,
    ) -> Iterator[Finding]:
        """What the overrides get wrong; the shared definition's own are for connector.yaml."""
        if not CONSTRAINTS & item.keys():
            return  # a new label, comments or required flag cannot make a value invalid
        check = trusted and self.shared_trusted
        own = set(definition_problems(self.shared[name], check_elements=check))
        for suffix, message in definition_problems(merged, check_elements=check):
            if (suffix, message) not in own:
                where = (*at, *suffix) if suffix[0] in item else at
                yield Finding(where, message)

    def _redeclared_call_input(
        self, at: Where, key: str, spec: Mapping[str, Any]
    ) -> Iterator[Finding]:
        call = self.call_inputs.get(key)
        if call is not None and spec.get("type") != call.get("type"):
            yield Finding(
                (*at, "type"),
                f"'{key}' is a call input of type {call.get('type')}, which the runtime reads by "
                "name: a redeclaration must keep its type",
            )

    def connection(self, stem: str, data: dict[str, Any], trusted: bool) -> Iterator[Finding]:
        yield from _key_matches_file(stem, data)
        values = data.get("values")
        if not isinstance(values, list):
            return
        keys = [v["key"] for v in values if _keyed(v)]
        seen: set[str] = set()
        for index, spec in enumerate(values):
            if _keyed(spec):
                if spec["key"] in seen:
                    yield Finding(("values", index), f"'{spec['key']}' is declared twice")
                seen.add(spec["key"])
                yield from _connection_value(("values", index), spec, keys, trusted)
        yield from _value_set_problems(self.value_sets, values, self.set_targets)
        needed = {"base_url": "every connection"}
        if data.get("type", "oauth2") == "oauth2":
            needed["token_url"] = "an oauth2 connection"  # noqa: S105 - a value's name
        if data.get("grant") == "authorization_code":
            needed["authorize_url"] = "an authorization_code connection"
        for name, who in needed.items():
            if name not in keys:
                yield Finding(("values",), f"{who} needs a '{name}' value (the runtime reads it)")


def _service_names(node: Any, at: Where) -> Iterator[tuple[Where, str]]:
    """Each ``service`` named in an action document (not inside examples), with where.

    A body, query or headers block is a template of what is sent: a field named ``service``
    there is the remote service's, not a pack keyword.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "service" and isinstance(value, str):
                yield (*at, key), value
            elif key not in {"examples", "inputs", "returns", "body", "query", "headers"}:
                yield from _service_names(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _service_names(value, (*at, index))


def _value_set_problems(
    sets: Mapping[str, Mapping[str, Any]], values: list[Any], targets: Mapping[str, set[str]]
) -> Iterator[Finding]:
    """A value that chooses defaults must offer exactly the set's choices; they set real values.

    A choice may set a value this connection lacks, if another that chooses by the same value
    has it (``targets``); one no such connection has is a typo.
    """
    for index, spec in enumerate(values):
        if not _keyed(spec) or spec["key"] not in sets:
            continue
        choices = sets[spec["key"]]
        enum = spec.get("enum")
        if isinstance(enum, list) and sorted(map(str, enum)) != sorted(choices):
            yield Finding(
                ("values", index, "enum"),
                f"'{spec['key']}' chooses from value_sets.{spec['key']} in connector.yaml, whose "
                f"choices are {', '.join(choices)}: the enum must list exactly those",
            )
        for option, given in choices.items():
            for name in sorted(given or {}):
                if name not in targets.get(spec["key"], set()):
                    yield Finding(
                        ("values", index),
                        f"value_sets.{spec['key']}.{option} sets '{name}', which no connection "
                        f"with a '{spec['key']}' value has",
                    )


def _connection_value(
    at: Where, spec: Mapping[str, Any], keys: list[str], trusted: bool
) -> Iterator[Finding]:
    key = spec["key"]
    for suffix, message in definition_problems(spec, check_elements=trusted):
        yield Finding((*at, *suffix), message)
    default = spec.get("default")
    for name in sorted(placeholders(default) if isinstance(default, str) else ()):
        if name == key or name not in keys:
            yield Finding((*at, "default"), f"'{{{name}}}' names no other value of this connection")


def _used_name(item: Mapping[str, Any]) -> str | None:
    """The shared input an action input refers to, reading through a typo'd 'use' key."""
    if "use" in item:
        return item["use"] if isinstance(item["use"], str) else None
    near_use = (v for k, v in item.items() if closest(str(k), ["use"]) and isinstance(v, str))
    guess = next(near_use, None)
    return guess if guess is not None and "label" not in item else None


def _keyed(spec: Any) -> bool:
    return isinstance(spec, dict) and isinstance(spec.get("key"), str)


def _call_entries(entries: Any) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(index, key, definition)`` of each well-formed ``- key: {definition}`` entry."""
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and len(entry) == 1:
            ((key, spec),) = entry.items()
            if isinstance(key, str) and isinstance(spec, dict):
                yield index, key, spec


def _key_matches_file(stem: str, data: Mapping[str, Any]) -> Iterator[Finding]:
    key = data.get("key")
    if isinstance(key, str) and key != stem:
        yield Finding(
            ("key",),
            f"'{key}' does not match the file name: rename the file to {key}.yaml "
            f"or the key to {stem}",
        )


# -- requests and results ----------------------------------------------------------------------


def _ignored_blocks(
    request: Mapping[str, Any],
    data: Mapping[str, Any],
    declared: Mapping[str, Mapping[str, Any]],
    first_at: Mapping[str, int],
) -> Iterator[Finding]:
    """What a hook or a batch would silently ignore: refused, so an author never relies on it.

    ``declared``: the action's own inputs (the runtime, not the hook, reads the call inputs).
    """
    hook = hook_named(request["hook"]) if isinstance(request.get("hook"), str) else None
    if hook is not None:
        for part in request:
            if part != "hook":
                yield Finding(
                    ("request", part),
                    f"the hook '{hook.name}' builds the request itself: '{part}' would be ignored",
                )
        if "result" in data:
            yield Finding(
                ("result",),
                f"the hook '{hook.name}' shapes the result itself ({hook.returns}): "
                "'result' would be ignored",
            )
        for key, spec in declared.items():
            kind = hook.reads.get(key)
            if kind is None:
                yield Finding(
                    ("inputs", first_at[key]),
                    f"the hook '{hook.name}' does not read '{key}' "
                    f"(it reads: {', '.join(hook.reads)})",
                )
            elif spec.get("type") not in (None, kind):
                yield Finding(
                    ("inputs", first_at[key], "type"),
                    f"the hook '{hook.name}' reads '{key}' as {kind}, not {spec.get('type')}",
                )
    elif isinstance(request.get("batch"), dict) and "result" in data:
        yield Finding(
            ("result",),
            "a batched request's result is the count of what was sent: 'result' would be ignored",
        )


def _request_problems(request: Mapping[str, Any], inputs: Mapping[str, Any]) -> Iterator[Finding]:
    hook = request.get("hook")
    if isinstance(hook, str) and hook_named(hook) is None:
        known = ", ".join(hook_names())
        yield Finding(("request", "hook"), f"unknown hook '{hook}' (known: {known})")
    path = request.get("path")
    if isinstance(path, str):
        yield from _path_problems(path, inputs)
    for part in ("path", "query", "headers", "body"):
        if part in request:
            yield from _unknown_names(request[part], ("request", part), inputs)
    batch = request.get("batch")
    if isinstance(batch, dict) and isinstance(batch.get("input"), str):
        yield from _names_input(batch["input"], ("request", "batch", "input"), inputs, "array")


def _kept(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The names a long-running action keeps from its first response (its result may use them)."""
    running = data.get("long_running")
    keep = running.get("keep") if isinstance(running, dict) else None
    return tuple(k for k in keep if isinstance(k, str)) if isinstance(keep, dict) else ()


def _result_problems(
    result: Mapping[str, Any], inputs: Mapping[str, Any], kept: Sequence[str] = ()
) -> Iterator[Finding]:
    if "slice" in result and "template" in result:
        yield Finding(("result",), "use either slice or template, not both")
    page = result.get("slice")
    if isinstance(page, dict):
        for field in ("offset", "limit"):
            if isinstance(page.get(field), str):
                yield from _names_input(page[field], ("result", "slice", field), inputs, "integer")
    if "template" in result:
        names = (*RESULT_NAMES, *kept)
        yield from _unknown_names(result["template"], ("result", "template"), inputs, names)


def _names_input(name: str, at: Where, inputs: Mapping[str, Any], kind: str) -> Iterator[Finding]:
    spec = inputs.get(name)
    if spec is None:
        near = closest(name, inputs)
        hint = f"; did you mean '{near}'?" if near else ""
        yield Finding(at, f"'{name}' is not an input of this action{hint}")
    elif spec.get("type") not in (None, kind):
        yield Finding(at, f"'{name}' must be an {kind} input, but it is of type {spec.get('type')}")


def _path_problems(path: str, inputs: Mapping[str, Any]) -> Iterator[Finding]:
    at: Where = ("request", "path")
    depth = 0
    for char in path:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth not in (0, 1):
            yield Finding(at, "optional parts [ ] must be closed and cannot be nested")
            return
    if depth:
        yield Finding(at, "an optional part '[' is never closed")
        return
    for part in _OPTIONAL_PART.findall(path):
        if not placeholders(part):
            yield Finding(at, f"the optional part [{part}] holds no {{input}}: it is always kept")
    for name in sorted(placeholders(_OPTIONAL_PART.sub("", path))):
        spec = inputs.get(name)
        # An empty spec stands for an input whose definition is missing, reported elsewhere.
        if spec and not spec.get("required") and spec.get("default") is None:
            yield Finding(
                at,
                f"'{{{name}}}' is optional without a default, so a call without it cannot build "
                "the URL: make the input required, give it a default, or put that part in [ ]",
            )


def _unknown_names(
    template: Any, at: Where, inputs: Mapping[str, Any], extra: Sequence[str] = ()
) -> Iterator[Finding]:
    known = [*inputs, *extra]
    for where, text in template_strings(template, at, keys=True):
        for name in sorted(placeholders(text)):
            # A part of the response ($body.id) where the response is known to templates.
            response_part = name.startswith(("$body.", "$headers.")) and "$body" in extra
            if name not in known and not response_part and not _file_fact(name, inputs):
                near = closest(name, known)
                hint = f"; did you mean '{{{near}}}'?" if near else ""
                yield Finding(where, f"'{{{name}}}' names no input of this action{hint}")


def _file_fact(name: str, inputs: Mapping[str, Any]) -> bool:
    """``$file.name`` (or ``.size``, ``.content_type``) of a ``file`` input ``file``."""
    head, _, fact = name.removeprefix("$").partition(".")
    spec = inputs.get(head)
    return (
        name.startswith("$")
        and fact in FILE_FACTS
        and isinstance(spec, dict)
        and spec.get("type") == "file"
    )
