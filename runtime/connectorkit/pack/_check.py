"""Check a pack: each file against ``schemas/``, then the links between files.

Every problem is reported, each with its file, line and a path such as ``inputs[2].default``.
Lines are found only when there are problems, by composing the file's YAML again, so that
loading a good pack costs one schema pass and nothing more.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import Problem
from connectorkit.pack._files import schema_dir
from connectorkit.pack._read import Document, read_documents
from connectorkit.pack._rules import Finding, closest, cross_check
from connectorkit.types._issues import TYPE_WORDS, Where, kind_of, show

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["Document", "check_documents", "validate_pack"]

_KEY_PATTERN = "^[a-z][a-z0-9_]*$"
# What the schemas' patterns ask for, in words.
_PATTERNS = {
    _KEY_PATTERN: "is not a valid key: use snake_case",
    "^[/\\[]": "must start with '/', or with an optional part such as '[/groups/{group_id}]'",
}


@functools.cache
def _validators() -> dict[str, Validator]:
    """One compiled validator per document kind, built on first use."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - keeps jsonschema off start-up
    from referencing import Registry, Resource  # noqa: PLC0415

    folder = schema_dir()
    schemas = {
        name: json.loads((folder / f"{name}.schema.json").read_text(encoding="utf-8"))
        for name in ("input", "connector", "action", "connection")
    }
    # The files refer to each other by file name, as an editor resolves them next to each other.
    registry: Registry[Any] = Registry().with_resources(
        (f"{name}.schema.json", Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    return {
        kind: Draft202012Validator(schemas[kind], registry=registry)
        for kind in ("connector", "action", "connection")
    }


# A file's schema findings follow from its kind and text alone: a file checked before in this
# process (the studio re-checking a pack after one edit) is not checked again.
_FINDINGS: dict[tuple[str, str], tuple[Finding, ...]] = {}
_MAX_FINDINGS = 4096


def _findings_of(document: Document) -> list[Finding]:
    key = (document.kind, document.text)
    known = _FINDINGS.get(key)
    if known is None:
        known = tuple(_schema_findings(_validators()[document.kind], document.data))
        if len(_FINDINGS) >= _MAX_FINDINGS:
            _FINDINGS.clear()
        _FINDINGS[key] = known
    return list(known)


def check_documents(root: Path, documents: Sequence[Document]) -> list[Problem]:
    """Every problem of a pack's parsed files: schema violations and cross-file mistakes."""
    found = {index: _findings_of(document) for index, document in enumerate(documents)}
    well_formed = [not found[index] for index in range(len(documents))]
    for index, finding in cross_check(documents, well_formed):
        found[index].append(finding)

    problems: list[Problem] = []
    has_connector = any(d.kind == "connector" for d in documents)
    # A connector.yaml that exists but did not parse was already reported by the reader.
    if not has_connector and not (root / "connector.yaml").exists():
        problems.append(Problem("connector.yaml", None, "", "is missing: a pack needs one"))
    for index, document in enumerate(documents):
        if found[index]:
            problems += _locate(root, document, _without_echoes(found[index]))
    return problems


def validate_pack(root: Path) -> list[Problem]:
    """Read the pack at ``root`` and return every problem (none: the pack is valid)."""
    documents, problems = read_documents(root)
    seen = {(p.file, p.line, p.path) for p in problems}
    checked = check_documents(root, documents)
    return problems + [p for p in checked if (p.file, p.line, p.path) not in seen]


# -- schema findings ---------------------------------------------------------------------------


def _schema_findings(validator: Validator, data: Any) -> list[Finding]:
    return [finding for error in validator.iter_errors(data) for finding in _explain(error)]


def _explain(error: ValidationError) -> Iterator[Finding]:
    """The violation in words a pack author acts on, at the key it concerns."""
    at: Where = tuple(error.absolute_path)
    value: Any = error.instance
    expected: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        # The error is about a mapping key, so point at that key.
        yield Finding((*at, str(value)), f"'{value}' {_PATTERNS[_KEY_PATTERN]}")
    elif error.validator == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))  # type: ignore[union-attr]
        for key in value:
            if key not in allowed:
                near = closest(str(key), allowed)
                hint = f"did you mean '{near}'?" if near else f"known keys: {', '.join(allowed)}"
                yield Finding((*at, key), f"unknown key '{key}'; {hint}", suggests=near)
    elif error.validator == "required" and isinstance(value, dict):
        for name in expected:
            if name not in value:
                yield Finding(at, f"missing required key '{name}'", missing=name)
    else:
        words = _MESSAGES.get(str(error.validator))
        yield Finding(at, (words and words(expected, value, at)) or error.message)


