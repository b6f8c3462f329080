"""The runtime's shape: layered imports, no service named in generic code, complete ``__all__``."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime" / "connectorkit"
# Words that would mean a service's behaviour leaked into the generic runtime.
SERVICE_WORDS = re.compile(
    r"power ?bi|powerbi|TokenExpired|microsoft|windows\.net|\bentra\b|azure|analysis\.",
    re.IGNORECASE,
)
MODULES = sorted(
    ".".join(p.relative_to(RUNTIME).with_suffix("").parts)
    for p in RUNTIME.rglob("_*.py")
    if not p.stem.startswith("__")
)


def test_the_generic_runtime_names_no_service():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(RUNTIME.rglob("*.py"))
        # The distribution's defaults: the pack it runs, and the emulator it starts, when none
        # is named; and the importer of another platform's format, whose sign-in is Microsoft's.
        if path.relative_to(RUNTIME).as_posix()
        not in {"cli/commands/emulator.py", "pack/_files.py"}
        and not path.relative_to(RUNTIME).as_posix().startswith("authoring/powerplatform/")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SERVICE_WORDS.search(line)
    ]
    assert found == []


def test_the_import_layers_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed")
    run = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "runtime layers KEPT" in run.stdout


@pytest.mark.parametrize("name", MODULES)
def test_every_all_is_complete_and_true(name):
    module = importlib.import_module(f"connectorkit.{name}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert all(hasattr(module, n) for n in exported)
    public = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }
    assert public <= set(exported), public - set(exported)


def _map_entries(text: str) -> set[str]:
    """The paths docs/layout.md names, each as a path under ``runtime/connectorkit/``."""
    entries: set[str] = set()
    package = folder = ""
    for line in text.splitlines():
        heading = re.match(r"\*\*([a-z_]+)/\*\*", line)
        if heading:
            package, folder = heading.group(1) + "/", ""
            continue
        if line.startswith("## Outside"):
            break
        if line.startswith("- "):
            folder = ""  # a bullet that opens with a sub-package names that one's modules
        for name in re.findall(r"`([A-Za-z_/.]+)`", line):
            if name.startswith("connectorkit/"):
                entries.add(name.removeprefix("connectorkit/"))
            elif name.endswith("/") and package:
                folder = name
                entries.add(package + name)
            elif name.endswith(".py") and package:
                entries.add(package + folder + name)
    return entries


def test_the_layout_map_names_every_package_and_module():
    named = _map_entries((ROOT / "docs" / "layout.md").read_text(encoding="utf-8"))
    # A package's own modules may be listed under its sub-package's line (openapi/, commands/).
    code = {
        p.relative_to(RUNTIME).as_posix()
        for p in RUNTIME.rglob("*.py")
        if p.name != "__init__.py" or p.parent == RUNTIME
    }
    folders = {p.parent.relative_to(RUNTIME).as_posix() + "/" for p in RUNTIME.rglob("__init__.py")}
    listed_folders = {n for n in named if n.endswith("/")}
    covered = {c for c in code if c in named or any(c.startswith(f) for f in listed_folders)}
    assert code - covered == set(), "docs/layout.md misses these modules"
    assert {n for n in named if n not in code and n not in folders} == set(), (
        "docs/layout.md names modules that do not exist"
    )
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    runtime = next(c for c in contracts["contracts"] if c["containers"] == ["connectorkit"])
    top = [p.strip() for layer in runtime["layers"] for p in layer.split("|")]
    drawing = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    drawn = re.findall(r"^    ([a-z_| ]+?)\s{2,}", drawing, re.MULTILINE)
    assert [p.strip() for row in drawn for p in row.split("|")][: len(top)] == top
