"""Power Platform custom connectors in: how many of Microsoft's public connectors become packs.

Microsoft publishes more than a thousand custom connectors (MIT) in one repository; get it with

    git clone --depth 1 https://github.com/microsoft/PowerPlatformConnectors

and give its folder to this script. For every connector of ``certified-connectors`` and
``independent-publisher-connectors`` (a folder with an ``apiDefinition.swagger.json``) it runs
the importer (``connectorkit import power-platform``) into a scratch pack, then loads and checks
that pack, and asks:

- imported: the importer made a pack without failing;
- valid: the pack loads (every file checked against the schemas and the cross-file rules);
- base URL: its default connection's ``base_url`` default is the document's own (its host and
  base path, or the host template of a ``dynamichosturl`` policy), not left for the user;
- kind: a connection is of the document's kind (``apiKey`` → ``api_key``, ``basic`` → ``basic``,
  ``oauth2`` or an ``oauthSetting`` parameter → ``oauth2``, nothing → ``none``).

It prints the figures, the most common causes of each failure, and what was left out (triggers,
policies, custom code) over the whole corpus. It is a measurement, not a test.

    python bench/power_platform.py PATH [--limit N] [--only NAME] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

GROUPS = ("certified-connectors", "independent-publisher-connectors")
_KINDS = {"apiKey": "api_key", "basic": "basic", "oauth2": "oauth2"}


def _connectors(corpus: Path, only: str | None) -> list[Path]:
    found = [
        folder
        for group in GROUPS
        for folder in sorted((corpus / group).iterdir())
        if folder.is_dir()
        and any(p.name.lower() == "apidefinition.swagger.json" for p in folder.iterdir())
    ]
    return [f for f in found if only is None or only.lower() in f.name.lower()]


def _expected_kind(swagger: Any, properties: Any) -> str:
    """The kind of connection the document asks for."""
    definitions = swagger.get("securityDefinitions") if isinstance(swagger, dict) else None
    for spec in (definitions or {}).values():
        kind = _KINDS.get(str(spec.get("type")) if isinstance(spec, dict) else "")
        if kind is not None:
            return kind
    props = (properties or {}).get("properties") or {} if isinstance(properties, dict) else {}
    parameters = dict(props.get("connectionParameters") or {})
    for entry in (props.get("connectionParameterSets") or {}).get("values") or []:
        parameters.update((entry or {}).get("parameters") or {})
    types = {str((p or {}).get("type")).lower() for p in parameters.values() if isinstance(p, dict)}
    if "oauthsetting" in types:
        return "oauth2"
    return "api_key" if "securestring" in types else "none"


def _cause(message: str) -> str:
    """A failure's cause with the names that differ from connector to connector taken out."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message.splitlines()[0])
    text = re.sub(r"\b(line|column|at|char) \d+", r"\1 N", text)
    text = re.sub(r"\[\d+\]", "[N]", text)
    text = re.sub(r"actions/[^:]+\.yaml(:\d+)?", "actions/X.yaml", text)
    text = re.sub(r"connections/[^:]+\.yaml(:\d+)?", "connections/X.yaml", text)
    return text[:160]


