"""Import OpenAPI documents into a pack: read them, generate, merge with what is there, write.

A pack may follow one document (`openapi.document`) or several (`openapi.documents`: paths or
globs inside the pack, each optionally with its own `base_path`, `group` label and
`key_suffix`). With several, one run imports them all; an action names its operations as
`document#operationId`, since two documents may use the same operationId.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectorkit.authoring.openapi._documents import Documents
from connectorkit.authoring.openapi._followups import FLAGS
from connectorkit.authoring.openapi._generate import Generated, OptionalPrefix, generate
from connectorkit.authoring.openapi._merge import merge
from connectorkit.authoring.openapi._naming import DEFAULT_VERBS
from connectorkit.authoring.openapi._spec import Operation, Spec, read_spec
from connectorkit.authoring.openapi._triggers import trigger_of, webhook_ids
from connectorkit.authoring.openapi._write import action_yaml, schema_header

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectorkit.authoring.model._check import Kind

__all__ = [
    "DocumentSettings",
    "ImportReport",
    "OpenApiSettings",
    "import_openapi",
    "listed_documents",
    "read_settings",
    "read_spec",
]


@dataclass(frozen=True, slots=True)
class DocumentSettings:
    """One entry of ``openapi.documents``: a path or glob inside the pack, and its own choices.

    `group` is the label the document's action groups start with (None: its title without
    "REST APIs"; "": none); `key_suffix` the words its action keys end with.
    """

    document: str
    base_path: str | None = None
    group: str | None = None
    key_suffix: str = ""


@dataclass(frozen=True, slots=True)
class OpenApiSettings:
    """What ``connector.yaml`` declares under ``openapi:`` (all optional)."""

    document: str | None = None
    base_path: str | None = None
    prefixes: tuple[OptionalPrefix, ...] = ()
    verbs: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_VERBS))
    documents: tuple[DocumentSettings, ...] = ()
    long_running: dict[str, Any] = field(default_factory=dict)
    follow_location: bool = False
    long_running_flags: tuple[str, ...] = FLAGS


@dataclass(slots=True)
class ImportReport:
    """What an import did, action by action, and every note about the document."""

    operations: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    curated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False  # nothing was written: the report says what would be
    # Trigger operations (x-ms-trigger): those made triggers, those already in the pack (kept
    # as they are), and why the others are not imported (counted by reason).
    triggers: list[str] = field(default_factory=list)
    triggers_kept: list[str] = field(default_factory=list)
    triggers_left_out: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The report as the command prints it (each note once)."""
        made, changed = (
            ("would be created", "would be updated") if self.dry_run else ("created", "updated")
        )
        counts = (
            f"{len(self.created)} action(s) {made}, {len(self.updated)} {changed}, "
            f"{len(self.unchanged)} unchanged, {len(self.curated)} hand-written kept as they are"
        )
        out = [f"{self.operations} operation(s): {counts}"]
        if self.dry_run:
            out[0] += " (--dry-run: nothing was written)"
        create, update = (
            ("would create", "would update") if self.dry_run else ("created", "updated")
        )
        out += [f"  {create}  actions/{key}.yaml" for key in self.created]
        out += [f"  {update}  actions/{key}.yaml" for key in self.updated]
        out += [f"  {create}  triggers/{key}.yaml" for key in self.triggers]
        out += [f"  kept  triggers/{key}.yaml (already in the pack)" for key in self.triggers_kept]
        out += [
            f"  trigger not imported: {why} ({n})"
            for why, n in sorted(self.triggers_left_out.items())
        ]
        out += [f"  not supported: {note}" for note in dict.fromkeys(self.notes)]
        return out


