"""A Power Platform custom connector's folder into a pack (``connectorkit import power-platform``).

The folder holds ``apiDefinition.swagger.json`` (the operations, with Power Platform's ``x-ms-*``
extensions) and ``apiProperties.json`` (how users connect, the policies the platform applies,
the publisher). The pack gets a ``connector.yaml``, a connection per way to connect, an action
per operation (through the OpenAPI importer, which maps the extensions) and both files under
``openapi/`` (the conformance tests check requests against the definition; an export starts
from them). A polling trigger (``x-ms-trigger``) becomes a trigger of the pack (see
:mod:`connectorkit.authoring.openapi._triggers`). What it cannot carry — webhook triggers,
policies, ``script.csx`` — is listed with a count, never dropped in silence.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectorkit.authoring._scaffold import connector_yaml
from connectorkit.authoring.openapi._import import ImportReport, import_openapi
from connectorkit.authoring.openapi._security import key_of
from connectorkit.authoring.openapi._spec import read_document
from connectorkit.authoring.openapi._write import schema_header
from connectorkit.authoring.powerplatform._connections import connections_for, support

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFINITION",
    "PROPERTIES",
    "PowerPlatformReport",
    "find_files",
    "import_power_platform",
]

DEFINITION = "apiDefinition.swagger.json"
PROPERTIES = "apiProperties.json"


@dataclass(slots=True)
class PowerPlatformReport:
    """What an import made, and what it left out (counted)."""

    pack: str = ""
    connections: list[str] = field(default_factory=list)
    actions: ImportReport | None = None
    left_out: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as the command prints it."""
        out = [f"pack {self.pack}: connections {', '.join(self.connections) or 'none'}"]
        if self.actions is not None:
            out += self.actions.lines()
        out += [f"  not imported: {what} ({n})" for what, n in sorted(self.left_out.items())]
        out += [f"  note: {note}" for note in dict.fromkeys(self.notes)]
        return out


