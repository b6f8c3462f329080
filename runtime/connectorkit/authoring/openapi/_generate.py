"""Operations → action definitions (plain data, as an action file holds them).

An operation that exists once for *My workspace* and once below an optional prefix the pack
declares (``/groups/{groupId}`` → ``group_id``) becomes one action whose path keeps that prefix in
``[ ]``: given ``group_id`` it targets the workspace, without it My workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectorkit.authoring.openapi import _followups as followups
from connectorkit.authoring.openapi._extensions import Source, designer_fields, link, source_of
from connectorkit.authoring.openapi._naming import (
    group_label,
    input_key,
    singular,
    split_words,
    title,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from connectorkit.authoring.openapi._spec import Operation, Parameter

__all__ = ["Generated", "OptionalPrefix", "generate"]

_INPUT_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array"})
_ITEM_KEYS = (
    "type", "properties", "required", "additionalProperties", "enum",
    "minimum", "maximum", "minLength", "maxLength", "items", "description",
)  # fmt: skip
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_MAX_EXAMPLES = 2
_MAX_SHAPE_DEPTH = 3


@dataclass(frozen=True, slots=True)
class OptionalPrefix:
    """A path prefix that is optional in the pack (``/groups/{groupId}``) and its input."""

    path: str
    input: str


@dataclass(slots=True)
class Generated:
    """One action made from one operation, or from a My-workspace/in-group pair."""

    key: str
    operations: list[Operation]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # Each parameter's input key, and the inputs whose values or shape another operation gives
    # (linked once every operation has its action).
    names: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[dict[str, Any], Source]] = field(default_factory=list)


def _clean(text: str) -> str:
    """Prose of the document as plain sentences: links keep their words, tags and ** go."""
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text).replace("**", "*")
    return " ".join(text.split())


def _sections(description: str) -> dict[str, str]:
    """Markdown ``## Heading`` sections of an operation's description."""
    found: dict[str, str] = {}
    for part in re.split(r"^##\s+", description, flags=re.MULTILINE)[1:]:
        heading, _, body = part.partition("\n")
        found[heading.strip().lower()] = body
    return found


def generate(
    operations: Sequence[Operation],
    *,
    base_path: str,
    prefixes: Sequence[OptionalPrefix],
    shared_inputs: Mapping[str, Any],
    verbs: Mapping[str, str],
    taken: Mapping[str, str],
    reserved: frozenset[str] = frozenset(),
    runtime_inputs: frozenset[str] = frozenset(),
    long_running: Mapping[str, Any] | None = None,
    follow_location: bool = False,
    long_running_flags: tuple[str, ...] = followups.FLAGS,
) -> list[Generated]:
    """One action per operation or pair.

    ``taken`` maps operation ids to the keys of actions that already stand for them (they keep
    their key); ``reserved`` holds every other key of the pack, which a new action must avoid.
    ``runtime_inputs``: the inputs every action gets (the call inputs, the paging ones), which
    an operation's parameter of the same name must not pass for.
    """
    plain: dict[tuple[str, str], Operation] = {}
    for op in operations:
        plain[op.method, _relative(op.path, base_path)] = op
    paired: dict[str, tuple[Operation, Operation, OptionalPrefix]] = {}
    for op in operations:
        rel = _relative(op.path, base_path)
        for prefix in prefixes:
            if rel.startswith(prefix.path + "/"):
                twin = plain.get((op.method, rel[len(prefix.path) :]))
                if twin is not None and twin.ref != op.ref:
                    paired[twin.ref] = (twin, op, prefix)
                    paired[op.ref] = (twin, op, prefix)
    made: list[Generated] = []
    done: set[str] = set()
    for op in operations:
        if op.ref in done:
            continue
        if op.ref in paired:
            mine, grouped, prefix = paired[op.ref]
            done |= {mine.ref, grouped.ref}
            made.append(
                _action([mine, grouped], prefix, base_path, shared_inputs, verbs, runtime_inputs)
            )
        else:
            done.add(op.ref)
            made.append(_action([op], None, base_path, shared_inputs, verbs, runtime_inputs))
        _follow(made[-1], long_running or {}, follow_location, long_running_flags)
    _name(made, taken, verbs, reserved)
    _link_sources(made)
    return made