def _yaml(path: Path) -> Any:
    import yaml  # noqa: PLC0415

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def read_settings(connector: dict[str, Any]) -> OpenApiSettings:
    """The ``openapi:`` block of a parsed ``connector.yaml``."""
    block = connector.get("openapi") or {}
    if not isinstance(block, dict):
        return OpenApiSettings()
    prefixes = tuple(
        OptionalPrefix(str(p["path"]), str(p["input"]))
        for p in block.get("optional_prefixes") or []
        if isinstance(p, dict) and "path" in p and "input" in p
    )
    verbs = {**DEFAULT_VERBS, **(block.get("verbs") or {})}
    documents = tuple(
        DocumentSettings(entry)
        if isinstance(entry, str)
        else DocumentSettings(
            str(entry["document"]),
            entry.get("base_path"),
            entry.get("group"),
            str(entry.get("key_suffix") or ""),
        )
        for entry in block.get("documents") or []
        if isinstance(entry, str) or (isinstance(entry, dict) and "document" in entry)
    )
    long_running = block.get("long_running")
    return OpenApiSettings(
        document=block.get("document"),
        base_path=block.get("base_path"),
        prefixes=prefixes,
        verbs=verbs,
        documents=documents,
        long_running=long_running if isinstance(long_running, dict) else {},
        follow_location=block.get("follow_location") is True,
        long_running_flags=(*FLAGS, *(str(f) for f in block.get("long_running_flags") or [])),
    )


def listed_documents(root: Path, settings: OpenApiSettings) -> list[tuple[Path, DocumentSettings]]:
    """The files ``openapi.documents`` names (globs expanded, in order, each once).

    A later entry for a file already named gives it its own settings.
    """
    found: dict[Path, DocumentSettings] = {}
    for entry in settings.documents:
        matches = (
            sorted(root.glob(entry.document))
            if any(c in entry.document for c in "*?[")
            else [root / entry.document]
        )
        for path in matches:
            found[path] = DocumentSettings(
                path.relative_to(root).as_posix(), entry.base_path, entry.group, entry.key_suffix
            )
    return list(found.items())


def _common_base(spec: Spec) -> str:
    """The longest run of leading path segments every operation shares (``/v1.0/myorg``)."""
    if spec.base_path:
        return spec.base_path
    split = [op.path.strip("/").split("/")[:-1] for op in spec.operations]
    if not split:
        return ""
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1 or "{" in parts[0]:
            break
        common.append(parts[0])
    return "/" + "/".join(common) if common else ""


def import_openapi(
    spec_paths: Path | list[Path] | None,
    pack_root: Path,
    *,
    tags: tuple[str, ...] = (),
    operation_ids: tuple[str, ...] = (),
    dry_run: bool = False,
) -> ImportReport:
    """Write (or update) the actions of ``pack_root`` for the documents given.

    None (or no path) imports every document the pack's ``openapi.documents`` lists.
    """
    connector_file = pack_root / "connector.yaml"
    connector = _yaml(connector_file) or {}
    settings = read_settings(connector)
    given = [spec_paths] if isinstance(spec_paths, Path) else list(spec_paths or [])
    listed = {path.resolve(): chosen for path, chosen in listed_documents(pack_root, settings)}
    if not given:
        given = list(listed)
        if not given:
            raise ValueError("name a document, or list them in connector.yaml (openapi.documents)")
    several = len(given) > 1 or bool(settings.documents)
    documents = Documents()
    specs = [read_spec(path, documents) for path in given]
    webhooks = {
        id(op)
        for spec in specs
        if spec.triggers
        for op in spec.triggers
        if op.id in webhook_ids(spec.raw)
    }
    operations: list[Operation] = []
    for path, spec in zip(given, specs, strict=True):
        chosen = listed.get(path.resolve())
        operations += _placed(spec, chosen, pack_root, path, several=several)
    operations, repeats = _distinct(operations)
    base = settings.base_path
    if base is None:
        base = _common_base(specs[0]) if len(specs) == 1 else ""
    existing = _existing_actions(pack_root)
    taken = {op: key for key, (data, _) in existing.items() for op in _operations_of(data)}
    curated_ops = {
        op: key
        for key, (data, generated) in existing.items()
        if not generated
        for op in _operations_of(data)
    }
    made = generate(
        operations,
        base_path=base,
        prefixes=settings.prefixes,
        shared_inputs=connector.get("inputs") or {},
        verbs=settings.verbs,
        taken=taken,
        reserved=frozenset(existing) - set(taken.values()),
        runtime_inputs=_runtime_inputs(connector),
        long_running=settings.long_running,
        follow_location=settings.follow_location,
        long_running_flags=settings.long_running_flags,
    )
    report = ImportReport(dry_run=dry_run)
    report.notes += repeats
    wanted = [item for item in made if _selected(item.operations, tags, operation_ids)]
    report.operations = sum(len(item.operations) for item in wanted)
    # Every document is made and checked by its model before the first file is written, so a
    # document the model refuses leaves the pack as it was (InvalidDocument, a ValueError).
    writes: dict[Path, str] = {}
    for item in wanted:
        source = item.operations[0].document if several else (settings.document or given[0].name)
        _apply(item, pack_root, existing, curated_ops, report, source, writes)
    _triggers(wanted, pack_root, report, webhooks, writes)
    record = None if several else _record_document(given[0], pack_root, settings, base)
    if not dry_run:
        for path, text in writes.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if record is not None:
            record()
    return report