def find_files(source: Path) -> tuple[Path, Path | None]:
    """The definition and the properties file of a connector folder (or of a definition file)."""
    folder = source if source.is_dir() else source.parent
    by_name = (
        {p.name.lower(): p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    )
    definition = source if source.is_file() else by_name.get(DEFINITION.lower())
    if definition is None:
        raise FileNotFoundError(f"{source} holds no {DEFINITION}")
    return definition, by_name.get(PROPERTIES.lower())


def import_power_platform(
    source: Path, root: Path, *, dry_run: bool = False
) -> PowerPlatformReport:
    """Make (or update) the pack at ``root`` from the connector at ``source``."""
    definition, properties_file = find_files(source)
    swagger, notes = read_document(definition)
    if not isinstance(swagger, dict) or "swagger" not in swagger:
        raise ValueError(f"{definition}: not a swagger 2.0 document")
    properties: dict[str, Any] | None = None
    if properties_file is not None:
        read, more = read_document(properties_file)
        properties = read if isinstance(read, dict) else None
        notes += more
    found = connections_for(swagger, properties, found=support())
    report = PowerPlatformReport(notes=[*notes, *found.notes])
    title = str((swagger.get("info") or {}).get("title") or definition.parent.name)
    report.pack = key_of(title)
    report.connections = [str(c["key"]) for c in found.items]
    folder = source if source.is_dir() else definition.parent
    # The OpenAPI import makes triggers of the polling ones and counts the others, by reason;
    # a dry run without a pack to import into counts them all here.
    count_triggers = dry_run and not _is_pack(root)
    _left_out(swagger, properties, report, folder, found.used_policies, triggers=count_triggers)
    if dry_run:
        report.actions = import_openapi(definition, root, dry_run=True) if _is_pack(root) else None
        return report
    root.mkdir(parents=True, exist_ok=True)
    if not _is_pack(root):
        _write_pack(root, swagger, title, found.default)
    for connection in found.items:
        _write_connection(root, connection)
    if properties_file is not None:
        target = root / "openapi" / PROPERTIES
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(properties_file, target)
    report.actions = import_openapi(definition, root)
    return report


def _is_pack(root: Path) -> bool:
    return (root / "connector.yaml").is_file()


def _write_pack(root: Path, swagger: dict[str, Any], title: str, default: str) -> None:
    from connectorkit.pack._files import schema_dir  # noqa: PLC0415

    info = swagger.get("info") or {}
    description = " ".join(str(info.get("description") or "").split()) or f"The {title} API."
    (root / "connector.yaml").write_text(
        connector_yaml(
            key_of(title),
            title,
            description=description,
            version=str(info["version"]) if info.get("version") else None,
            default_connection=default,
        ),
        encoding="utf-8",
    )
    prefixes = _optional_prefixes(swagger)
    if prefixes:
        # A document exported by connectorkit says which path part is optional: one action of
        # the operation with it and the one without, as in the pack it came from.
        import json  # noqa: PLC0415

        lines = [
            "",
            "# Written by `connectorkit import power-platform`: the document the actions come",
            "# from; the conformance tests check every action's request against it.",
            "openapi:",
            f"  document: openapi/{DEFINITION}",
            f"  base_path: {json.dumps(str(swagger.get('basePath') or ''))}",
            "  optional_prefixes:",
            *(f"    - {{ path: {json.dumps(p)}, input: {json.dumps(i)} }}" for p, i in prefixes),
        ]
        with (root / "connector.yaml").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    for schema in sorted(schema_dir().glob("*.schema.json")):
        target = root / "schemas" / schema.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(schema, target)


def _optional_prefixes(swagger: dict[str, Any]) -> list[tuple[str, str]]:
    """The optional path parts an exported document names (``x-connectorkit``)."""
    block = swagger.get("x-connectorkit")
    entries = block.get("optional_prefixes") if isinstance(block, dict) else None
    return [
        (str(e["path"]), str(e["input"]))
        for e in entries or []
        if isinstance(e, dict)
        and isinstance(e.get("path"), str)
        and isinstance(e.get("input"), str)
    ]


def _write_connection(root: Path, data: dict[str, Any]) -> None:
    """A connection file, unless one of that key is there (an author's edits are kept)."""
    from connectorkit.authoring.openapi._write import action_yaml  # noqa: PLC0415

    path = root / "connections" / f"{data['key']}.yaml"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    header = schema_header(root).replace("action.schema.json", "connection.schema.json")
    path.write_text(action_yaml(data, header=header), encoding="utf-8")


def _left_out(
    swagger: dict[str, Any],
    properties: dict[str, Any] | None,
    report: PowerPlatformReport,
    folder: Path,
    used: set[int],
    *,
    triggers: bool,
) -> None:
    """What the pack cannot carry, counted by kind (``triggers``: trigger operations too)."""
    spec_triggers = _triggers(swagger) if triggers else Counter[str]()
    if spec_triggers["polling"]:
        report.left_out["triggers (polling, x-ms-trigger)"] = spec_triggers["polling"]
    if spec_triggers["webhook"]:
        report.left_out["triggers (webhooks, x-ms-notification-url)"] = spec_triggers["webhook"]
    props = (properties or {}).get("properties") or {}
    policies = [p for p in props.get("policyTemplateInstances") or [] if isinstance(p, dict)]
    for index, policy in enumerate(policies):
        if index not in used:
            report.left_out[f"policy template {policy.get('templateId') or '?'}"] += 1
    if (folder / "script.csx").is_file():
        report.left_out["custom code (script.csx)"] = len(props.get("scriptOperations") or []) or 1


def _triggers(swagger: dict[str, Any]) -> Counter[str]:
    """Trigger operations: webhooks (a notification URL parameter) and the polling ones."""
    found: Counter[str] = Counter()
    for item in (swagger.get("paths") or {}).values():
        for op in (item or {}).values() if isinstance(item, dict) else ():
            if not isinstance(op, dict) or not op.get("x-ms-trigger"):
                continue
            webhook = any(
                isinstance(p, dict) and p.get("x-ms-notification-url")
                for p in [*(op.get("parameters") or []), *_body_properties(op)]
            )
            found["webhook" if webhook else "polling"] += 1
    return found


def _body_properties(op: dict[str, Any]) -> list[Any]:
    for param in op.get("parameters") or []:
        if isinstance(param, dict) and param.get("in") == "body":
            schema = param.get("schema") or {}
            return (
                list((schema.get("properties") or {}).values()) if isinstance(schema, dict) else []
            )
    return []