def _link_sources(made: list[Generated]) -> None:
    """Each input's ``choices`` or ``dynamic_schema``, naming the action of its operation."""
    by_operation = {op.id: item for item in made for op in item.operations}
    for item in made:
        for spec, source in item.pending:
            target = by_operation.get(source.operation)
            where = f"{item.operations[0].id}: input '{spec.get('key')}'"
            if target is None:
                item.notes.append(
                    f"{where}: its {source.kind.replace('_', ' ')} come from '{source.operation}', "
                    "which is not an operation of the document (or not an action): not imported"
                )
                continue
            block, notes = link(source, target.key, target.names, item.names)
            item.notes += [f"{where}: {note}" for note in notes]
            if block is not None:
                spec[source.kind] = block


def _relative(path: str, base_path: str) -> str:
    return path[len(base_path) :] if base_path and path.startswith(base_path) else path


def _name(
    made: list[Generated],
    taken: Mapping[str, str],
    verbs: Mapping[str, str],
    reserved: frozenset[str],
) -> None:
    """Keys in the pack's style, unique in the pack.

    An action keeps the key it already has. A new key that two operations would share, or that
    the pack already uses, names more: first the resource the path reaches the operation
    through (`list_lakehouse_livy_sessions` beside `list_notebook_livy_sessions`), then the
    release it marks (`list_lakehouse_livy_sessions_beta`: the beta twin of an operation), then
    the operationId's own group noun (`list_dashboard_users_as_admin`), then the tag's words.
    """
    used = set(taken.values()) | reserved
    fresh: list[Generated] = []
    for item in made:
        existing = next((taken[o.ref] for o in item.operations if o.ref in taken), None)
        if existing is not None:
            item.key = item.data["key"] = existing
        else:
            fresh.append(item)
    named = {
        id(item): title(item.operations[0].id, item.operations[0].tag, dict(verbs))
        for item in fresh
    }
    for qualify in (_parent_words, _flag_words, _owner_words):
        counts: dict[str, int] = {}
        for item in fresh:
            counts[item.key] = counts.get(item.key, 0) + 1
        for item in fresh:
            if counts[item.key] > 1 or item.key in used:
                named[id(item)] = _qualify(item, named[id(item)], qualify(item.operations[0]))
    for item in fresh:
        while item.key in used:
            item.key += "_" + "_".join(w.lower() for w in split_words(item.operations[0].tag))
        used.add(item.key)
        item.data["key"] = item.key


def _parent_words(op: Operation) -> list[str]:
    """The resource the path passes through before the operation's own part, singular.

    `/workspaces/{w}/lakehouses/{id}/livySessions` → `[lakehouse]`: the literal segment before
    the last parameter that more of the path follows.
    """
    parts = [p for p in op.path.split("?")[0].split("/") if p]
    for index in range(len(parts) - 2, 0, -1):
        if parts[index].startswith("{") and not parts[index - 1].startswith("{"):
            if index == len(parts) - 1:
                continue
            words = split_words(parts[index - 1])
            return [*words[:-1], singular(words[-1])] if words else []
    return []


def _owner_words(op: Operation) -> list[str]:
    """The operationId's own group (`Dashboards_...`), which says more than a shared tag."""
    owner = op.id.split("_", 1)[0] if "_" in op.id else op.tag
    noun = split_words(re.sub(r"\(.*?\)|_", " ", owner))
    return [*noun[:-1], singular(noun[-1])] if noun else []


