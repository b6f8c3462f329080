"""Re-running the importer: the document's structure is renewed, the author's words are kept.

Generated fields (the request, each input's type, requirement and constraints, the operation
links, the result shape) follow the document. Curated fields (the action's label, description,
group, importance, examples, result, pages and long_running; each input's label, comments,
default and example) keep what the file already says, so an author's edits survive a re-import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CURATED_ACTION_FIELDS", "CURATED_INPUT_FIELDS", "merge"]

CURATED_ACTION_FIELDS = (
    "label", "description", "group", "importance", "examples", "result", "pages", "long_running",
)  # fmt: skip
# An input's fields an author may write or change, kept by a re-import: its words, its
# default, where its values come from (choices, a dynamic schema) and how prominent it is.
CURATED_INPUT_FIELDS = (
    "label", "comments", "default", "example", "choices", "dynamic_schema", "importance",
)  # fmt: skip


def _input_key(spec: Any) -> str | None:
    if isinstance(spec, dict):
        key = spec.get("key") or spec.get("use")
        return str(key) if key is not None else None
    return None


def merge(generated: dict[str, Any], existing: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The generated action with the existing file's curated fields; notes on what changed."""
    notes: list[str] = []
    merged = dict(generated)
    for name in CURATED_ACTION_FIELDS:
        if name in existing:
            merged[name] = existing[name]
    old_inputs = {_input_key(i): i for i in existing.get("inputs") or [] if _input_key(i)}
    inputs: list[dict[str, Any]] = []
    for spec in generated.get("inputs") or []:
        key = _input_key(spec)
        old = old_inputs.pop(key, None)
        if isinstance(old, dict):
            kept = {**spec, **{name: old[name] for name in CURATED_INPUT_FIELDS if name in old}}
            # An author may have chosen a shared definition instead: keep that choice.
            if "use" in old and "key" in kept:
                kept = {"use": key, **{k: v for k, v in kept.items() if k in _USE_KEEP}}
            inputs.append(kept)
        else:
            inputs.append(spec)
    notes += [f"input '{gone}' is no longer in the document: removed" for gone in old_inputs]
    merged["inputs"] = inputs
    # Keep the file's key order: first the generated order, then anything else the author added.
    for name, value in existing.items():
        if name not in merged:
            merged[name] = value
    return {k: merged[k] for k in _ORDER if k in merged} | {
        k: v for k, v in merged.items() if k not in _ORDER
    }, notes


_USE_KEEP = ("required", *CURATED_INPUT_FIELDS)
_ORDER = (
    "key", "label", "description", "group", "importance", "openapi", "inputs", "request",
    "long_running", "pages", "result", "returns", "examples",
)  # fmt: skip
