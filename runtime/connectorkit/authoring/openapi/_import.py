"""Import an OpenAPI document into a pack: read it, generate, merge with what is there, write."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectorkit.authoring.openapi._generate import Generated, OptionalPrefix, generate
from connectorkit.authoring.openapi._merge import merge
from connectorkit.authoring.openapi._naming import DEFAULT_VERBS
from connectorkit.authoring.openapi._spec import Operation, Spec, read_spec
from connectorkit.authoring.openapi._write import action_yaml, schema_header

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ImportReport", "OpenApiSettings", "import_openapi", "read_settings", "read_spec"]


@dataclass(frozen=True, slots=True)
class OpenApiSettings:
    """What ``connector.yaml`` declares under ``openapi:`` (all optional)."""

    document: str | None = None
    base_path: str | None = None
    prefixes: tuple[OptionalPrefix, ...] = ()
    verbs: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_VERBS))


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
    return OpenApiSettings(
        document=block.get("document"),
        base_path=block.get("base_path"),
        prefixes=prefixes,
        verbs=verbs,
    )


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
    spec_path: Path,
    pack_root: Path,
    *,
    tags: tuple[str, ...] = (),
    operation_ids: tuple[str, ...] = (),
    dry_run: bool = False,
) -> ImportReport:
    """Write (or update) the actions of ``pack_root`` for the document at ``spec_path``."""
    spec = read_spec(spec_path)
    connector_file = pack_root / "connector.yaml"
    connector = _yaml(connector_file) or {}
    settings = read_settings(connector)
    base = settings.base_path if settings.base_path is not None else _common_base(spec)
    existing = _existing_actions(pack_root)
    taken = {op: key for key, (data, _) in existing.items() for op in _operations_of(data)}
    curated_ops = {
        op: key
        for key, (data, generated) in existing.items()
        if not generated
        for op in _operations_of(data)
    }
    made = generate(
        spec.operations,
        base_path=base,
        prefixes=settings.prefixes,
        shared_inputs=connector.get("inputs") or {},
        verbs=settings.verbs,
        taken=taken,
        reserved=frozenset(existing) - set(taken.values()),
    )
    report = ImportReport(dry_run=dry_run)
    wanted = [item for item in made if _selected(item.operations, tags, operation_ids)]
    report.operations = sum(len(item.operations) for item in wanted)
    source = settings.document or spec_path.name
    for item in wanted:
        _apply(item, pack_root, existing, curated_ops, report, source, dry_run=dry_run)
    if not dry_run:
        _record_document(spec_path, pack_root, connector_file, settings, base)
    return report


def _selected(ops: list[Operation], tags: tuple[str, ...], ids: tuple[str, ...]) -> bool:
    if not tags and not ids:
        return True
    return any(op.tag in tags or op.id in ids for op in ops)


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
    *,
    dry_run: bool,
) -> None:
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
    if "202" in item.operations[0].statuses and "long_running" not in data:
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
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = schema_header(root)
        path.write_text(action_yaml(data, generated_from=source, header=header), encoding="utf-8")


def _record_document(
    spec_path: Path, root: Path, connector_file: Path, settings: OpenApiSettings, base: str
) -> None:
    """Keep the document in the pack and declare it, so tests can check requests against it."""
    target = root / (settings.document or f"openapi/{spec_path.name}")
    if not target.exists() or not spec_path.samefile(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec_path, target)
    if settings.document is None:
        relative = target.relative_to(root).as_posix()
        text = connector_file.read_text(encoding="utf-8")
        block = (
            "\n# Written by `connectorkit import-openapi`: the document the actions come from;\n"
            "# the conformance tests check every action's request against it.\n"
            f"openapi:\n  document: {relative}\n  base_path: {_quoted(base)}\n"
        )
        connector_file.write_text(text.rstrip("\n") + "\n" + block, encoding="utf-8")


def _quoted(text: str) -> str:
    import json  # noqa: PLC0415

    return json.dumps(text)