def _flag_words(op: Operation) -> list[str]:
    """What marks a release of the operation, to go after the name (`[Beta]`).

    The flags its path key turns on (`?beta=true`), else a marker of its operationId (`(beta)`).
    """
    flags = [name.capitalize() for name, value in op.flags.items() if value.lower() == "true"]
    markers = re.findall(r"\(([A-Za-z]+)\)", op.id)
    return flags or [m.capitalize() for m in markers]


def _qualify(item: Generated, words: list[str], noun: list[str]) -> list[str]:
    """The name's words with `noun` after the verb (flag words at the end), key and label set.

    A noun the name already holds adds nothing.
    """
    op = item.operations[0]
    if noun and noun == _flag_words(op):
        words = [*words, *noun]
    elif noun and not _holds(words, noun):
        words = [words[0], *(w[:1].upper() + w[1:] for w in noun), *words[1:]]
    item.key = _key_of(words, op)
    item.data["label"] = _label_of(words, op)
    return words


def _holds(words: list[str], noun: list[str]) -> bool:
    """Whether the noun's words stand together in the name (singular or plural)."""
    have = [singular(w).lower() for w in words]
    want = [singular(w).lower() for w in noun]
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


def _key_of(words: list[str], op: Operation) -> str:
    return "_".join([*(w.lower() for w in words), *([op.key_suffix] if op.key_suffix else [])])


def _label_of(words: list[str], op: Operation) -> str:
    suffix = [w.capitalize() for w in op.key_suffix.split("_")] if op.key_suffix else []
    return " ".join([*words, *suffix])


def _action(  # noqa: C901, PLR0917 - parameters by place, then body, request and examples
    ops: list[Operation],
    prefix: OptionalPrefix | None,
    base_path: str,
    shared: Mapping[str, Any],
    verbs: Mapping[str, str],
    runtime_inputs: frozenset[str] = frozenset(),
) -> Generated:
    main = ops[0]
    words = title(main.id, main.tag, dict(verbs))
    key = re.sub(r"[^a-z0-9_]+", "_", _key_of(words, main)).strip("_")
    key = key if key[:1].isalpha() else f"call_{key}"
    notes = [f"{o.id}: {note}" for o in ops for note in o.notes]
    inputs: list[dict[str, Any]] = []
    names: dict[tuple[str, str], str] = {}  # (location, parameter name) -> input key
    path = _relative(main.path, base_path)
    scope_param = ""
    if prefix is not None:
        scope_param = _placeholder_in(prefix.path) or ""
        path = "[" + _pack_path(prefix.path, {scope_param: prefix.input}) + "]" + path
    params = list(main.parameters)
    if prefix is not None:
        extra = [
            p
            for p in ops[1].parameters
            if (p.name, p.location) not in {(q.name, q.location) for q in params}
            and p.name != scope_param
        ]
        params += extra
    made = _Inputs(inputs, names, shared, main, notes, runtime_inputs)
    for param in sorted(
        params,
        key=lambda p: (
            ("path", "query", "header", "body").index(p.location)
            if p.location in ("path", "query", "header", "body")
            else 9
        ),
    ):
        made.add(param)
    if prefix is not None:
        inputs.append(_scope_input(prefix, shared, ops[1]))
        names["path", scope_param] = prefix.input
    path = _pack_path(path, {n: k for (loc, n), k in names.items() if loc == "path"})
    request: dict[str, Any] = {"method": main.method, "path": path}
    # The flags a path key carries (`?beta=true`) are sent as they are, before the inputs.
    query: dict[str, Any] = dict(main.flags)
    query |= {p.name: "{" + names["query", p.name] + "}" for p in params if p.location == "query"}
    headers = {
        p.name: "{" + names["header", p.name] + "}" for p in params if p.location == "header"
    }
    if query:
        request["query"] = query
    if headers:
        request["headers"] = headers
    if made.has_body:
        request["body"] = made.body
    data: dict[str, Any] = {
        "key": key,
        "label": _summary_label(main) or _label_of(words, main),
        "description": _description(ops, prefix),
        "group": _group(main),
        **{k: v for k, v in designer_fields(main.extensions).items() if k == "importance"},
        "openapi": {"operations": [o.ref for o in ops], "generated": True},
        "inputs": inputs,
        "request": request,
    }
    if main.binary_response:
        data["result"] = {"encoding": "base64"}
    shape = _shape(main.response, 0) if main.response else None
    if shape:
        data["returns"] = shape
    generated = Generated(key=key, operations=ops, data=data, notes=notes, pending=made.pending)
    generated.names = {name: k for (_, name), k in names.items()}
    notes += [
        f"{main.id}: parameter '{param.name}' is encoded twice at the service "
        "(x-ms-url-encoding: double); the runtime encodes it once"
        for param in main.parameters
        if param.extensions.get("x-ms-url-encoding") == "double"
    ]
    examples = _examples(ops, prefix, base_path, names, inputs, data)
    if examples:
        data["examples"] = examples
    return generated


