"""The rules of an action's multi-request blocks that JSON Schema cannot say.

Every template names something that will have a value: an input, a value kept from the first
response, or a part of the response at hand (``$body``, ``$body.a.b``, ``$headers.Name``,
``$status``); another action a block sends exists; the inputs a block reads are of the kind it
needs (a file input to upload, a list input to cut into chunks).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from connectorkit.core._template import placeholders, template_strings
from connectorkit.pack._multistep import FILE_FACTS, OPERATION_INPUTS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["multistep_problems"]

Where = tuple[str | int, ...]
# Names a template may use beside the inputs: the response at hand.
_RESPONSE = ("$body", "$status")
_RESPONSE_PREFIXES = ("$body.", "$headers.")
_TYPES_OF_OPERATION_INPUTS = {
    "wait": "boolean",
    "save_to": "string",
    "all_pages": "boolean",
    "max_items": "integer",
    "continuation": "string",
    "stream": "boolean",
}


def multistep_problems(
    data: Mapping[str, Any],
    inputs: Mapping[str, Mapping[str, Any]],
    actions: Sequence[str],
) -> Iterator[tuple[Where, str]]:
    """``(where, message)`` for each mistake in ``data``'s multi-request blocks.

    ``inputs``: the action's inputs by key (call inputs included); ``actions``: the pack's.
    """
    yield from _operation_input_types(data)
    request = data.get("request")
    if isinstance(request, dict):
        yield from _request_files(request, inputs)
    running = data.get("long_running")
    kept: list[str] = []
    if isinstance(running, dict):
        keep = running.get("keep")
        kept = [k for k in keep if isinstance(k, str)] if isinstance(keep, dict) else []
        yield from _templates(keep, ("long_running", "keep"), inputs, ())
        for part in ("poll", "result", "cancel"):
            yield from _step(running.get(part), ("long_running", part), inputs, kept, actions)
    upload = data.get("upload")
    if isinstance(upload, dict):
        yield from _upload(upload, inputs, actions)
    stage = data.get("stage")
    if isinstance(stage, dict):
        yield from _stage(stage, inputs, actions)
    chunks = data.get("chunks")
    if isinstance(chunks, dict):
        yield from _input_of_type(chunks.get("input"), ("chunks", "input"), inputs, "array")
        gather = chunks.get("gather")
        if isinstance(gather, dict) and ("action" in gather or "path" in gather):
            yield from _step(gather, ("chunks", "gather"), inputs, (), actions)


def _operation_input_types(data: Mapping[str, Any]) -> Iterator[tuple[Where, str]]:
    """An input named like one the runtime adds keeps that one's type."""
    items = data.get("inputs")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        key = item.get("key")
        if key in OPERATION_INPUTS and item.get("type") != _TYPES_OF_OPERATION_INPUTS[key]:
            kind = _TYPES_OF_OPERATION_INPUTS[key]
            yield (
                ("inputs", index, "type"),
                (
                    f"'{key}' is an input the runtime reads by name ({kind}): a redeclaration "
                    "must keep its type"
                ),
            )


def _request_files(
    request: Mapping[str, Any], inputs: Mapping[str, Mapping[str, Any]]
) -> Iterator[tuple[Where, str]]:
    multipart = request.get("multipart")
    if isinstance(multipart, dict):
        yield from _templates(multipart, ("request", "multipart"), inputs, ())
        if "content" in request:
            yield ("request", "content"), "send either a multipart form or a raw content body"
    content = request.get("content")
    if isinstance(content, str):
        names = sorted(placeholders(content))
        if names:
            yield from _input_of_type(names[0], ("request", "content"), inputs, "file")