def _wrong_type(expected: Any, value: Any, _: Where) -> str:
    wanted: list[str] = expected if isinstance(expected, list) else [expected]
    return f"must be {' or '.join(TYPE_WORDS.get(t, t) for t in wanted)}, not {kind_of(value)}"


def _not_a_choice(expected: Any, value: Any, _: Where) -> str:
    near = closest(str(value), [str(choice) for choice in expected])
    hint = f" (did you mean {show(near)}?)" if near else ""
    return f"{show(value)} is not allowed{hint}: use one of {', '.join(map(show, expected))}"


def _forbidden(expected: Any, _: Any, at: Where) -> str | None:
    if expected != {} or not at:
        return None
    if at[-1] == "use":
        return "'use' is only allowed in an action's inputs"
    if at[-1] == "key":
        return "'key' is not allowed here: the input's name comes from 'use' or its mapping key"
    return f"'{at[-1]}' is not allowed here"


def _one_entry(_: Any, __: Any, at: Where) -> str | None:
    if at[:1] != ("call_inputs",):
        return None
    return "each call input is a one-entry mapping: '- timeout: {label: ...}'"


# Plainer words for the violations a pack author meets most; the rest keep jsonschema's message.
_MESSAGES: dict[str, Callable[[Any, Any, Where], str | None]] = {
    "type": _wrong_type,
    "enum": _not_a_choice,
    "not": _forbidden,
    "pattern": lambda expected, value, _: (
        f"'{value}' {_PATTERNS[expected]}" if expected in _PATTERNS else None
    ),
    "minLength": lambda expected, _, __: "must not be empty" if expected == 1 else None,
    "minProperties": _one_entry,
    "maxProperties": _one_entry,
}


def _without_echoes(findings: list[Finding]) -> list[Finding]:
    """Drop what repeats an unknown key: a typo'd 'lable' is also a missing 'label'."""
    suggested = {(f.at[:-1], f.suggests) for f in findings if f.suggests}
    # A typo'd 'use' turns an input into a full definition missing all its keys; one note is enough.
    typo_of_use = {at for at, near in suggested if near == "use"}
    kept: dict[Finding, None] = {}
    for finding in findings:
        if finding.missing and (
            (finding.at, finding.missing) in suggested or finding.at in typo_of_use
        ):
            continue
        kept.setdefault(finding)
    return list(kept)


# -- lines -------------------------------------------------------------------------------------


def _locate(root: Path, document: Document, findings: list[Finding]) -> list[Problem]:
    try:
        file = document.path.relative_to(root).as_posix()
    except ValueError:
        file = document.path.as_posix()
    node = _compose(document.text)
    located = [(_line(node, f.at), f) for f in findings]
    located.sort(key=lambda pair: pair[0] or 0)
    return [Problem(file, line, _dotted(f.at), f.message) for line, f in located]


def _compose(text: str) -> Any:
    import yaml  # noqa: PLC0415 - only reached when there is something to report

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return None


def _line(node: Any, at: Where) -> int | None:
    """The 1-based line of the deepest node on ``at`` that exists (a key's own line for keys)."""
    import yaml  # noqa: PLC0415

    if node is None:
        return None
    line: int = node.start_mark.line + 1
    for step in at:
        if isinstance(node, yaml.MappingNode):
            pair = next((p for p in node.value if str(p[0].value) == str(step)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                break
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _dotted(at: Where) -> str:
    """``("inputs", 2, "default")`` as ``inputs[2].default``; odd keys are quoted."""
    out = ""
    for step in at:
        if isinstance(step, int) and not isinstance(step, bool):
            out += f"[{step}]"
        elif (name := str(step)).replace("_", "a").replace("$", "a").isalnum():
            out += f".{name}" if out else name
        else:
            out += f"[{json.dumps(name)}]"
    return out