def _checked(kind: Kind, document: Any, what: str) -> None:
    """Raise InvalidDocument (a ValueError) naming ``what`` when its model refuses ``document``."""
    from connectorkit.authoring.model._check import check as checked  # noqa: PLC0415 - pydantic

    checked(kind, document, what)


def _runtime_inputs(connector: dict[str, Any]) -> frozenset[str]:
    """The inputs every action of the pack gets: its call inputs and the multi-request ones."""
    from connectorkit.pack._multistep import OPERATION_INPUTS  # noqa: PLC0415

    calls = {
        str(key)
        for entry in connector.get("call_inputs") or []
        if isinstance(entry, dict)
        for key in entry
    }
    return frozenset(calls | set(OPERATION_INPUTS))


def _distinct(operations: list[Operation]) -> tuple[list[Operation], list[str]]:
    """Each operation once: a repeat of an earlier one's method, path and flags is left out."""
    first: dict[tuple[str, str, tuple[tuple[str, str], ...]], Operation] = {}
    kept: list[Operation] = []
    notes: list[str] = []
    for op in operations:
        seen = first.setdefault((op.method, op.path, tuple(sorted(op.flags.items()))), op)
        if seen is op:
            kept.append(op)
        else:
            notes.append(f"{op.ref} repeats {seen.ref}; its action stands for both")
    return kept, notes


def _placed(
    spec: Spec, chosen: DocumentSettings | None, root: Path, path: Path, *, several: bool
) -> list[Operation]:
    """The document's operations, each knowing its document, group and key suffix."""
    if not several:
        return spec.operations
    try:
        name = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        name = path.as_posix()
    chosen = chosen or DocumentSettings(name)
    group = chosen.group
    if group is None:
        group = re.sub(r"\s*REST APIs?$", "", spec.title, flags=re.IGNORECASE).strip()
    for op in spec.operations:
        op.document = name
        op.ref = f"{name}#{op.id}"
        op.group = group
        op.key_suffix = chosen.key_suffix
        if chosen.base_path is not None:
            op.path = chosen.base_path.rstrip("/") + op.path.removeprefix(spec.base_path)
    return spec.operations


def _selected(ops: list[Operation], tags: tuple[str, ...], ids: tuple[str, ...]) -> bool:
    if not tags and not ids:
        return True
    return any(op.tag in tags or op.id in ids or op.ref in ids for op in ops)


def _operations_of(data: Any) -> list[str]:
    block = data.get("openapi") if isinstance(data, dict) else None
    ops = block.get("operations") if isinstance(block, dict) else None
    return [str(o) for o in ops] if isinstance(ops, list) else []


def _existing_actions(root: Path) -> dict[str, tuple[dict[str, Any], bool]]:
    found: dict[str, tuple[dict[str, Any], bool]] = {}
    for path in sorted((root / "actions").glob("*.yaml")):
        try:
            data = _yaml(path)
        except Exception:  # noqa: BLE001 - a broken file is left to `validate`; the key is kept
            data = None
        data = data if isinstance(data, dict) else {}
        block = data.get("openapi")
        generated = isinstance(block, dict) and block.get("generated") is True
        found[path.stem] = (data, generated)
    return found


