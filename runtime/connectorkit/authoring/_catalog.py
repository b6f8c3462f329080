"""The pack as a workflow designer sees it: ``describe`` (JSON Schema) and ``docs`` (Markdown)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectorkit._bind import default_builders
from connectorkit.types._compile import json_schema, spec_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from connectorkit.pack._definitions import ActionDef, ConnectionDef, Pack
    from connectorkit.types._input import InputDef

__all__ = [
    "OTHER_GROUP",
    "action_markdown",
    "describe",
    "designer_order",
    "docs_markdown",
    "example_lines",
    "input_notes",
    "input_schema",
    "inputs_schema",
]


def describe(pack: Pack) -> dict[str, Any]:
    """The catalog of ``connectorkit describe``: connections and actions, inputs as JSON Schema.

    Actions are sorted by label, and listed again under ``groups`` in the order a designer
    shows them (:func:`designer_order`); the default connection comes first. The inputs every
    action accepts (timeout, retries, debug) carry ``"x-group": "advanced"`` so a form can fold
    them; an input's own importance is ``x-importance``, where its values come from
    ``x-choices`` and where its shape comes from ``x-dynamic-schema``.
    """
    return {
        "key": pack.key,
        "label": pack.label,
        "description": pack.description,
        "version": pack.version,
        "default_connection": pack.default_connection,
        "connections": [
            {
                "key": connection.key,
                "label": connection.label,
                "description": connection.description,
                "type": connection.type,
                "grant": connection.grant,
                "authentication": _connection_kind(connection),
                "default": connection.key == pack.default_connection,
                "values": _connection_schema(connection),
            }
            for connection in _connections(pack)
        ],
        "groups": [
            {"label": label, "actions": [a.key for a in actions]}
            for label, actions in _groups(pack)
        ],
        "actions": [_action_entry(action) for action in _actions(pack)],
    }


def _action_entry(action: ActionDef) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": action.key,
        "label": action.label,
        "description": action.description,
        "group": action.group or OTHER_GROUP,
        "inputs": inputs_schema(action.inputs),
    }
    if action.importance is not None:
        entry["importance"] = action.importance
    if action.returns is not None:
        entry["returns"] = _plain(action.returns)
    if action.examples:
        # What a designer shows as "try it": inputs, the request they make, a sample answer.
        entry["examples"] = [_plain(example) for example in action.examples]
    return entry


OTHER_GROUP = "Other"
# Important actions first, then the plain ones, then the advanced; internal ones are not listed.
_RANK = {"important": 0, None: 1, "advanced": 2}


def designer_order(actions: Iterable[ActionDef]) -> list[tuple[str, list[ActionDef]]]:
    """Actions by group (by task), as a designer lists them; internal actions left out.

    A group ranks by its most important action: groups holding an important action come first,
    groups of advanced actions only (administration) last; within a rank by label, the
    catch-all group last. Inside a group, important actions first, then by label.
    """
    found: dict[str, list[ActionDef]] = {}
    for action in sorted(actions, key=lambda a: (a.label.casefold(), a.key)):
        if action.importance != "internal":
            found.setdefault(action.group or OTHER_GROUP, []).append(action)
    for members in found.values():
        members.sort(key=lambda a: _RANK[a.importance])

    def rank(label: str) -> tuple[int, bool, str]:
        best = min(_RANK[a.importance] for a in found[label])
        return best, label == OTHER_GROUP, label.casefold()

    return [(label, found[label]) for label in sorted(found, key=rank)]


def _groups(pack: Pack) -> list[tuple[str, list[ActionDef]]]:
    return designer_order(pack.actions.values())


def _connection_schema(connection: ConnectionDef) -> dict[str, Any]:
    """The values as JSON Schema; one that only fills defaults is required only while they are."""
    schema = inputs_schema(connection.values)
    builders = default_builders(connection)
    if builders:
        schema["required"] = [k for k in schema["required"] if k not in builders]
        schema["allOf"] = [
            {"if": {"required": list(built)}, "else": {"required": [key]}}
            for key, built in builders.items()
        ]
    return schema


def inputs_schema(inputs: Iterable[InputDef]) -> dict[str, Any]:
    """A JSON Schema object whose properties are ``inputs``, in their order."""
    inputs = tuple(inputs)
    return {
        "type": "object",
        "properties": {item.key: input_schema(item) for item in inputs},
        "required": [item.key for item in inputs if item.required],
        # The binder refuses inputs an action does not declare.
        "additionalProperties": False,
    }


def input_schema(item: InputDef) -> dict[str, Any]:
    """One input as JSON Schema: title and description, then the values it accepts.

    What it accepts comes from :func:`connectorkit.types._compile.json_schema`, the same rules the
    binder's validator is compiled from.
    """
    schema: dict[str, Any] = {"title": item.label, "description": item.comments}
    schema.update(json_schema(spec_of(item)))
    if item.type in {"key_value", "json"}:
        schema["x-type"] = item.type  # json: any value, so no "type"
    optional: dict[str, Any] = {
        "default": item.default,
        "format": "password" if item.secret else item.format,
        "writeOnly": True if item.secret else None,
        "examples": [item.example] if item.example is not None else None,
        "x-group": "advanced" if item.call_input else None,
        "x-importance": item.importance,
    }
    schema.update({k: _plain(v) for k, v in optional.items() if v is not None})
    if item.choices is not None or item.dynamic_schema is not None:
        schema.update(_sources(item))
    return schema


def _sources(item: InputDef) -> dict[str, Any]:
    """``x-choices`` and ``x-dynamic-schema``: the blocks as declared, with what they depend on."""
    from connectorkit.pack._choices import choices_of, schema_source_of  # noqa: PLC0415

    out: dict[str, Any] = {}
    choices, source = choices_of(item), schema_source_of(item)
    if choices is not None:
        out["x-choices"] = {
            **_plain(item.choices),
            "depends_on": list(choices.depends_on),
            "search": choices.search is not None,
        }
    if source is not None:
        out["x-dynamic-schema"] = {
            **_plain(item.dynamic_schema),
            "depends_on": list(source.depends_on),
        }
    return out


def docs_markdown(pack: Pack) -> str:
    """The reference page of ``connectorkit docs``: connections, then actions sorted by label."""
    out = [f"# {pack.label}", "", pack.description.strip(), ""]
    version = f", version {pack.version}" if pack.version else ""
    default = pack.connections.get(pack.default_connection)
    default_label = default.label if default is not None else pack.default_connection
    summary = f"Pack `{pack.key}`{version}. Default connection: {default_label}"
    out += [f"{summary} (`{pack.default_connection}`).", "", *_contents(pack), "## Connections", ""]
    for connection in _connections(pack):
        out += _connection_section(connection, connection.key == pack.default_connection)
        out += _value_set_tables(pack, connection)
    out += ["## Actions", ""]
    call_inputs: dict[str, InputDef] = {}
    for label, actions in _groups(pack):
        out += [f"### {label}", ""]
        for action in actions:
            out += _action_section(action)
            call_inputs.update((i.key, i) for i in action.inputs if i.call_input)
    if call_inputs:
        out += [
            "## Call inputs",
            "",
            "Every action also accepts these inputs, which control timeouts, retries and logging.",
            "",
            *_input_table(call_inputs.values(), heading="Input"),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def _connections(pack: Pack) -> list[ConnectionDef]:
    """The default connection first, then the others by key."""
    default = pack.default_connection
    return sorted(pack.connections.values(), key=lambda c: (c.key != default, c.key))


def _actions(pack: Pack) -> list[ActionDef]:
    return sorted(pack.actions.values(), key=lambda a: (a.label.casefold(), a.key))


def _connection_section(connection: ConnectionDef, is_default: bool) -> list[str]:
    default = ", the default" if is_default else ""
    return [
        f"### {connection.label}",
        "",
        f"`{connection.key}`{default}; {_connection_kind(connection)}",
        "",
        connection.description.strip(),
        "",
        *_input_table(connection.values, heading="Value"),
        "",
    ]


def _connection_kind(connection: ConnectionDef) -> str:
    """One sentence: how the connection authenticates, as its kind's settings say."""
    kind = connection.type
    if kind == "oauth2" and connection.grant:
        said = f"OAuth 2.0 grant `{connection.grant}`"
        method = connection.token_endpoint_auth_method
        if method == "private_key_jwt":
            assertion = connection.client_assertion
            how = "a federated token" if assertion and assertion.federated else "a certificate"
            said += f", the client authenticated by `private_key_jwt` ({how})"
    elif kind == "api_key" and connection.api_key is not None:
        place = "header" if connection.api_key.location == "header" else "query parameter"
        said = f"an API key in the {place} `{connection.api_key.name}`"
    elif kind == "basic":
        said = "HTTP Basic authentication (`username`, `password`)"
    elif kind == "bearer":
        said = "a static bearer token (`token`)"
    elif kind == "managed_identity" and connection.managed_identity is not None:
        protocols = ", ".join(e.protocol for e in connection.managed_identity.endpoints)
        said = f"the host's managed identity ({protocols})"
    else:
        said = f"auth flow `{kind}`"
    if connection.headers:
        said += "; every request also carries " + ", ".join(
            f"`{name}`" for name, _ in connection.headers
        )
    return said + "."


