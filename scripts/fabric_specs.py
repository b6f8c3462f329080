"""Copy Microsoft's Fabric REST API specs into the repository, from a git clone of them.

    python scripts/fabric_specs.py PATH_TO_CLONE [--rev REV]

`PATH_TO_CLONE` is a clone (bare or not) of github.com/microsoft/fabric-rest-api-specs. The
swagger documents and the definitions they refer to, minus their examples, become one gzipped
bundle for the Fabric emulator (`emulators/fabric_emulator/_data/`); the licence and the commit
go beside it. Running it again with a newer revision renews them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_DATA = ROOT / "emulators" / "fabric_emulator" / "_data"
BUNDLE = "fabric-rest-api-specs.json.gz"
REPOSITORY = "https://github.com/microsoft/fabric-rest-api-specs"


def _git(clone: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(clone), *args], check=True, capture_output=True, timeout=120
    ).stdout


def read_tree(clone: Path, rev: str) -> tuple[str, dict[str, bytes]]:
    """The commit `rev` names and every file of its tree, by path."""
    commit = _git(clone, "rev-parse", f"{rev}^{{commit}}").decode().strip()
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(_git(clone, "archive", commit))) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name] = handle.read()
    return commit, files


def emulator_bundle(files: dict[str, bytes]) -> bytes:
    """Every JSON document but the examples, compact, in one gzipped object keyed by path."""
    documents = {
        path: json.loads(data)
        for path, data in sorted(files.items())
        if path.endswith(".json") and "/examples/" not in path and "/" in path
    }
    text = json.dumps({"documents": documents}, separators=(",", ":"), sort_keys=True)
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    """Write the bundle, the licence and the source note."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("clone", type=Path, help="a clone of microsoft/fabric-rest-api-specs")
    parser.add_argument("--rev", default="HEAD", help="the revision to copy (default HEAD)")
    args = parser.parse_args(argv)
    commit, files = read_tree(args.clone, args.rev)
    EMULATOR_DATA.mkdir(parents=True, exist_ok=True)
    (EMULATOR_DATA / BUNDLE).write_bytes(emulator_bundle(files))
    (EMULATOR_DATA / "fabric-rest-api-specs.LICENSE.txt").write_bytes(files["LICENSE.txt"])
    note = (
        f"Microsoft Fabric REST API specs, {REPOSITORY}\n"
        f"commit {commit}\n"
        "The swagger documents and their definitions, without examples; MIT licence beside.\n"
    )
    (EMULATOR_DATA / "fabric-rest-api-specs.SOURCE.txt").write_text(note, encoding="utf-8")
    sys.stdout.write(f"copied {len(files)} files of {commit}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