def _upload(
    upload: Mapping[str, Any], inputs: Mapping[str, Mapping[str, Any]], actions: Sequence[str]
) -> Iterator[tuple[Where, str]]:
    yield from _input_of_type(upload.get("input"), ("upload", "input"), inputs, "file")
    mode = upload.get("mode_input")
    if mode is not None:
        yield from _input_of_type(mode, ("upload", "mode_input"), inputs, "string")
    yield from _step(upload.get("location"), ("upload", "location"), inputs, (), actions)
    blocks = upload.get("blocks")
    if isinstance(blocks, dict):
        extra = ("$upload.url", "$block.id", "$block.number", "$blocks")
        for part in ("put", "commit"):
            yield from _step(blocks.get(part), ("upload", "blocks", part), inputs, extra, actions)
    then = upload.get("then")
    if isinstance(then, dict):
        for key in then:
            if key not in inputs:
                yield ("upload", "then", str(key)), f"'{key}' is not an input of this action"
        yield from _templates(then, ("upload", "then"), inputs, ("$upload.url",))


_STAGE_NAMES = ("$stage.name", "$stage.size", "$stage.rows", "$chunk.offset")


def _stage(
    stage: Mapping[str, Any], inputs: Mapping[str, Mapping[str, Any]], actions: Sequence[str]
) -> Iterator[tuple[Where, str]]:
    yield from _input_of_type(stage.get("rows"), ("stage", "rows"), inputs, "array")
    if stage.get("file") is not None:
        yield from _input_of_type(stage.get("file"), ("stage", "file"), inputs, "file")
    for part in ("create", "append", "flush"):
        yield from _step(stage.get(part), ("stage", part), inputs, _STAGE_NAMES, actions)
    yield from _templates(stage.get("name"), ("stage", "name"), inputs, ())
    columns = stage.get("columns")
    if isinstance(columns, dict):
        at = ("stage", "columns", "delta_log")
        yield from _step(columns.get("delta_log"), at, inputs, ("$delta.version",), actions)
        for key in columns.get("when") or {}:
            if key not in inputs:
                yield (
                    ("stage", "columns", "when", str(key)),
                    f"'{key}' is not an input of this action",
                )
    then = stage.get("then")
    if isinstance(then, dict):
        for key in then:
            if key not in inputs:
                yield ("stage", "then", str(key)), f"'{key}' is not an input of this action"
        yield from _templates(then, ("stage", "then"), inputs, _STAGE_NAMES)


def _step(
    step: Any,
    at: Where,
    inputs: Mapping[str, Mapping[str, Any]],
    extra: Sequence[str],
    actions: Sequence[str],
) -> Iterator[tuple[Where, str]]:
    if not isinstance(step, dict):
        return
    other = step.get("action")
    if isinstance(other, str) and other not in actions:
        near = difflib.get_close_matches(other, list(actions), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        yield (*at, "action"), f"'{other}' is not an action of this pack{hint}"
    for part in ("path", "url", "query", "headers", "body", "text", "inputs"):
        if part in step:
            yield from _templates(step[part], (*at, part), inputs, extra)


def _input_of_type(
    name: Any, at: Where, inputs: Mapping[str, Mapping[str, Any]], kind: str
) -> Iterator[tuple[Where, str]]:
    if not isinstance(name, str):
        return
    spec = inputs.get(name)
    if spec is None:
        yield at, f"'{name}' is not an input of this action"
    elif spec and spec.get("type") not in (None, kind):
        article = "an" if kind[0] in "aeiou" else "a"
        yield at, f"'{name}' must be {article} {kind} input, but it is of type {spec.get('type')}"


def _templates(
    template: Any, at: Where, inputs: Mapping[str, Any], extra: Sequence[str]
) -> Iterator[tuple[Where, str]]:
    known = {*inputs, *extra, *_RESPONSE}
    files = {f"${k}.{fact}" for k, v in inputs.items() if _is_file(v) for fact in FILE_FACTS}
    for where, text in template_strings(template, at):
        for name in sorted(placeholders(text)):
            if name in known or name in files or name.startswith(_RESPONSE_PREFIXES):
                continue
            if (
                name.startswith(("$block.", "$upload.", "$stage.", "$chunk.", "$delta."))
                and name in extra
            ):
                continue
            near = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean '{{{near[0]}}}'?" if near else ""
            yield where, f"'{{{name}}}' names no input, kept value or response part{hint}"


def _is_file(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("type") == "file"