def _value_set_tables(pack: Pack, connection: ConnectionDef) -> list[str]:
    """For each value of the connection that chooses defaults (``cloud``), what each choice sets."""
    keys = {v.key for v in connection.values}
    lines: list[str] = []
    for selector, options in pack.value_sets.items():
        if selector not in keys:
            continue
        names = sorted({name for chosen in options.values() for name in chosen if name in keys})
        lines += [
            f"`{selector}` sets these values (a value given explicitly wins):",
            "",
            f"| `{selector}` | " + " | ".join(f"`{n}`" for n in names) + " |",
            "| --- |" + " --- |" * len(names),
        ]
        for option, chosen in options.items():
            cells = [f"`{_cell(_text(chosen[n]))}`" if n in chosen else "given" for n in names]
            lines.append(f"| `{option}` | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _action_section(action: ActionDef) -> list[str]:
    own = [i for i in action.inputs if not i.call_input]
    lines = [f"#### {action.label}", "", f"`{action.key}`", "", action.description.strip(), ""]
    if own:
        lines += _input_table(own, heading="Input")
    else:
        lines.append("No inputs of its own.")
    lines += ["", "Also accepts the [call inputs](#call-inputs).", ""]
    for example in action.examples:
        lines += example_lines(example)
    return lines


def example_lines(example: Mapping[str, Any]) -> list[str]:
    """One example as Markdown: its inputs, the exact request they make, the sample answer."""
    request = example.get("request") or {}
    query = request.get("query") or {}
    shown = "&".join(
        f"{name}={v}"
        for name, value in query.items()
        for v in (value if isinstance(value, list) else [value])
    )
    target = f"{request.get('method')} {request.get('path')}{'?' + shown if shown else ''}"
    lines = [
        f"Example: {example.get('title') or 'a call'}",
        "",
        "```json",
        _json(example.get("inputs") or {}),
        "```",
        "",
    ]
    lines += [f"sends `{target}`" + (" with the body" if "body" in request else "")]
    if "body" in request:
        lines += ["", "```json", _json(request["body"]), "```"]
    response = example.get("response") or {}
    status = response.get("status", 200)
    if "body" in response:
        lines += [
            "",
            f"and the service answers {status}:",
            "",
            "```json",
            _json(response["body"]),
            "```",
            "",
        ]
    else:
        lines += ["", f"and the service answers {status} with no body.", ""]
    return lines


def _json(value: Any) -> str:
    text = json.dumps(_plain(value), indent=2, ensure_ascii=False)
    lines = text.splitlines()
    # A long sample answer is cut: the shape is what a reader needs.
    return "\n".join([*lines[:40], "…"]) if len(lines) > 40 else text  # noqa: PLR2004


def _input_table(inputs: Iterable[InputDef], heading: str) -> list[str]:
    rows = [f"| {heading} | Comments | Default |", "| --- | --- | --- |"]
    for item in inputs:
        kind = "array of objects" if _is_object_array(item) else item.type
        needed = " · **required**" if item.required else ""
        name = f"{_cell(item.label)}<br>`{item.key}` · {kind}{needed}"
        default = f"`{_cell(_text(item.default))}`" if item.default is not None else ""
        rows.append(f"| {name} | {_cell(input_notes(item))} | {default} |")
    return rows


def input_notes(item: InputDef) -> str:
    """The comments, then the limits a value must keep, as a reader scanning the table wants."""
    notes = [item.comments.strip()]
    if item.enum is not None:
        notes.append("One of " + ", ".join(f"`{_text(choice)}`" for choice in item.enum) + ".")
    low, high = _number(item.minimum), _number(item.maximum)
    if low is not None and high is not None:
        notes.append(f"From {low} to {high}.")
    elif low is not None:
        notes.append(f"At least {low}.")
    elif high is not None:
        notes.append(f"At most {high}.")
    if item.choices is not None:
        notes.append(f"Picked from the answer of `{item.choices.get('action')}`.")
    if item.dynamic_schema is not None:
        notes.append(f"Its fields follow the answer of `{item.dynamic_schema.get('action')}`.")
    if item.secret:
        notes.append("Secret: shown as `***` in every output.")
    if item.example is not None:
        notes.append(f"Example: `{_text(item.example)}`.")
    return " ".join(notes)


def _is_object_array(item: InputDef) -> bool:
    return item.type == "array" and item.items is not None and item.items.get("type") == "object"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_plain(value), ensure_ascii=False)


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: float | None) -> float | None:
    """Whole numbers without a trailing ``.0``, as the pack author wrote them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """A copy made of dicts and lists only (the definitions hold read-only mappings and tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _anchor(title: str) -> str:
    """The anchor GitHub gives a heading (lower case, punctuation dropped, spaces as dashes)."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _contents(pack: Pack) -> list[str]:
    lines = ["## Contents", "", "- [Connections](#connections)"]
    lines += [f"  - [{c.label}](#{_anchor(c.label)})" for c in _connections(pack)]
    lines.append("- [Actions](#actions)")
    for group, actions in _groups(pack):
        lines.append(f"  - [{group}](#{_anchor(group)})")
        lines += [f"    - [{a.label}](#{_anchor(a.label)}) (`{a.key}`)" for a in actions]
    if any(i.call_input for a in pack.actions.values() for i in a.inputs):
        lines.append("- [Call inputs](#call-inputs)")
    return [*lines, ""]


def action_markdown(action: ActionDef) -> str:
    """The reference of one action (``connectorkit docs ACTION``), its call inputs included."""
    own = [i for i in action.inputs if not i.call_input]
    calls = [i for i in action.inputs if i.call_input]
    out = [f"# {action.label}", "", f"`{action.key}`", "", action.description.strip(), ""]
    out += _input_table(own, heading="Input") if own else ["No inputs of its own."]
    if calls:
        out += ["", "## Call inputs", "", *_input_table(calls, heading="Input")]
    if action.examples:
        out += ["", "## Examples", ""]
        for example in action.examples:
            out += example_lines(example)
    return "\n".join(out).rstrip() + "\n"
