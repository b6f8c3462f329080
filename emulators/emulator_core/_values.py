"""Values valid against a swagger schema, built from the schema alone and deterministic.

Every declared property is filled (recursion and nesting are cut short where the schema loops);
enums take their first value; strings follow their format and pattern; ids come from the
request's path where the names agree; a polymorphic base (`discriminator`) becomes its first
subtype, with the discriminator set to that subtype's value.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Mapping

    from emulator_core._documents import DocumentSet, Located

__all__ = ["SchemaValues", "Subtypes", "python_pattern"]

Json = dict[str, Any]
_MAX_DEPTH = 8  # deeper than this, objects get only their required properties, arrays none
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UNICODE_LETTER = re.compile(r"\\p\{L\}")


def python_pattern(pattern: str) -> re.Pattern[str]:
    r"""A swagger (ECMA) pattern for Python's `re`: `\p{L}` (a letter) is read as `\w`."""
    return re.compile(_UNICODE_LETTER.sub(r"\\w", pattern))


class Subtypes:
    """The subtypes of each polymorphic base: definitions whose `allOf` names the base."""

    def __init__(self, documents: DocumentSet) -> None:
        self._documents = documents
        self._by_base: dict[int, list[tuple[str, Located]]] = {}
        for path, document in sorted(documents.documents.items()):
            for name, definition in sorted(document.get("definitions", {}).items()):
                for part in definition.get("allOf", []):
                    if not isinstance(part, dict) or "$ref" not in part:
                        continue
                    base, _ = documents.resolve(part, path)
                    if "discriminator" in base:
                        value = str(definition.get("x-ms-discriminator-value", name))
                        self._by_base.setdefault(id(base), []).append((value, (definition, path)))

    def of(self, base: Json) -> list[tuple[str, Located]]:
        """(discriminator value, subtype) pairs of `base`, in document order."""
        return self._by_base.get(id(base), [])

    def pick(self, base: Json, value: object) -> Located | None:
        """The subtype whose discriminator value is `value`, if there is one."""
        return next((sub for v, sub in self.of(base) if v == value), None)


class SchemaValues:
    """Builds a value for a schema of a document set."""

    def __init__(
        self,
        documents: DocumentSet,
        subtypes: Subtypes,
        now: str,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self._documents = documents
        self._subtypes = subtypes
        self._now = now
        self._params = {k.lower(): v for k, v in (params or {}).items()}
        uuids = [v for v in (params or {}).values() if _UUID.fullmatch(v)]
        self._own_id = uuids[-1] if uuids else None  # the resource the path addresses
        self._building: list[int] = []
        self._variant = 0  # which enum value to take (items of one array differ)

    def build(self, located: Located, name: str = "", depth: int = 0) -> Any:
        """A value for the schema; `name` is the property it fills (to pick ids and names)."""
        schema, document = self._documents.resolve(*located)
        if id(schema) in self._building:
            return None  # a loop: the caller leaves the property out
        self._building.append(id(schema))
        try:
            return self._build(schema, document, name, depth)
        finally:
            self._building.pop()

    def _build(self, schema: Json, document: str, name: str, depth: int) -> Any:
        if "discriminator" in schema and self._subtypes.of(schema):
            value, subtype = self._subtypes.of(schema)[0]
            built = self._object(subtype, depth, skip_base=schema)
            built[str(schema["discriminator"])] = value
            return built
        kind = schema.get("type")
        if kind == "object" or (kind is None and ("properties" in schema or "allOf" in schema)):
            return self._object((schema, document), depth)
        if kind == "array":
            return self._array(schema, document, name, depth)
        return self._scalar(schema, kind, name)

    def _array(self, schema: Json, document: str, name: str, depth: int) -> list[Any]:
        """One item, or `minItems` of them (each taking the next enum value: `Path`, `Action`)."""
        if depth >= _MAX_DEPTH:
            return []
        items: list[Any] = []
        outer = self._variant
        for variant in range(max(1, int(schema.get("minItems", 1)))):
            self._variant = variant
            item = self.build((schema.get("items", {}), document), name, depth + 1)
            if item is not None:
                items.append(item)
        self._variant = outer
        return items

    def _object(self, located: Located, depth: int, skip_base: Json | None = None) -> Json:
        schema, document = located
        out: Json = {}
        for part in schema.get("allOf", []):
            resolved, where = self._documents.resolve(part, document)
            if resolved is skip_base:
                out.update(self._object((resolved, where), depth))
            else:
                value = self.build((part, document), "", depth)
                if isinstance(value, dict):
                    out.update(value)
        required = set(schema.get("required", []))
        for key, sub in cast("Json", schema.get("properties", {})).items():
            if depth >= _MAX_DEPTH and key not in required:
                continue
            value = self.build((sub, document), key, depth + 1)
            if value is not None:
                out[key] = value
        for key in required - set(out):
            out[key] = self._now if key.lower().endswith("time") else key
        return out

    def _scalar(self, schema: Json, kind: object, name: str) -> Any:
        if "enum" in schema:
            return schema["enum"][self._variant % len(schema["enum"])]
        if kind == "integer":
            low = int(schema.get("minimum", 1))
            return max(low, min(1, int(schema.get("maximum", 1))))
        if kind == "number":
            return float(schema.get("minimum", 1.0))
        if kind == "boolean":
            return False
        if kind == "string" or kind is None:
            return self._string(schema, name)
        return {}

    def _string(self, schema: Json, name: str) -> str:
        fmt = schema.get("format")
        lowered = name.lower()
        if fmt in {"date-time", "date-time-offset"}:
            return self._now
        if fmt == "date":
            return self._now[:10]
        if fmt == "uuid" or lowered == "id" or lowered.endswith("id"):
            given = self._params.get(lowered) or (self._own_id if lowered == "id" else None)
            if given and (fmt != "uuid" or _UUID.fullmatch(given)):
                return given
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator/{name}"))
        pattern = schema.get("pattern")
        text = _text_for(lowered, name, fmt)
        if isinstance(pattern, str):
            text = _matching(python_pattern(pattern), text)
        limit = schema.get("maxLength")
        return text[:limit] if isinstance(limit, int) else text


def _text_for(lowered: str, name: str, fmt: object) -> str:
    """A plausible string for a property by its name and format."""
    if fmt == "uri" or "url" in lowered or "uri" in lowered:
        return "https://app.fabric.microsoft.com/emulated"
    if fmt in {"time", "time-span"} or lowered.endswith(("duration", "timeout")):
        return "00:05:00"
    if lowered in {"name", "displayname"}:
        return "Emulated_item"
    if "email" in lowered or lowered in {"userprincipalname", "upn"}:
        return "emulator.user@contoso.com"
    return name or "value"


def _matching(pattern: re.Pattern[str], preferred: str) -> str:
    """`preferred` when the pattern takes it, else the first of a few plain candidates."""
    candidates = [preferred, "Emulated_item", "Files/emulated", "emulated", "a", "1", "00:05:00"]
    pair = f"{uuid.UUID(int=1)}/{uuid.UUID(int=2)}"
    for candidate in [*candidates, pair]:
        if pattern.search(candidate):
            return candidate
    return preferred
