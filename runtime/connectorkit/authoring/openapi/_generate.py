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

from connectorkit.authoring.openapi._multistep import multistep_of
from connectorkit.authoring.openapi._naming import group_label, input_key, split_words, title

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
) -> list[Generated]:
    """One action per operation or pair.

    ``taken`` maps operation ids to the keys of actions that already stand for them (they keep
    their key); ``reserved`` holds every other key of the pack, which a new action must avoid.
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
                if twin is not None and twin.id != op.id:
                    paired[twin.id] = (twin, op, prefix)
                    paired[op.id] = (twin, op, prefix)
    made: list[Generated] = []
    done: set[str] = set()
    for op in operations:
        if op.id in done:
            continue
        if op.id in paired:
            mine, grouped, prefix = paired[op.id]
            done |= {mine.id, grouped.id}
            made.append(_action([mine, grouped], prefix, base_path, shared_inputs, verbs))
        else:
            done.add(op.id)
            made.append(_action([op], None, base_path, shared_inputs, verbs))
    _name(made, taken, verbs, reserved)
    return made


def _relative(path: str, base_path: str) -> str:
    return path[len(base_path) :] if base_path and path.startswith(base_path) else path


def _name(
    made: list[Generated],
    taken: Mapping[str, str],
    verbs: Mapping[str, str],
    reserved: frozenset[str],
) -> None:
    """Keys in the pack's style; clashes get the group's noun after the verb."""
    used = set(taken.values()) | reserved
    fresh: list[Generated] = []
    for item in made:
        existing = next((taken[o.id] for o in item.operations if o.id in taken), None)
        if existing is not None:
            item.key = item.data["key"] = existing
        else:
            fresh.append(item)
    counts: dict[str, int] = {}
    for item in fresh:
        counts[item.key] = counts.get(item.key, 0) + 1
    for item in fresh:
        if counts[item.key] > 1 or item.key in used:
            op = item.operations[0]
            words = title(op.id, op.tag, dict(verbs))
            # The operationId's own prefix (Dashboards_…) says more than a shared tag (EmbedToken).
            owner = op.id.split("_", 1)[0] if "_" in op.id else op.tag
            noun = [w.lower() for w in split_words(re.sub(r"\(.*?\)|_", " ", owner))]
            singular = [*noun[:-1], _singular(noun[-1])] if noun else []
            if singular and not set(singular) & {_singular(w.lower()) for w in words}:
                item.key = "_".join([words[0].lower(), *singular, *(w.lower() for w in words[1:])])
                item.data["label"] = " ".join(
                    [words[0], *(w.title() for w in singular), *words[1:]]
                )
        while item.key in used:
            item.key += "_" + "_".join(w.lower() for w in split_words(item.operations[0].tag))
        used.add(item.key)
        item.data["key"] = item.key


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _action(  # noqa: C901 - parameters by place, then body, request and examples
    ops: list[Operation],
    prefix: OptionalPrefix | None,
    base_path: str,
    shared: Mapping[str, Any],
    verbs: Mapping[str, str],
) -> Generated:
    main = ops[0]
    words = title(main.id, main.tag, dict(verbs))
    key = "_".join(w.lower() for w in words)
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
    body_template: Any = None
    has_body = False
    for param in sorted(
        params,
        key=lambda p: (
            ("path", "query", "header", "body").index(p.location)
            if p.location in ("path", "query", "header", "body")
            else 9
        ),
    ):
        if param.location == "body":
            body_template, body_inputs = _body(param, inputs, notes)
            has_body = True
            inputs += body_inputs
            continue
        key_for = _unique(input_key(param.name), inputs)
        names[param.location, param.name] = key_for
        inputs.append(_scalar_input(key_for, param, shared, main, notes))
    if prefix is not None:
        inputs.append(_scope_input(prefix, shared, ops[1]))
        names["path", scope_param] = prefix.input
    path = _pack_path(path, {n: k for (loc, n), k in names.items() if loc == "path"})
    request: dict[str, Any] = {"method": main.method, "path": path}
    query = {p.name: "{" + names["query", p.name] + "}" for p in params if p.location == "query"}
    headers = {
        p.name: "{" + names["header", p.name] + "}" for p in params if p.location == "header"
    }
    if query:
        request["query"] = query
    if headers:
        request["headers"] = headers
    if has_body:
        request["body"] = body_template
    data: dict[str, Any] = {
        "key": key,
        "label": " ".join(words),
        "description": _description(ops, prefix),
        "group": group_label(main.tag),
        "openapi": {"operations": [o.id for o in ops], "generated": True},
        "inputs": inputs,
        "request": request,
    }
    if main.binary_response:
        data["result"] = {"encoding": "base64"}
    data.update(multistep_of(main))
    shape = _shape(main.response, 0) if main.response else None
    if shape:
        data["returns"] = shape
    generated = Generated(key=key, operations=ops, data=data, notes=notes)
    examples = _examples(ops, prefix, base_path, names, inputs, data)
    if examples:
        data["examples"] = examples
    return generated


def _placeholder_in(path: str) -> str | None:
    found = re.findall(r"\{([^}]+)\}", path)
    return found[0] if found else None


def _pack_path(path: str, names: Mapping[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: "{" + names.get(m.group(1), m.group(1)) + "}", path)


def _unique(key: str, inputs: list[dict[str, Any]]) -> str:
    taken = {i.get("key") or i.get("use") for i in inputs}
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
    param: Parameter, inputs: list[dict[str, Any]], notes: list[str]
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
            key = _unique(input_key(name), [*inputs, *made])
            template[name] = "{" + key + "}"
            kind = prop.get("type") if prop.get("type") in _INPUT_TYPES else "json"
            spec: dict[str, Any] = {"key": key, "label": _label(key), "type": kind}
            if name in needed:
                spec["required"] = True
            spec["comments"] = _comments(str(prop.get("description", "")), key)
            if kind != "json":
                _constraints(spec, prop, f"body property '{name}'", notes)
            made.append(spec)
        return template, made
    kind = schema.get("type") if schema.get("type") in _INPUT_TYPES else "json"
    key = _unique("body", inputs)
    spec = {"key": key, "label": "Body", "type": kind}
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
            if example is not None and _inputs_fit(example["inputs"], inputs):
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
        if depth > _MAX_SAMPLE_DEPTH:
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
        if "body" in answer:
            out["body"] = answer["body"]
        return out
    return None


def _inputs_fit(values: Mapping[str, Any], inputs: list[dict[str, Any]]) -> bool:
    """A light check that the example's values suit the generated inputs (types and enums)."""
    specs = {i.get("key") or i.get("use"): i for i in inputs}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            return False
        kind = spec.get("type", "string")
        checks = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
        }
        if not checks.get(kind, True):
            return False
        if "enum" in spec and value not in spec["enum"]:
            return False
    required = {i.get("key") or i.get("use") for i in inputs if i.get("required")}
    return required <= set(values)