def _apply(  # noqa: PLR0917 - one generated action and where it goes
    item: Generated,
    root: Path,
    existing: dict[str, tuple[dict[str, Any], bool]],
    curated_ops: dict[str, str],
    report: ImportReport,
    source: str,
    writes: dict[Path, str],
) -> None:
    """Add the action's file to ``writes`` when it is new or changed, checked by the model."""
    ids = [op.id for op in item.operations]
    report.notes += item.notes
    owner = next((curated_ops[i] for i in ids if i in curated_ops), None)
    if owner is not None:
        report.curated.append(owner)
        return
    path = root / "actions" / f"{item.key}.yaml"
    data = item.data
    if item.key in existing:
        data, notes = merge(item.data, existing[item.key][0])
        report.notes += [f"{item.key}: {note}" for note in notes]
    trigger = bool(item.operations[0].extensions.get("x-ms-trigger"))
    if "202" in item.operations[0].statuses and "long_running" not in data and not trigger:
        report.notes.append(
            f"{ids[0]}: answers 202 (started, not done) and the document does not say how to "
            f"follow it: {item.key} needs a long_running block written by hand"
        )
    if item.key in existing:
        if data == existing[item.key][0]:
            report.unchanged.append(item.key)
            return
        report.updated.append(item.key)
    else:
        report.created.append(item.key)
    operations = ", ".join(op.ref for op in item.operations)
    _checked("action", data, f"operation {operations}: actions/{item.key}.yaml")
    header = schema_header(root)
    writes[path] = action_yaml(data, generated_from=source, header=header)


def _triggers(
    wanted: list[Generated],
    root: Path,
    report: ImportReport,
    webhooks: set[int],
    writes: dict[Path, str],
) -> None:
    """A trigger file for each trigger operation that can be one; the others counted, by reason."""
    existing = {p.stem for p in (root / "triggers").glob("*.yaml")}
    taken: set[str] = set()
    for item in wanted:
        operation = item.operations[0]
        if not operation.extensions.get("x-ms-trigger"):
            continue
        data, why = trigger_of(
            operation,
            item.key,
            item.data.get("inputs") or [],
            item.names,
            webhook=id(operation) in webhooks,
        )
        if data is not None and "long_running" in item.data:
            data, why = None, "its action follows a 202 as a long-running operation, not a poll"
        if data is None:
            report.triggers_left_out[why or "?"] += 1
            continue
        key = base = str(data["key"])
        number = 1
        while key in taken:
            number += 1
            key = f"{base}_{number}"
        taken.add(key)
        data["key"] = key
        if key in existing:
            report.triggers_kept.append(key)
            continue
        report.triggers.append(key)
        _checked("trigger", data, f"operation {operation.ref}: triggers/{key}.yaml")
        header = schema_header(root).replace("action.schema.json", "trigger.schema.json")
        writes[root / "triggers" / f"{key}.yaml"] = action_yaml(data, header=header)


def _record_document(
    spec_path: Path, root: Path, settings: OpenApiSettings, base: str
) -> Callable[[], None]:
    """What keeps the document in the pack and declares it, so tests check requests against it.

    The ``openapi:`` block it adds to ``connector.yaml`` is checked by the model first.
    """
    target = root / (settings.document or f"openapi/{spec_path.name}")
    relative = target.relative_to(root).as_posix() if settings.document is None else ""
    if settings.document is None:
        _checked(
            "connector.openapi",
            {"document": relative, "base_path": base},
            f"{spec_path.name}: the openapi block of connector.yaml",
        )

    def record() -> None:
        if not target.exists() or not spec_path.samefile(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(spec_path, target)
        if settings.document is None:
            connector_file = root / "connector.yaml"
            text = connector_file.read_text(encoding="utf-8")
            block = (
                "\n# Written by `connectorkit import-openapi`: the document the actions come "
                "from;\n# the conformance tests check every action's request against it.\n"
                f"openapi:\n  document: {relative}\n  base_path: {_quoted(base)}\n"
            )
            connector_file.write_text(text.rstrip("\n") + "\n" + block, encoding="utf-8")

    return record


def _quoted(text: str) -> str:
    import json  # noqa: PLC0415

    return json.dumps(text)