class _Inputs:
    """An action's inputs as its parameters are added: names, body, and pending sources."""

    def __init__(  # noqa: PLR0917 - what the inputs of one action are made from
        self,
        inputs: list[dict[str, Any]],
        names: dict[tuple[str, str], str],
        shared: Mapping[str, Any],
        op: Operation,
        notes: list[str],
        runtime: frozenset[str],
    ) -> None:
        self.inputs = inputs
        self.names = names
        self.shared = shared
        self.op = op
        self.notes = notes
        self.runtime = runtime
        self.body: Any = None
        self.has_body = False
        self.pending: list[tuple[dict[str, Any], Source]] = []

    def add(self, param: Parameter) -> None:
        """The inputs of one parameter (one per property of an object body)."""
        if param.location == "body":
            self.body, body_inputs = _body(param, self.inputs, self.notes, self.runtime)
            self.has_body = True
            self.inputs += body_inputs
            for spec in body_inputs:
                name = spec.pop("x-property", None)
                _designer(spec, spec.pop("x-extensions", {}), self.pending)
                if name is not None:
                    self.names["body", name] = spec["key"]
            return
        key = _unique(input_key(param.name), self.inputs, self.runtime, param.location)
        self.names[param.location, param.name] = key
        spec = _scalar_input(key, param, self.shared, self.op, self.notes)
        self.inputs.append(spec)
        _designer(spec, param.extensions, self.pending)


def _designer(
    spec: dict[str, Any],
    extensions: dict[str, Any],
    pending: list[tuple[dict[str, Any], Source]],
) -> None:
    """A field's label and importance, and where its values or shape come from."""
    if "use" in spec:
        return
    fields = designer_fields(extensions)
    if "label" in fields:
        spec["label"] = fields["label"]
    if "importance" in fields:
        spec["importance"] = fields["importance"]
    source = source_of(extensions)
    if source is not None:
        pending.append((spec, source))


_SUMMARY_WORDS = 8


def _summary_label(op: Operation) -> str | None:
    """An operation's summary as its label, when it reads as a name (short, no sentence)."""
    summary = " ".join(_clean(op.summary).split())
    if not summary or summary.endswith(".") or len(summary.split()) > _SUMMARY_WORDS:
        return None
    return summary[:1].upper() + summary[1:]


def _follow(
    item: Generated, settings: Mapping[str, Any], follow_location: bool, flags: tuple[str, ...]
) -> None:
    """Declare the pages and the long-running operation that follow the first request."""
    op = item.operations[0]
    paged = followups.pages(op)
    if paged is not None:
        item.data["pages"] = paged
    polled = followups.long_running(op, settings, follow_location=follow_location, flags=flags)
    if polled is not None:
        item.data["long_running"] = polled
        for example in item.data.get("examples") or []:
            # An example shows the first exchange: the operation is handed back, not awaited.
            example["inputs"]["wait"] = False
            example.pop("result", None)