def _one(folder: Path, scratch: Path) -> dict[str, Any]:
    from connectorkit.authoring.openapi._spec import read_document  # noqa: PLC0415
    from connectorkit.authoring.powerplatform._import import (  # noqa: PLC0415
        find_files,
        import_power_platform,
    )
    from connectorkit.core._errors import PackError  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    row: dict[str, Any] = {"name": f"{folder.parent.name}/{folder.name}"}
    root = scratch / "pack"
    shutil.rmtree(root, ignore_errors=True)
    try:
        definition, properties_file = find_files(folder)
        swagger, _ = read_document(definition)
        properties = read_document(properties_file)[0] if properties_file else None
        row["expected_kind"] = _expected_kind(swagger, properties)
        report = import_power_platform(folder, root)
    except Exception as exc:  # noqa: BLE001 - every failure is a figure, not a crash
        row["imported"] = False
        row["cause"] = _cause(f"{type(exc).__name__}: {exc}")
        return row
    row["imported"] = True
    row["actions"] = len(report.actions.created) if report.actions else 0
    row["left_out"] = dict(report.left_out)
    row["forgiven"] = [n for n in report.notes if ": read despite " in n]
    try:
        pack = load_pack(root)
    except PackError as exc:
        row["valid"] = False
        row["cause"] = _cause(str(exc.problems[0]) if getattr(exc, "problems", None) else str(exc))
        row["problems"] = len(getattr(exc, "problems", ()) or ())
        return row
    row["valid"] = True
    row["kinds"] = sorted({c.type for c in pack.connections.values()})
    default = pack.connections[pack.default_connection]
    base = next((v.default for v in default.values if v.key == "base_url"), None)
    row["base_url"] = base
    row["has_base_url"] = bool(base) and "example.com/v1" not in str(base)
    row["has_kind"] = row["expected_kind"] in row["kinds"]
    return row


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; 0 when it ran (whatever the figures), 2 for a bad path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a clone of microsoft/PowerPlatformConnectors")
    parser.add_argument("--limit", type=int, help="only the first N connectors")
    parser.add_argument("--only", help="only connectors whose folder name holds this text")
    parser.add_argument("--json", type=Path, help="write every connector's row to this file")
    args = parser.parse_args(argv)
    if not all((args.corpus / g).is_dir() for g in GROUPS):
        print(f"{args.corpus}: not a clone of microsoft/PowerPlatformConnectors", file=sys.stderr)
        return 2
    folders = _connectors(args.corpus, args.only)[: args.limit]
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as scratch:
        os.environ["CONNECTORKIT_CACHE_DIR"] = str(Path(scratch) / "cache")
        for number, folder in enumerate(folders, start=1):
            rows.append(_one(folder, Path(scratch)))
            if number % 100 == 0:
                print(f"  {number} / {len(folders)}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    _print(rows, elapsed)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


def _print(rows: list[dict[str, Any]], elapsed: float) -> None:
    total = len(rows)
    imported = [r for r in rows if r["imported"]]
    valid = [r for r in imported if r.get("valid")]
    complete = [r for r in valid if r["has_base_url"] and r["has_kind"]]
    load = os.getloadavg()
    print(f"Power Platform connectors (certified + independent publisher): {total}")
    print(f"  imported                         {len(imported):5}  {_percent(len(imported), total)}")
    print(
        f"  valid (of those imported)        {len(valid):5}  {_percent(len(valid), len(imported))}"
    )
    print(
        f"  valid, base URL and kind (of imported) {len(complete):5}  "
        f"{_percent(len(complete), len(imported))}"
    )
    print(f"  with the document's base URL     {sum(r['has_base_url'] for r in valid):5}")
    print(f"  with the document's kind         {sum(r['has_kind'] for r in valid):5}")
    expected = Counter(r.get("expected_kind") for r in rows if r.get("expected_kind"))
    print("  document kinds: " + ", ".join(f"{k} {n}" for k, n in expected.most_common()))
    print(f"  actions made                     {sum(r.get('actions', 0) for r in imported):5}")
    forgiven = sum(1 for r in imported if r.get("forgiven"))
    print(f"  read despite a BOM or lenient JSON: {forgiven}")
    print(
        f"  time {elapsed:.1f} s ({1000 * elapsed / max(total, 1):.0f} ms a connector); "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    sections = [
        ("import failures", [r for r in rows if not r["imported"]]),
        ("invalid packs", [r for r in imported if not r.get("valid")]),
        ("no base URL", [r for r in valid if not r["has_base_url"]]),
        ("not the document's kind", [r for r in valid if not r["has_kind"]]),
    ]
    for title, failed in sections:
        if not failed:
            continue
        print(f"\n{title} ({len(failed)}), top causes:")
        if title == "not the document's kind":
            causes = Counter(f"expected {r['expected_kind']}, made {r['kinds']}" for r in failed)
        elif title == "no base URL":
            causes = Counter(str(r.get("base_url")) for r in failed)
        else:
            causes = Counter(r["cause"] for r in failed)
        for cause, count in causes.most_common(8):
            print(f"  {count:4}  {cause}")
        print("  e.g. " + ", ".join(r["name"] for r in failed[:5]))
    left: Counter[str] = Counter()
    for row in imported:
        left.update(row.get("left_out") or {})
    if left:
        print("\nnot imported, over the corpus (listed in each import's report):")
        for what, count in left.most_common(12):
            print(f"  {count:5}  {what}")


if __name__ == "__main__":
    sys.exit(main())