def _group(op: Operation) -> str:
    """The group label: the tag's, after the document's own label when it has one."""
    tag = group_label(op.tag)
    return f"{op.group}: {tag}" if op.group else tag


def _placeholder_in(path: str) -> str | None:
    found = re.findall(r"\{([^}]+)\}", path)
    return found[0] if found else None


def _pack_path(path: str, names: Mapping[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: "{" + names.get(m.group(1), m.group(1)) + "}", path)


def _unique(
    key: str,
    inputs: list[dict[str, Any]],
    runtime: frozenset[str] = frozenset(),
    where: str = "body",
) -> str:
    """``key``, or a variant no other input (nor an input the runtime adds) has."""
    taken = {i.get("key") or i.get("use") for i in inputs} | runtime
    if key in runtime:
        key = f"{key}_{where}"  # a parameter named like the runtime's own (timeout, stream)
    candidate = key
    n = 2
    while candidate in taken:
        candidate = f"{key}_{n}"
        n += 1
    return candidate


def _label(key: str) -> str:
    words = key.split("_")
    return " ".join("ID" if w == "id" else "URL" if w == "url" else w.capitalize() for w in words)


def _comments(description: str, key: str) -> str:
    text = _clean(description)
    if not text:
        text = f"The {_label(key)}."
    return text if text.endswith((".", "?", "!", ")")) else text + "."


def _scalar_input(
    key: str, param: Parameter, shared: Mapping[str, Any], op: Operation, notes: list[str]
) -> dict[str, Any]:
    schema = param.schema
    kind = schema.get("type") if schema.get("type") in _INPUT_TYPES else "string"
    required = bool(param.required or param.location == "path")
    if param.location == "path" and key in shared and shared[key].get("type") == kind:
        use: dict[str, Any] = {"use": key}
        if required:
            use["required"] = True
        return use
    spec: dict[str, Any] = {
        "key": key,
        "label": _label(key),
        "type": kind,
    }
    if required:
        spec["required"] = True
    spec["comments"] = _comments(param.description or schema.get("description", ""), key)
    _constraints(spec, schema, f"{op.id}: parameter '{param.name}'", notes)
    if spec.get("format") == "uuid" and not _examples_fit_uuid(op, param.name):
        # The document's own examples of this parameter are not UUIDs: its format is wrong.
        del spec["format"]
        notes.append(f"{op.id}: parameter '{param.name}' is not a uuid in the document's examples")
    return spec


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _examples_fit_uuid(op: Operation, name: str) -> bool:
    for _, raw in op.examples:
        value = (raw.get("parameters") or {}).get(name) if isinstance(raw, dict) else None
        if isinstance(value, str) and not _UUID.fullmatch(value):
            return False
    return True


def _constraints(  # noqa: C901 - one branch per kind of constraint
    spec: dict[str, Any], schema: Mapping[str, Any], where: str, notes: list[str]
) -> None:
    kind = spec["type"]
    if "enum" in schema and kind in {"string", "integer", "number"}:
        spec["enum"] = list(schema["enum"])
    if kind in {"integer", "number"}:
        for name in ("minimum", "maximum"):
            if name in schema:
                spec[name] = schema[name]
    if kind == "string":
        if "minLength" in schema:
            spec["min_length"] = schema["minLength"]
        if "maxLength" in schema:
            spec["max_length"] = schema["maxLength"]
    fmt = schema.get("x-format")
    # A format on an enum adds nothing (and a swagger that marks an enum of words uuid is wrong).
    if (
        isinstance(fmt, str)
        and fmt not in {"int32", "int64", "double", "float"}
        and "enum" not in spec
    ):
        spec["format"] = fmt
    if kind == "array":
        items = _item_schema(schema.get("items") or {}, 0)
        if items:
            spec["items"] = items
    if kind == "object" and schema.get("properties"):
        spec["comments"] += " Fields: " + ", ".join(f"`{p}`" for p in schema["properties"]) + "."
    del where, notes


def _item_schema(  # noqa: C901 - one branch per kept keyword
    schema: Mapping[str, Any], depth: int
) -> dict[str, Any]:
    """The element-schema subset of input.schema.json (no formats, no read-only fields)."""
    out: dict[str, Any] = {}
    for name in _ITEM_KEYS:
        if name not in schema:
            continue
        value = schema[name]
        if name == "properties":
            if depth >= _MAX_SHAPE_DEPTH:
                continue
            props = {
                k: _item_schema(v, depth + 1) for k, v in value.items() if not v.get("x-read-only")
            }
            if props:
                out[name] = props
        elif name == "items":
            out[name] = _item_schema(value, depth + 1)
        elif name == "required":
            kept = [r for r in value if r in (schema.get("properties") or {})]
            if kept and depth < _MAX_SHAPE_DEPTH:
                out[name] = kept
        elif name == "description":
            out[name] = _clean(str(value))
        else:
            out[name] = value
    if "required" in out and "properties" not in out:
        del out["required"]
    return out


def _body(
    param: Parameter,
    inputs: list[dict[str, Any]],
    notes: list[str],
    runtime: frozenset[str] = frozenset(),
) -> tuple[Any, list[dict[str, Any]]]:
    """The body template and its inputs: one input per property of an object body."""
    schema = param.schema
    properties = {
        k: v for k, v in (schema.get("properties") or {}).items() if not v.get("x-read-only")
    }
    needed = set(schema.get("required") or []) if param.required else set()
    made: list[dict[str, Any]] = []
    if schema.get("type", "object") == "object" and properties:
        template: dict[str, Any] = {}
        for name, prop in properties.items():
            key = _unique(input_key(name), [*inputs, *made], runtime)
            template[name] = "{" + key + "}"
            kind = prop.get("type") if prop.get("type") in _INPUT_TYPES else "json"
            spec: dict[str, Any] = {"key": key, "label": _label(key), "type": kind}
            # Kept for the caller, which takes them out: the property's name and extensions.
            spec["x-property"] = name
            spec["x-extensions"] = {k: v for k, v in prop.items() if k.startswith("x-ms-")}
            if name in needed:
                spec["required"] = True
            spec["comments"] = _comments(str(prop.get("description", "")), key)
            if kind != "json":
                _constraints(spec, prop, f"body property '{name}'", notes)
            made.append(spec)
        return template, made
    kind = schema.get("type") if schema.get("type") in _INPUT_TYPES else "json"
    key = _unique("body", inputs, runtime)
    spec = {"key": key, "label": "Body", "type": kind, "x-extensions": dict(param.extensions)}
    if param.required:
        spec["required"] = True
    spec["comments"] = _comments(param.description or str(schema.get("description", "")), "body")
    if kind != "json":
        _constraints(spec, schema, "body", notes)
    return "{" + key + "}", [spec]


def _scope_input(
    prefix: OptionalPrefix, shared: Mapping[str, Any], op: Operation
) -> dict[str, Any]:
    if prefix.input in shared:
        return {"use": prefix.input}
    param = next((p for p in op.parameters if p.location == "path"), None)
    comments = _comments(param.description if param else "", prefix.input)
    return {
        "key": prefix.input,
        "label": _label(prefix.input),
        "type": "string",
        "comments": comments + " Leave it empty for the variant without this part of the path.",
    }


def _description(ops: list[Operation], prefix: OptionalPrefix | None) -> str:
    main = ops[0]
    text = _clean(main.summary) or f"Calls {main.method} {main.path}."
    if prefix is not None:
        text += (
            f" With {_label(prefix.input)}, the same request goes to the workspace it names"
            f" ({ops[1].id})."
        )
    scope = _sections(main.description).get("required scope")
    if scope:
        text += f" Permissions needed: {_clean(scope)}."
    if main.deprecated:
        text += " Deprecated by the service."
    return text


def _shape(schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """The response schema as a result shape: types, properties and descriptions, 3 levels."""
    out: dict[str, Any] = {}
    if "type" in schema:
        out["type"] = schema["type"]
    if depth and schema.get("description"):
        out["description"] = _clean(str(schema["description"]))[:200]
    if depth < _MAX_SHAPE_DEPTH and schema.get("properties"):
        out["properties"] = {k: _shape(v, depth + 1) for k, v in schema["properties"].items()}
    if depth < _MAX_SHAPE_DEPTH and schema.get("items"):
        out["items"] = _shape(schema["items"], depth + 1)
    if schema.get("enum"):
        out["enum"] = list(schema["enum"])
    return out


# -- examples ----------------------------------------------------------------------------------


def _examples(  # noqa: PLR0917 - the parts of one generated action
    ops: list[Operation],
    prefix: OptionalPrefix | None,
    base_path: str,
    names: Mapping[tuple[str, str], str],
    inputs: list[dict[str, Any]],
    data: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Up to one example per variant, from the document's own examples when they fit."""
    found: list[dict[str, Any]] = []
    for index, op in enumerate(ops):
        scoped = prefix is not None and index == 1
        # The document's own examples first; made-up values when none of them fits.
        for title_text, raw in [*op.examples, (_MADE_UP, _made_up(op))]:
            example = _from_document(op, raw, title_text, base_path, names, data, scoped=scoped)
            if (
                example is not None
                and _inputs_fit(example["inputs"], inputs)
                and _body_fits(example["request"], op)
            ):
                found.append(example)
                break
        if len(found) >= _MAX_EXAMPLES:
            break
    return found


_MADE_UP = "A call with made-up values"


def _made_up(op: Operation) -> dict[str, Any]:
    """An example in the document's own form: every path and required parameter, an answer."""
    values: dict[str, Any] = {}
    for param in op.parameters:
        if param.location == "body":
            body = _sample(param.schema, 0, required_only=True)
            if body not in ({}, None) or param.required:
                values[param.name] = body
        elif param.location == "path" or param.required:
            values[param.name] = _sample(param.schema, 0, required_only=True)
    answer: dict[str, Any] = {}
    if op.response:
        answer["body"] = _sample(op.response, 0, required_only=False)
    return {"parameters": values, "responses": {op.success_status: answer}}


_SAMPLE_ID = "5f0a3a4e-8c1d-4b7e-9a2f-3c4d5e6f7a8b"
_MAX_SAMPLE_PROPERTIES = 6
_MAX_SAMPLE_DEPTH = 2


def _sample(schema: Mapping[str, Any], depth: int, *, required_only: bool) -> Any:  # noqa: PLR0911 - one answer per type
    """A value the schema accepts: enums' first choice, minimums, ids for uuid strings."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "string":
        fmt = schema.get("x-format")
        if fmt == "uuid":
            return _SAMPLE_ID
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        return "sample".ljust(int(schema.get("minLength") or 0), "x")
    if kind in {"integer", "number"}:
        return int(schema.get("minimum") or 1)
    if kind == "boolean":
        return True
    if kind == "array":
        if depth >= _MAX_SAMPLE_DEPTH:  # an element this deep would be cut short: none at all
            return []
        return [_sample(schema.get("items") or {}, depth + 1, required_only=required_only)]
    properties = schema.get("properties") or {}
    names = list(schema.get("required") or []) if required_only else list(properties)
    names = [
        n
        for n in names
        if n in properties and not (required_only and properties[n].get("x-read-only"))
    ]
    if depth > _MAX_SAMPLE_DEPTH:
        return {}
    return {
        n: _sample(properties[n], depth + 1, required_only=required_only)
        for n in names[:_MAX_SAMPLE_PROPERTIES]
    }


def _from_document(  # noqa: C901, PLR0911, PLR0912, PLR0917 - one branch per parameter place
    op: Operation,
    raw: Mapping[str, Any],
    title_text: str,
    base_path: str,
    names: Mapping[tuple[str, str], str],
    data: Mapping[str, Any],
    *,
    scoped: bool,
) -> dict[str, Any] | None:
    values = raw.get("parameters") or {}
    if not isinstance(values, dict):
        return None
    inputs: dict[str, Any] = {}
    path = _relative(op.path, base_path)
    query: dict[str, Any] = {}
    body: Any = None
    has_body = False
    for param in op.parameters:
        if param.name not in values:
            if param.location == "path" or (param.required and param.location != "body"):
                return None
            continue
        value = values[param.name]
        if param.location == "path":
            key = names.get(("path", param.name))
            if key is None:
                return None
            inputs[key] = value
            path = path.replace("{" + param.name + "}", quote(str(value), safe=""))
        elif param.location == "query":
            key = names.get(("query", param.name))
            if key is None:
                return None
            inputs[key] = value
            query[param.name] = _query_text(value)
        elif param.location == "body":
            template = data["request"].get("body")
            if isinstance(template, dict):
                if not isinstance(value, dict) or set(value) - set(template):
                    return None
                for prop, item in value.items():
                    inputs[str(template[prop])[1:-1]] = item
                body = value
            else:
                inputs[str(template)[1:-1]] = value
                body = value
            has_body = True
        else:
            return None
    if not scoped and "[" in data["request"]["path"]:
        pass  # My workspace: the optional part stays out, as the document's path already says
    request: dict[str, Any] = {"method": op.method, "path": path}
    query = {**op.flags, **query}
    if query:
        request["query"] = query
    template = data["request"].get("body")
    if has_body and body not in ({}, None):
        request["body"] = body
    example: dict[str, Any] = {"title": _clean(title_text) or "Example", "inputs": inputs}
    example["request"] = request
    response = _response(raw.get("responses") or {})
    if response:
        example["response"] = response
    return example


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _response(responses: Mapping[str, Any]) -> dict[str, Any] | None:
    for code, answer in sorted(responses.items()):
        if not str(code).startswith("2") or not isinstance(answer, dict):
            continue
        out: dict[str, Any] = {"status": int(code)}
        headers = answer.get("headers")
        if isinstance(headers, dict) and headers:
            out["headers"] = {str(k): str(v) for k, v in headers.items()}
        if "body" in answer:
            out["body"] = answer["body"]
        return out
    return None


def _body_fits(request: Mapping[str, Any], op: Operation) -> bool:
    """Whether the example's body keeps to the document's own body schema (enums, types...)."""
    from connectorkit.types._compile import compile_element  # noqa: PLC0415 - examples only

    body = next((p for p in op.parameters if p.location == "body"), None)
    if body is None or "body" not in request or not body.schema:
        return True
    return compile_element(_element(body.schema))(request["body"]) is None


def _element(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The document's schema in the element subset the runtime checks (its own keys dropped)."""
    return {
        k: (
            {p: _element(v) for p, v in schema[k].items()}
            if k == "properties"
            else _element(schema[k])
            if k == "items"
            else schema[k]
        )
        for k in _ITEM_KEYS
        if k in schema and k != "description"
    }


def _inputs_fit(values: Mapping[str, Any], inputs: list[dict[str, Any]]) -> bool:
    """Whether the example's values bind to the generated inputs (their own validators).

    A document's example that breaks its own schema is not one to show: the made-up one is.
    """
    from connectorkit.types._compile import compile_spec  # noqa: PLC0415 - examples only

    specs = {i.get("key") or i.get("use"): i for i in inputs}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            return False
        if spec.get("type") in _INPUT_TYPES and compile_spec(spec).check(value) is not None:
            return False
    required = {i.get("key") or i.get("use") for i in inputs if i.get("required")}
    return required <= set(values)
